import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The web console: a small vanilla-TypeScript single-page app, built into
 * dist/console and served by the gateway at /console (gateway/routes/console.ts).
 * `node build.mjs` runs this build; `npx vite --config console/vite.config.ts`
 * serves it with hot reload, proxying the API to a gateway on :8080.
 */
const gateway = process.env['BRISK_CONSOLE_GATEWAY'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  // No public/ folder; everything the page needs is bundled (no CDN, no fonts).
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/v1': gateway, '/healthz': gateway },
  },
});
