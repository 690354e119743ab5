import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packFiles } from '../../gateway/deploy/package-files.js';
import { PackageCache } from '../../executor/package-cache.js';
import { BundleStore } from '../../storage/bundles.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { filesKey } from '../../storage/types.js';

let work: string;
let objects: FileObjectStore;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'brisk-package-cache-'));
  objects = new FileObjectStore(path.join(work, 'objects'));
  await objects.waitUntilReady();
});
afterAll(async () => {
  await objects.close();
  await rm(work, { recursive: true, force: true });
});

/** Pack a tree the way a deploy does and store it; resolves with its hash. */
async function stored(files: Record<string, string>): Promise<string> {
  const src = await mkdtemp(path.join(work, 'src-'));
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(src, rel)), { recursive: true });
    await writeFile(path.join(src, rel), body);
  }
  const packed = await packFiles(src);
  await objects.put(filesKey(packed.hash), packed.archive);
  return packed.hash;
}

let caches = 0;
function cache(maxBytes = 1024 * 1024): { c: PackageCache; root: string } {
  const root = path.join(work, `trees-${++caches}`);
  return { c: new PackageCache({ bundles: new BundleStore({ objects }), root, maxBytes, maxUnpackedBytes: 1024 * 1024, maxFiles: 100 }), root };
}

describe('PackageCache', () => {
  it('checks a package out as read-only hard links of one unpacked tree', async () => {
    const hash = await stored({ 'index.js': 'x', 'views/a.html': '<a>', 'node_modules/dep/package.json': '{}' });
    const { c } = cache();
    await c.start();
    const a = path.join(work, 'inst-a');
    const b = path.join(work, 'inst-b');
    await mkdir(a);
    await mkdir(b);
    await Promise.all([c.checkout(hash, a), c.checkout(hash, b)]);
    expect(await readFile(path.join(a, 'views/a.html'), 'utf8')).toBe('<a>');
    expect(await readFile(path.join(b, 'node_modules/dep/package.json'), 'utf8')).toBe('{}');
    expect(statSync(path.join(a, 'index.js')).ino).toBe(statSync(path.join(b, 'index.js')).ino);
    expect(statSync(path.join(a, 'index.js')).nlink).toBe(3); // the tree's and two instances'
    expect(statSync(path.join(a, 'index.js')).mode & 0o777).toBe(0o444);
    expect(existsSync(path.join(c.instancesDir))).toBe(true);
    await c.close();
    expect(existsSync(path.join(work, 'trees-1'))).toBe(false);
    // An instance keeps its files when the cache goes.
    expect(await readFile(path.join(a, 'index.js'), 'utf8')).toBe('x');
  });

  it('refuses a missing or corrupt package (platform error, not retried)', async () => {
    const { c } = cache();
    await c.start();
    const missing = createHash('sha256').update('nothing').digest('hex');
    await expect(c.prepare(missing)).rejects.toMatchObject({ code: 'CODE_NOT_FOUND', retryable: false });
    const hash = await stored({ 'a.txt': 'a' });
    await objects.put(filesKey(hash), Buffer.from('tampered'));
    await expect(c.prepare(hash)).rejects.toMatchObject({ code: 'CODE_CORRUPT' });
    await c.close();
  });

  it('evicts the least recently used trees beyond its size', async () => {
    const one = await stored({ 'a.txt': 'a'.repeat(600) });
    const two = await stored({ 'b.txt': 'b'.repeat(600) });
    const { c, root } = cache(1000);
    await c.start();
    await c.prepare(one);
    await c.prepare(two);
    expect(existsSync(path.join(root, 'trees', one))).toBe(false);
    expect(existsSync(path.join(root, 'trees', two))).toBe(true);
    await c.close();
  });
});
