import path from 'node:path';
import { build } from 'esbuild';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Bundle `runtime/server.ts` into `outfile` as `build.mjs` does, so a test
 * runs the runtime of the current source whatever is (or is not) in dist/.
 */
export async function bundleRuntimeTo(outfile: string): Promise<string> {
  await build({
    entryPoints: [path.join(REPO_ROOT, 'runtime/server.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
  });
  return outfile;
}
