import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The folder of Brisk's own package.json: where `dist/runtime/server.mjs` and
 * `infra/runtime/` live, whatever the current directory of the process (a
 * globally installed `brisk`, or one started from another folder). Found by
 * walking up from this module's file (which after the build sits in `dist/`).
 */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'brisk') {
          cached = dir;
          return dir;
        }
      } catch {
        // not ours, keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  cached = process.cwd();
  return cached;
}

/** The runtime bundle every instance runs (built by `node build.mjs`). */
export function runtimeBundlePath(): string {
  return path.join(packageRoot(), 'dist/runtime/server.mjs');
}
