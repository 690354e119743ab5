import path from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import runtimeOptions from '../../runtime/build-options.json' with { type: 'json' };

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Bundle `runtime/server.ts` into `outfile` with build.mjs's own options
 * (runtime/build-options.json), so a test runs the runtime of the current
 * source whatever is (or is not) in dist/, and writing dist/ gives the very
 * bytes `npm run build` wrote (an image built from them stays current).
 */
export async function bundleRuntimeTo(outfile: string): Promise<string> {
  await build({
    ...(runtimeOptions as BuildOptions),
    absWorkingDir: REPO_ROOT,
    entryPoints: [path.join(REPO_ROOT, 'runtime/server.ts')],
    outfile,
  });
  return outfile;
}
