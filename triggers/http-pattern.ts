/**
 * Path patterns of http triggers: `/users/:id`, `/files/*rest`, `/`.
 * `:name` matches one non-empty segment, a final `*name` matches the rest of
 * the path (possibly empty). Matching is exact otherwise (no trailing-slash
 * folding beyond ignoring one trailing `/`).
 */
export interface CompiledHttpPattern {
  pattern: string;
  /** The pattern with parameter names erased: two patterns with the same shape match the same paths. */
  shape: string;
  /** Higher wins when several patterns match one path (static segments beat parameters beat wildcards). */
  specificity: number[];
  /** The parameters when `path` matches, else undefined. */
  match(path: string): Record<string, string> | undefined;
}

type Segment = { kind: 'static'; value: string } | { kind: 'param'; name: string } | { kind: 'rest'; name: string };

export function compileHttpPattern(pattern: string): CompiledHttpPattern {
  const segments: Segment[] = splitPath(pattern).map((s) => {
    if (s.startsWith(':')) return { kind: 'param', name: s.slice(1) };
    if (s.startsWith('*')) return { kind: 'rest', name: s.slice(1) };
    return { kind: 'static', value: s };
  });
  const shape = '/' + segments.map((s) => (s.kind === 'static' ? s.value : s.kind === 'param' ? ':' : '*')).join('/');
  const statics = segments.filter((s) => s.kind === 'static').length;
  const params = segments.filter((s) => s.kind === 'param').length;
  const hasRest = segments.some((s) => s.kind === 'rest') ? 0 : 1;
  return {
    pattern,
    shape,
    specificity: [hasRest, statics, params],
    match(path: string) {
      const parts = splitPath(path);
      const params: Record<string, string> = {};
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i] as Segment;
        if (seg.kind === 'rest') {
          params[seg.name] = parts.slice(i).map(decodeSegment).join('/');
          return params;
        }
        const part = parts[i];
        if (part === undefined) return undefined;
        if (seg.kind === 'static' && seg.value !== decodeSegment(part)) return undefined;
        if (seg.kind === 'param') params[seg.name] = decodeSegment(part);
      }
      return parts.length === segments.length ? params : undefined;
    },
  };
}

/** Sorts most specific first. */
export function compareSpecificity(a: CompiledHttpPattern, b: CompiledHttpPattern): number {
  for (let i = 0; i < a.specificity.length; i++) {
    const d = (b.specificity[i] ?? 0) - (a.specificity[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray % is kept as typed
  }
}
