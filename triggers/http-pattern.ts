import { match, parse, type MatchFunction } from 'path-to-regexp';

/**
 * Path patterns of http triggers: `/users/:id`, `/files/*rest`, `/`, in
 * path-to-regexp's syntax (express's own). `:name` matches one non-empty
 * segment, a final `*name` matches the rest of the path (possibly empty).
 * Matching is case-sensitive; empty segments (`//`, a trailing `/`) are
 * ignored, as are percent-encodings of characters that need none (`m%65` is
 * `me`, RFC 3986 §6.2.2.2). Parameters arrive decoded; a malformed
 * percent-encoding is kept as typed.
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

type Params = Partial<Record<string, string | string[]>>;

/**
 * Compiled patterns, by pattern: the router matches every trigger of a
 * namespace on each request, and building a regular expression costs far more
 * than running one. Bounded (emptied when full), since patterns come and go
 * with triggers.
 */
const compiled = new Map<string, CompiledHttpPattern>();
const MAX_COMPILED = 4096;

export function compileHttpPattern(pattern: string): CompiledHttpPattern {
  let c = compiled.get(pattern);
  if (c === undefined) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    c = compile(pattern);
    compiled.set(pattern, c);
  }
  return c;
}

function compile(pattern: string): CompiledHttpPattern {
  let shape = '';
  let statics = 0;
  let params = 0;
  let rest: string | undefined;
  for (const token of parse(pattern).tokens) {
    if (token.type === 'text') {
      shape += token.value;
      statics += token.value.split('/').filter((s) => s.length > 0).length;
    } else if (token.type === 'param') {
      shape += ':';
      params++;
    } else if (token.type === 'wildcard') {
      shape += '*';
      rest = token.name;
    }
  }
  // path-to-regexp's `*rest` needs at least one segment; ours may be empty
  // (`/files/*rest` serves `/files` too), so the `/` before it is optional.
  const source = rest === undefined ? pattern : pattern.replace(/\/\*([A-Za-z_][A-Za-z0-9_]*)$/, '{/*$1}');
  // `trailing` serves the root alone: normalizePath drops every other trailing `/`.
  const matcher: MatchFunction<Params> = match<Params>(source, { sensitive: true, trailing: true, decode: decodeSegment });
  return {
    pattern,
    shape,
    specificity: [rest === undefined ? 1 : 0, statics, params],
    match(path: string) {
      const m = matcher(normalizePath(path));
      if (m === false) return undefined;
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(m.params)) {
        if (value !== undefined) out[name] = Array.isArray(value) ? value.join('/') : value;
      }
      if (rest !== undefined && out[rest] === undefined) out[rest] = '';
      return out;
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

/** `%XX` of a character that needs no encoding (letters, digits, `-._~`). */
const ENCODED_UNRESERVED = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/g;

/** Drop empty segments (`//`, a trailing `/`) and decode what never needs encoding. */
function normalizePath(path: string): string {
  let p = path.includes('//') ? path.replace(/\/{2,}/g, '/') : path;
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  if (p.length === 0) p = '/';
  return p.includes('%') ? p.replace(ENCODED_UNRESERVED, (e) => decodeURIComponent(e)) : p;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray % is kept as typed
  }
}
