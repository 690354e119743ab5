import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildError } from '../../core/errors.js';
import { extractArchive, type ArchiveLimits } from '../../core/archive.js';
import { rawZip, storedEntry, zipOf } from '../fixtures/archives.js';

// The zip checks Brisk keeps on top of yauzl (which reads the format), and the
// leniencies it keeps from its own reader: each test names the one it holds.

const limits: ArchiveLimits = { maxUnpackedBytes: 1024 * 1024, maxFiles: 100 };
let work: string;
let dest: string;

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'brisk-archive-zip-'));
  dest = path.join(work, 'dest');
  await mkdir(dest);
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<BuildError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BuildError);
  return err as BuildError;
}

/** Offsets of the central directory entries of a zip made by `rawZip`. */
function centralEntryOffsets(zip: Buffer): number[] {
  const eocd = zip.length - 22;
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(p);
    p += 46 + zip.readUInt16LE(p + 28) + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return out;
}

/**
 * One stored file as a ZIP64 archive: the 32-bit sizes and offsets are
 * 0xFFFFFFFF, the real values sit in the zip64 extra fields, and the end
 * record points at a zip64 end record through its locator.
 */
function zip64Of(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const nameBuf = Buffer.from(name);
  const crc = zlib.crc32(data);
  const extra = (fields: bigint[]): Buffer => {
    const b = Buffer.alloc(4 + 8 * fields.length);
    b.writeUInt16LE(0x0001, 0);
    b.writeUInt16LE(8 * fields.length, 2);
    for (const [i, v] of fields.entries()) b.writeBigUInt64LE(v, 4 + 8 * i);
    return b;
  };
  const localExtra = extra([BigInt(data.length), BigInt(data.length)]);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(45, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(0xffffffff, 18);
  local.writeUInt32LE(0xffffffff, 22);
  local.writeUInt16LE(nameBuf.length, 26);
  local.writeUInt16LE(localExtra.length, 28);
  const localPart = Buffer.concat([local, nameBuf, localExtra, data]);

  const centralExtra = extra([BigInt(data.length), BigInt(data.length), 0n]);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(45, 4);
  central.writeUInt16LE(45, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(0xffffffff, 20);
  central.writeUInt32LE(0xffffffff, 24);
  central.writeUInt16LE(nameBuf.length, 28);
  central.writeUInt16LE(centralExtra.length, 30);
  central.writeUInt32LE(0xffffffff, 42);
  const cd = Buffer.concat([central, nameBuf, centralExtra]);

  const cdOffset = localPart.length;
  const zip64Eocd = Buffer.alloc(56);
  zip64Eocd.writeUInt32LE(0x06064b50, 0);
  zip64Eocd.writeBigUInt64LE(44n, 4);
  zip64Eocd.writeUInt16LE(45, 12);
  zip64Eocd.writeUInt16LE(45, 14);
  zip64Eocd.writeBigUInt64LE(1n, 24);
  zip64Eocd.writeBigUInt64LE(1n, 32);
  zip64Eocd.writeBigUInt64LE(BigInt(cd.length), 40);
  zip64Eocd.writeBigUInt64LE(BigInt(cdOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(cdOffset + cd.length), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([localPart, cd, zip64Eocd, locator, eocd]);
}

describe('extractArchive: zip, on top of yauzl', () => {
  it('refuses an entry whose local header names another file than the central directory', async () => {
    // Tools that read the local headers (streaming unzippers) and tools that
    // read the central directory would see different files.
    const zip = rawZip([storedEntry('a.js', 'x')]);
    zip[30] = 'b'.charCodeAt(0); // the local header's name; the central directory still says a.js
    const err = await rejection(extractArchive(zip, 'zip', dest, limits));
    expect(err.code).toBe('ARCHIVE_INVALID');
    expect(err.message).toMatch(/local header of 'a\.js' names 'b\.js'/);
    expect(await readdir(dest)).toEqual([]);
  });

  it('refuses encrypted entries and compression methods other than stored and deflate', async () => {
    const encrypted = rawZip([storedEntry('a.js', 'x')]);
    const [central] = centralEntryOffsets(encrypted);
    encrypted.writeUInt16LE(encrypted.readUInt16LE((central as number) + 8) | 0x1, (central as number) + 8);
    expect((await rejection(extractArchive(encrypted, 'zip', dest, limits))).message).toMatch(/encrypted/);

    const bzip2 = rawZip([storedEntry('a.js', 'x')]);
    const [c2] = centralEntryOffsets(bzip2);
    bzip2.writeUInt16LE(12, (c2 as number) + 10);
    const err = await rejection(extractArchive(bzip2, 'zip', dest, limits));
    expect(err.code).toBe('ARCHIVE_INVALID');
    expect(err.message).toMatch(/compression method 12/);
  });

  it('tells a stored entry longer than declared (too large) from a shorter one (invalid)', async () => {
    const longer = storedEntry('a.js', 'hello');
    const tooLarge = await rejection(extractArchive(rawZip([{ ...longer, size: 3 }]), 'zip', dest, limits));
    expect(tooLarge.code).toBe('ARCHIVE_TOO_LARGE');
    expect(tooLarge.message).toMatch(/declared 3 bytes/);
    await rm(dest, { recursive: true });
    await mkdir(dest);
    const shorter = await rejection(extractArchive(rawZip([{ ...longer, size: 9 }]), 'zip', dest, limits));
    expect(shorter.code).toBe('ARCHIVE_INVALID');
    expect(shorter.message).toMatch(/is 5 bytes, header says 9/);
  });

  it('refuses a deflated entry cut short', async () => {
    const data = zlib.deflateRawSync(Buffer.from('x'.repeat(10_000) + 'y'.repeat(10_000)));
    const entry = { name: 'a.js', data: data.subarray(0, data.length - 4), method: 8 as const, crc: 0, size: 20_000 };
    expect((await rejection(extractArchive(rawZip([entry]), 'zip', dest, limits))).code).toBe('ARCHIVE_INVALID');
  });

  it('reads ZIP64 archives (sizes and offsets in the zip64 fields)', async () => {
    await expect(extractArchive(zip64Of('index.js', 'export const handler = () => 64;'), 'zip', dest, limits)).resolves.toMatchObject({
      files: 1,
      bytes: 32,
    });
    expect(await readFile(path.join(dest, 'index.js'), 'utf8')).toBe('export const handler = () => 64;');
  });

  it('tolerates bytes appended after the end record, as unzip(1) does', async () => {
    const zip = Buffer.concat([zipOf({ 'index.js': 'x' }), Buffer.from('trailing signature block')]);
    await expect(extractArchive(zip, 'zip', dest, limits)).resolves.toMatchObject({ files: 1 });
  });

  it('reads names as UTF-8 even without the UTF-8 flag', async () => {
    const zip = rawZip([storedEntry('café.js', 'x')]);
    const [central] = centralEntryOffsets(zip);
    zip.writeUInt16LE(0, 6); // the local header's flags
    zip.writeUInt16LE(0, (central as number) + 8);
    await extractArchive(zip, 'zip', dest, limits);
    expect(await readdir(dest)).toEqual(['café.js']);
  });

  it('turns Windows separators into directories', async () => {
    await extractArchive(rawZip([storedEntry('src\\lib\\a.js', 'x')]), 'zip', dest, limits);
    expect(await readFile(path.join(dest, 'src', 'lib', 'a.js'), 'utf8')).toBe('x');
  });
});
