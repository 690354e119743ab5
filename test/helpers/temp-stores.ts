/**
 * Real standalone stores in throw-away directories, for unit tests. The file
 * stores are fast and pass the same contracts as the Redis ones
 * (test/contracts/), so a unit test needs no in-memory imitation of them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';

const dirs: string[] = [];

// Registered in every test file that imports this module (vitest loads it once per file).
afterAll(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir, removed after the test file. */
export function tempDir(label = 'store'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `brisk-${label}-`));
  dirs.push(dir);
  return dir;
}

/** A ready {@link FileKeyValueStore} in a fresh temp directory (removed after the test file). */
export async function openTempKv(now?: () => number): Promise<FileKeyValueStore> {
  const kv = new FileKeyValueStore(tempDir('kv'), now);
  await kv.waitUntilReady();
  return kv;
}
