/**
 * Load one of Brisk's TypeScript modules in a bench script. dist/ holds only
 * the bundled CLI, so a micro-benchmark of one class (a backend, the bus)
 * bundles that module with esbuild (our code only; packages stay external)
 * into bench/.build/ and imports it. The output stays inside the repo so node
 * resolves those packages from its node_modules, and packageRoot() still
 * finds the repo (infra/, dist/runtime/).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(ROOT, 'bench/.build');

/** Import `relPath` (e.g. `executor/process-backend.ts`) of this repo, freshly bundled. */
export async function importSource(relPath) {
  mkdirSync(OUT, { recursive: true });
  const outfile = path.join(OUT, `${relPath.replaceAll('/', '__').replace(/\.ts$/, '')}.mjs`);
  await build({
    entryPoints: [path.join(ROOT, relPath)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

/** The runtime bundle `npm run build` writes; the backends' instances run it. */
export const RUNTIME_BUNDLE = path.join(ROOT, 'dist/runtime/server.mjs');

/** Nearest-rank percentile of a sample. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** `p50 … ms, p99 … ms (n=…)` of a sample in ms. */
export function summary(ms, digits = 2) {
  return `p50 ${percentile(ms, 50).toFixed(digits)} ms, p99 ${percentile(ms, 99).toFixed(digits)} ms (n=${ms.length})`;
}
