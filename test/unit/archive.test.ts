import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildError } from '../../core/errors.js';
import { extractArchive, type ArchiveLimits } from '../../core/archive.js';
import {
  compressStream,
  crc32OfZeros,
  padTo512,
  rawZip,
  storedEntry,
  tarHeader,
  tgzOf,
  tgzOfTree,
  zipOf,
} from '../fixtures/archives.js';

const MiB = 1024 * 1024;
const limits: ArchiveLimits = { maxUnpackedBytes: 50 * MiB, maxFiles: 100 };

let work: string;
let dest: string;

beforeEach(async () => {
  // `dest` sits one level inside `work`, so an escaping write would land in `work`.
  work = await mkdtemp(path.join(os.tmpdir(), 'brisk-archive-test-'));
  dest = path.join(work, 'dest');
  await mkdir(dest);
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** All files under `dir`, as sorted relative POSIX paths. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

async function expectRejected(promise: Promise<unknown>, code: string): Promise<BuildError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BuildError);
  expect((err as BuildError).code).toBe(code);
  expect((err as BuildError).status).toBe(400);
  return err as BuildError;
}

/** Nothing may appear next to `dest` (where `../evil` would land). */
async function expectNothingEscaped(): Promise<void> {
  expect((await readdir(work)).sort()).toEqual(['dest']);
}

const tree = {
  'package.json': '{"name":"fixture"}',
  'src/index.ts': 'export const handler = () => 1;\n',
  'src/deep/nested/util.ts': 'export const x = "ünïcödé";\n',
};

describe('extractArchive: well-formed archives', () => {
  it('extracts a zip with nested folders, byte for byte', async () => {
    const result = await extractArchive(zipOf(tree), 'zip', dest, limits);
    expect(await listTree(dest)).toEqual(['package.json', 'src/deep/nested/util.ts', 'src/index.ts']);
    expect(await readFile(path.join(dest, 'src/deep/nested/util.ts'), 'utf8')).toBe('export const x = "ünïcödé";\n');
    expect(result).toEqual({ files: 3, bytes: Buffer.byteLength(Object.values(tree).join('')), strippedPrefix: undefined });
  });

  it('extracts a hand-written tgz', async () => {
    const result = await extractArchive(tgzOfTree(tree), 'tgz', dest, limits);
    expect(await listTree(dest)).toEqual(['package.json', 'src/deep/nested/util.ts', 'src/index.ts']);
    expect(await readFile(path.join(dest, 'src/index.ts'), 'utf8')).toBe(tree['src/index.ts']);
    expect(result.files).toBe(3);
  });

  it('extracts a tgz made by the tar package (directory entries, ./ prefixes, long pax names)', async () => {
    const src = path.join(work, 'src-tree');
    const longName = `${'a'.repeat(120)}/${'b'.repeat(120)}.js`;
    const files = { ...tree, [longName]: 'long' };
    for (const [name, body] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(src, name)), { recursive: true });
      await writeFile(path.join(src, name), body);
    }
    const chunks: Buffer[] = [];
    for await (const c of tar.create({ gzip: true, cwd: src, portable: true }, ['.'])) chunks.push(c as Buffer);
    await extractArchive(Buffer.concat(chunks), 'tgz', dest, limits);
    expect(await listTree(dest)).toEqual(Object.keys(files).sort());
    expect(await readFile(path.join(dest, longName), 'utf8')).toBe('long');
  });

  it('hoists a single top-level folder that holds package.json (GitHub tarball layout)', async () => {
    const archive = tgzOf([
      { name: 'repo-abc123/', type: '5' },
      { name: 'repo-abc123/package.json', body: '{}' },
      { name: 'repo-abc123/repo-abc123/inner.js', body: 'same name as the top folder' },
      { name: 'repo-abc123/index.js', body: 'x' },
    ]);
    const result = await extractArchive(archive, 'tgz', dest, limits);
    expect(result.strippedPrefix).toBe('repo-abc123/');
    expect(await listTree(dest)).toEqual(['index.js', 'package.json', 'repo-abc123/inner.js']);
  });

  it('keeps a single top-level folder when it has no package.json (e.g. only src/)', async () => {
    const result = await extractArchive(zipOf({ 'src/index.ts': 'x' }), 'zip', dest, limits);
    expect(result.strippedPrefix).toBeUndefined();
    expect(await listTree(dest)).toEqual(['src/index.ts']);
  });

  it('skips macOS __MACOSX metadata in zips', async () => {
    const result = await extractArchive(zipOf({ 'index.js': 'x', '__MACOSX/._index.js': 'junk' }), 'zip', dest, limits);
    expect(await listTree(dest)).toEqual(['index.js']);
    expect(result.files).toBe(1);
  });
});

describe('extractArchive: hostile archives', () => {
  it('rejects a zip entry with ../', async () => {
    const err = await expectRejected(extractArchive(zipOf({ 'ok.js': 'x', '../evil.js': 'pwned' }), 'zip', dest, limits), 'ARCHIVE_PATH_TRAVERSAL');
    expect(err.data).toMatchObject({ entry: '../evil.js' });
    await expectNothingEscaped();
  });

  it('rejects a zip entry with ..\\ (Windows separators)', async () => {
    await expectRejected(extractArchive(rawZip([storedEntry('a\\..\\..\\evil.js', 'x')]), 'zip', dest, limits), 'ARCHIVE_PATH_TRAVERSAL');
    await expectNothingEscaped();
  });

  it('rejects a zip entry with an absolute path', async () => {
    await expectRejected(extractArchive(rawZip([storedEntry('/tmp/evil.js', 'x')]), 'zip', dest, limits), 'ARCHIVE_PATH_TRAVERSAL');
    await expectRejected(extractArchive(rawZip([storedEntry('C:/evil.js', 'x')]), 'zip', dest, limits), 'ARCHIVE_PATH_TRAVERSAL');
  });

  it('rejects a tar entry with ../ and with an absolute path', async () => {
    await expectRejected(extractArchive(tgzOf([{ name: 'a/../../evil.js', body: 'x' }]), 'tgz', dest, limits), 'ARCHIVE_PATH_TRAVERSAL');
    await expectRejected(extractArchive(tgzOf([{ name: '/etc/evil', body: 'x' }]), 'tgz', dest, limits), 'ARCHIVE_PATH_TRAVERSAL');
    await expectNothingEscaped();
  });

  it('rejects zip symlinks (Unix mode in the external attributes)', async () => {
    const archive = rawZip([storedEntry('index.js', 'x'), storedEntry('link', '/etc/passwd', 0o120777)]);
    await expectRejected(extractArchive(archive, 'zip', dest, limits), 'ARCHIVE_SYMLINK');
  });

  it('rejects tar symlinks and hardlinks', async () => {
    await expectRejected(extractArchive(tgzOf([{ name: 'link', type: '2', linkname: '/etc/passwd' }]), 'tgz', dest, limits), 'ARCHIVE_SYMLINK');
    await expectRejected(
      extractArchive(tgzOf([{ name: 'a.js', body: 'x' }, { name: 'b.js', type: '1', linkname: 'a.js' }]), 'tgz', dest, limits),
      'ARCHIVE_SYMLINK',
    );
    // A symlink followed by a file written "through" it: the link alone already rejects the archive.
    await expectRejected(
      extractArchive(tgzOf([{ name: 'dir', type: '2', linkname: '/tmp' }, { name: 'dir/evil.js', body: 'x' }]), 'tgz', dest, limits),
      'ARCHIVE_SYMLINK',
    );
    await expectNothingEscaped();
  });

  it('rejects device entries', async () => {
    await expectRejected(extractArchive(tgzOf([{ name: 'tty', type: '3' }]), 'tgz', dest, limits), 'ARCHIVE_INVALID');
  });

  it('rejects a zip bomb by its declared size before inflating (200 MiB of zeros, 50 MiB limit)', async () => {
    const size = 200 * MiB;
    const data = await compressStream([{ zeros: size }], 'raw');
    expect(data.length).toBeLessThan(MiB); // the fixture itself stays small
    const archive = rawZip([{ name: 'zeros.bin', data, method: 8, crc: crc32OfZeros(size), size }]);
    const started = performance.now();
    await expectRejected(extractArchive(archive, 'zip', dest, limits), 'ARCHIVE_TOO_LARGE');
    expect(performance.now() - started).toBeLessThan(200);
    expect(await listTree(dest)).toEqual([]);
  });

  it('stops a zip bomb whose header lies about its size, without inflating it all', async () => {
    const size = 200 * MiB;
    const data = await compressStream([{ zeros: size }], 'raw');
    const archive = rawZip([{ name: 'zeros.bin', data, method: 8, crc: 0, size: 1024 }]);
    const heapBefore = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    const err = await expectRejected(extractArchive(archive, 'zip', dest, limits), 'ARCHIVE_TOO_LARGE');
    expect(err.message).toMatch(/declared 1024 bytes/);
    // Inflating 200 MiB would take far longer and allocate far more than one slice.
    expect(performance.now() - started).toBeLessThan(500);
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(40 * MiB);
    expect(await listTree(dest)).toEqual([]);
  });

  it('rejects a zip whose files sum past the limit even if each is small', async () => {
    const small: ArchiveLimits = { maxUnpackedBytes: 1000, maxFiles: 100 };
    const files = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`f${i}.txt`, 'x'.repeat(300)]));
    await expectRejected(extractArchive(zipOf(files), 'zip', dest, small), 'ARCHIVE_TOO_LARGE');
  });

  it('rejects a tgz bomb by the entry header size (200 MiB of zeros, 50 MiB limit)', async () => {
    const size = 200 * MiB;
    const archive = await compressStream([tarHeader('zeros.bin', '0', size), { zeros: size + padTo512(size) + 1024 }], 'gzip');
    expect(archive.length).toBeLessThan(MiB);
    const started = performance.now();
    await expectRejected(extractArchive(archive, 'tgz', dest, limits), 'ARCHIVE_TOO_LARGE');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('stops reading a tgz at the end-of-archive marker (200 MiB of zeros after it are never inflated)', async () => {
    const archive = await compressStream(
      [tarHeader('a.js', '0', 1), Buffer.from('x'), Buffer.alloc(511), { zeros: 200 * MiB }],
      'gzip',
    );
    const started = performance.now();
    await expect(extractArchive(archive, 'tgz', dest, { maxUnpackedBytes: 10 * MiB, maxFiles: 10 })).resolves.toMatchObject({ files: 1, bytes: 1 });
    expect(performance.now() - started).toBeLessThan(500);
    expect(await listTree(dest)).toEqual(['a.js']);
  });

  it('caps the raw tar stream, so endless metadata records cannot run forever', async () => {
    // Pax records carry no file, so they count toward neither files nor bytes; the raw cap stops them.
    const record = `4000 comment=${'x'.repeat(3986)}\n`;
    expect(record.length).toBe(4000);
    const pax = Array.from({ length: 3000 }, () => ({ name: 'PaxHeader', type: 'x', body: record }));
    const archive = tgzOf([...pax, { name: 'a.js', body: 'x' }]);
    await expectRejected(extractArchive(archive, 'tgz', dest, { maxUnpackedBytes: MiB, maxFiles: 10 }), 'ARCHIVE_TOO_LARGE');
  });

  it('rejects too many files (zip and tgz)', async () => {
    const files = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`f${i}.js`, 'x']));
    const few: ArchiveLimits = { maxUnpackedBytes: MiB, maxFiles: 10 };
    await expectRejected(extractArchive(zipOf(files), 'zip', dest, few), 'ARCHIVE_TOO_MANY_FILES');
    await expectRejected(extractArchive(tgzOfTree(files), 'tgz', dest, few), 'ARCHIVE_TOO_MANY_FILES');
    // Exactly at the limit is fine.
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}.js`, 'x']));
    await expect(extractArchive(zipOf(ten), 'zip', dest, few)).resolves.toMatchObject({ files: 10 });
  });

  it('rejects garbage bytes', async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251));
    await expectRejected(extractArchive(garbage, 'zip', dest, limits), 'ARCHIVE_INVALID');
    await expectRejected(extractArchive(garbage, 'tgz', dest, limits), 'ARCHIVE_INVALID');
    await expectRejected(extractArchive(Buffer.alloc(0), 'zip', dest, limits), 'ARCHIVE_INVALID');
    // Valid gzip, but not a tar inside.
    await expectRejected(extractArchive(zlib.gzipSync(garbage), 'tgz', dest, limits), 'ARCHIVE_INVALID');
  });

  it('rejects truncated and corrupted archives', async () => {
    const zip = zipOf(tree);
    await expectRejected(extractArchive(zip.subarray(0, zip.length - 30), 'zip', dest, limits), 'ARCHIVE_INVALID');
    const tgz = tgzOfTree(tree);
    await expectRejected(extractArchive(tgz.subarray(0, tgz.length - 20), 'tgz', dest, limits), 'ARCHIVE_INVALID');
    const badCrc = storedEntry('index.js', 'hello');
    await expectRejected(extractArchive(rawZip([{ ...badCrc, crc: badCrc.crc ^ 1 }]), 'zip', dest, limits), 'ARCHIVE_INVALID');
    // A tar header with a broken checksum.
    const tarBytes = zlib.gunzipSync(tgzOfTree({ 'a.js': 'x' }));
    tarBytes[0] = 'b'.charCodeAt(0);
    await expectRejected(extractArchive(zlib.gzipSync(tarBytes), 'tgz', dest, limits), 'ARCHIVE_INVALID');
  });

  it('rejects duplicate and conflicting entries instead of overwriting', async () => {
    await expectRejected(extractArchive(rawZip([storedEntry('a.js', '1'), storedEntry('a.js', '2')]), 'zip', dest, limits), 'ARCHIVE_INVALID');
    await rm(dest, { recursive: true });
    await mkdir(dest);
    await expectRejected(extractArchive(tgzOf([{ name: 'a', body: 'file' }, { name: 'a/b.js', body: 'x' }]), 'tgz', dest, limits), 'ARCHIVE_INVALID');
  });

  it('refuses a gzip nested inside the gzip', async () => {
    await expectRejected(extractArchive(zlib.gzipSync(tgzOfTree(tree)), 'tgz', dest, limits), 'ARCHIVE_INVALID');
  });
});
