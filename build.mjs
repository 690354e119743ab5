// Builds the platform into dist/: the CLI (every role), the self-contained
// runtime server that runs inside each instance (process or container), and
// the web console (Vite → dist/console, served by the gateway at /console).
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

// The runtime's options live in one file that the tests' runtime bundler reads
// too (test/helpers/runtime-bundle.ts): the same source then gives the same
// bytes, so an image built from dist/ never looks stale after a test run.
const runtimeOptions = JSON.parse(readFileSync(new URL('./runtime/build-options.json', import.meta.url), 'utf8'));

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };

await Promise.all([
  build({
    ...common,
    entryPoints: { cli: 'cli/main.ts' },
    outdir: 'dist',
    format: 'esm',
    // The servers' code is a separate chunk, loaded only for server roles, so
    // client commands (`brisk invoke …`) start fast.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    // Dependencies stay in node_modules; only our code is bundled.
    packages: 'external',
  }),
  build({
    // Nothing external: the runtime must run with nothing but the node binary (Docker image).
    ...runtimeOptions,
    entryPoints: { 'runtime/server': 'runtime/server.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
  }),
]);

// The console is built with Vite, a dev dependency: an install without dev
// dependencies still builds the server, and the gateway answers /console with
// 503 CONSOLE_NOT_BUILT. CI always has it, and must not skip it.
let vite;
try {
  vite = await import('vite');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || process.env.CI === 'true') throw err;
  console.warn('build: vite is not installed (dev dependency); skipping the web console');
}
if (vite) await vite.build({ configFile: new URL('./console/vite.config.ts', import.meta.url).pathname });
