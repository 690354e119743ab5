import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The folder layout as the imports draw it (see docs/architecture.md):
 *
 * - the roles — `gateway/`, `scheduler/`, `executor/`, and the `triggers/`
 *   feature — meet over the bus and the shared folders only: no role imports
 *   another role's files, without exception. The trigger feature's routes,
 *   served inside the gateway, answer through the same HTTP toolkit as the
 *   gateway's own (`web/`, a shared folder).
 * - the shared folders (the HTTP toolkit, the invocation lifecycle, tenancy,
 *   metering, the bus, storage, the runtime protocol, core) import no role at
 *   all.
 * - `cli/` is the composition root: it may import everything.
 * - no two folders import each other, directly or around a circle.
 *
 * Read with a regex over the source (static `import … from` / `export … from`
 * statements), which is all the code base uses between folders.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const ROLES = new Set(['gateway', 'scheduler', 'executor', 'triggers']);
const SHARED = new Set(['web', 'invocations', 'placement', 'releases', 'tenancy', 'metering', 'bus', 'storage', 'runtime', 'core']);
const COMPOSITION_ROOT = 'cli';

interface Edge {
  from: string;
  to: string;
}

function sourceFiles(): string[] {
  const out: string[] = [];
  for (const folder of [...ROLES, ...SHARED, COMPOSITION_ROOT]) {
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) out.push(path.relative(ROOT, p));
      }
    };
    walk(path.join(ROOT, folder));
  }
  return out;
}

/** File → file imports between different top-level folders. */
function crossFolderImports(): Edge[] {
  const edges: Edge[] = [];
  const statement = /^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|^import\s+'(\.[^']+)'/gm;
  for (const from of sourceFiles()) {
    const text = fs.readFileSync(path.join(ROOT, from), 'utf8');
    for (const m of text.matchAll(statement)) {
      const spec = m[1] ?? m[2] ?? '';
      const to = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, from)), spec)).replace(/\.js$/, '.ts');
      if (folderOf(to) !== folderOf(from)) edges.push({ from, to });
    }
  }
  return edges;
}

function folderOf(file: string): string {
  return file.split(path.sep)[0] ?? '';
}

/** A circle of folders, if the folder graph has one. */
function folderCycle(edges: Edge[]): string[] | undefined {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = folderOf(e.from);
    if (!next.has(a)) next.set(a, new Set());
    next.get(a)?.add(folderOf(e.to));
  }
  const state = new Map<string, 'open' | 'done'>();
  const trail: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...trail.slice(trail.indexOf(f)), f];
    state.set(f, 'open');
    trail.push(f);
    for (const g of next.get(f) ?? []) {
      const found = visit(g);
      if (found) return found;
    }
    trail.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of next.keys()) {
    const found = visit(f);
    if (found) return found;
  }
  return undefined;
}

describe('folder structure', () => {
  const edges = crossFolderImports();

  it('reads the imports (the graph is not empty)', () => {
    expect(edges.some((e) => e.from === 'cli/compose.ts' && folderOf(e.to) === 'gateway')).toBe(true);
    expect(edges.some((e) => folderOf(e.from) === 'executor' && folderOf(e.to) === 'invocations')).toBe(true);
    expect(edges.some((e) => folderOf(e.from) === 'triggers' && folderOf(e.to) === 'web')).toBe(true);
  });

  it('has no folder cycle', () => {
    expect(folderCycle(edges)).toBeUndefined();
  });

  it('no role imports another role', () => {
    const offending = edges
      .filter((e) => ROLES.has(folderOf(e.from)) && ROLES.has(folderOf(e.to)))
      .map((e) => `${e.from} → ${e.to}`);
    expect(offending).toEqual([]);
  });

  it('shared folders import no role and not the composition root', () => {
    const offending = edges
      .filter((e) => SHARED.has(folderOf(e.from)) && !SHARED.has(folderOf(e.to)))
      .map((e) => `${e.from} → ${e.to}`);
    expect(offending).toEqual([]);
  });
});
