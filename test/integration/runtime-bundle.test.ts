import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { RUNTIME_BUNDLE } from '../helpers/docker.js';
import { bundleRuntimeTo } from '../helpers/runtime-bundle.js';

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

// `npm test` builds first and the Docker tests then rebundle the runtime into
// dist/: different bytes there made every runtime image built before the run
// (the executors compare its hash) look stale and get rebuilt.
it("the tests' runtime bundle is byte for byte the one `npm run build` writes", async () => {
  expect(existsSync(RUNTIME_BUNDLE), 'run `npm run build` first').toBe(true);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'brisk-runtime-bundle-'));
  try {
    const ours = await bundleRuntimeTo(path.join(dir, 'runtime', 'server.mjs'));
    expect(sha256(ours)).toBe(sha256(RUNTIME_BUNDLE));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
