// Builds the platform into dist/: the CLI (every role) and the self-contained
// runtime server that runs inside each instance (process or container).
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };

await Promise.all([
  build({
    ...common,
    entryPoints: { cli: 'cli/main.ts' },
    outdir: 'dist',
    format: 'esm',
    // Dependencies stay in node_modules; only our code is bundled.
    packages: 'external',
  }),
  build({
    ...common,
    entryPoints: { 'runtime/server': 'runtime/server.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    // The runtime must run with nothing but the node binary (Docker image).
    external: [],
  }),
]);
