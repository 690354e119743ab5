/**
 * Safe extraction of deploy archives (`.zip` and `.tar.gz`).
 *
 * A deploy archive is untrusted input, so extraction is defensive by design:
 *
 * - **Paths.** Entry names are normalised (`\` → `/`, `.` segments and empty
 *   segments dropped). Any `..` segment, an absolute path (`/x`, `C:x`, `//x`)
 *   or a NUL byte rejects the whole archive with `ARCHIVE_PATH_TRAVERSAL`. Every
 *   target is also re-checked to sit inside `destDir` after `path.resolve`.
 * - **Links.** Every symlink and hardlink is rejected with `ARCHIVE_SYMLINK`.
 *   A function package never needs one (the bundler inlines everything), and
 *   refusing all of them removes every "write through a link" attack without
 *   having to reason about link targets. Device files, FIFOs and other special
 *   entries are rejected with `ARCHIVE_INVALID`.
 * - **Size.** `maxUnpackedBytes` caps the sum of the files' contents. For zip the
 *   declared sizes in the central directory are checked before anything is
 *   inflated, then each entry is inflated in small input slices while counting
 *   the bytes actually produced, and stopped as soon as it exceeds its declared
 *   size (a lying header) — so a decompression bomb costs at most one slice of
 *   output (≈ {@link ZIP_INFLATE_SLICE} × 1032, the worst DEFLATE ratio), never
 *   gigabytes. For tar the gunzip output is counted as it streams (including
 *   headers and anything after the end-of-archive marker), and each entry's
 *   header size is checked before its body is read.
 * - **Count.** `maxFiles` caps regular files; directory entries are capped at
 *   the same number again, so an archive of a million empty directories is
 *   refused too (`ARCHIVE_TOO_MANY_FILES`).
 * - **Corruption.** Bad signatures, truncated data, CRC mismatches, encrypted
 *   or non-deflate zip entries, bad gzip, bad tar checksums, duplicate entries
 *   → `ARCHIVE_INVALID`.
 *
 * Files are created with `wx` (never overwrite, never follow) and mode 0644;
 * modes and timestamps from the archive are ignored.
 *
 * **Top-level folder.** If the extracted root has no `package.json` and holds
 * exactly one directory which itself contains a `package.json` (a GitHub
 * tarball `repo-<sha>/…`, or "compress this folder" in a file manager), that
 * folder's contents are moved up one level and its name is reported in
 * {@link ExtractResult.strippedPrefix}. Any other layout is left untouched, so
 * an archive holding only `src/…` keeps its `src/` prefix.
 *
 * `destDir` belongs to the caller: on failure it may hold a partial tree, and
 * the caller removes it (the {@link Bundler} does so in a `finally`).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { Inflate } from 'fflate';
import { Parser, type ReadEntry } from 'tar';
import { BriskError, BuildError } from './errors.js';

export type ArchiveKind = 'zip' | 'tgz';

/** Error codes raised by {@link extractArchive} (all as `BuildError`, HTTP 400). */
export type ArchiveErrorCode =
  | 'ARCHIVE_PATH_TRAVERSAL'
  | 'ARCHIVE_SYMLINK'
  | 'ARCHIVE_TOO_LARGE'
  | 'ARCHIVE_TOO_MANY_FILES'
  | 'ARCHIVE_INVALID';

export interface ArchiveLimits {
  /** Largest total size of the extracted files, in bytes. */
  maxUnpackedBytes: number;
  /** Largest number of regular files (directory entries are capped at the same number again). */
  maxFiles: number;
  /**
   * Hoist a single top-level folder (default true). Off for an archive the
   * platform wrote itself from an already-hoisted tree (a package's files on
   * an executor), which must come back exactly as it was.
   */
  hoistTopFolder?: boolean;
}

export interface ExtractResult {
  /** Regular files written. */
  files: number;
  /** Total bytes written. */
  bytes: number;
  /** The single top-level folder that was hoisted away (`'repo-abc/'`), if any. */
  strippedPrefix: string | undefined;
}

/**
 * Input slice fed to the inflater at a time. DEFLATE expands at most ~1032:1,
 * so one slice yields at most ~8 MiB of output before we get to check it.
 */
const ZIP_INFLATE_SLICE = 8 * 1024;

/**
 * Bytes of gunzipped tar allowed beyond `maxUnpackedBytes`, per entry: header
 * (512) + padding (≤ 511) + room for a pax or GNU long-name record.
 */
const TAR_OVERHEAD_PER_ENTRY = 4 * 1024;
/** Fixed allowance for the end-of-archive blocks and the tar record padding (up to 10 KiB with GNU tar's default blocking). */
const TAR_OVERHEAD_FIXED = 64 * 1024;

/** macOS Finder adds resource forks under this folder; they are never code. */
const MACOS_METADATA_DIR = '__MACOSX';

/**
 * Extract `buf` (a zip or gzipped tar) into the empty directory `destDir`.
 *
 * @throws BuildError with one of the {@link ArchiveErrorCode} codes.
 */
export async function extractArchive(
  buf: Buffer,
  kind: ArchiveKind,
  destDir: string,
  limits: ArchiveLimits,
): Promise<ExtractResult> {
  const target = new ExtractionTarget(path.resolve(destDir), limits);
  if (kind === 'zip') await extractZip(buf, target);
  else if (kind === 'tgz') await extractTgz(buf, target);
  else throw archiveError('ARCHIVE_INVALID', `unsupported archive kind '${String(kind)}'`);
  const strippedPrefix = limits.hoistTopFolder === false ? undefined : await hoistSingleTopFolder(target.root);
  return { files: target.files, bytes: target.bytes, strippedPrefix };
}

function archiveError(code: ArchiveErrorCode, message: string, data?: Record<string, unknown>): BuildError {
  return new BuildError(message, data, code);
}

/**
 * Turn an archive entry name into a safe relative POSIX path, or `undefined`
 * for a name that denotes the root itself (`./`).
 */
function normalizeEntryName(raw: string): string | undefined {
  if (raw.includes('\0')) throw archiveError('ARCHIVE_PATH_TRAVERSAL', 'entry name contains a NUL byte', { entry: raw });
  const name = raw.replace(/\\/g, '/');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
    throw archiveError('ARCHIVE_PATH_TRAVERSAL', `absolute entry path '${raw}'`, { entry: raw });
  }
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw archiveError('ARCHIVE_PATH_TRAVERSAL', `entry path '${raw}' escapes the archive root`, { entry: raw });
  }
  return segments.length === 0 ? undefined : segments.join('/');
}

/**
 * The destination tree plus the running counts. Every write goes through here,
 * so the limits and the "stay inside root" check cannot be bypassed by either
 * format reader.
 */
class ExtractionTarget {
  files = 0;
  directories = 0;
  bytes = 0;
  private declaredBytes = 0;

  constructor(
    readonly root: string,
    readonly limits: ArchiveLimits,
  ) {}

  /** Count a file entry and its declared size; throws before any byte is inflated. */
  admitFile(entry: string, declaredSize: number): void {
    this.files += 1;
    if (this.files > this.limits.maxFiles) {
      throw archiveError('ARCHIVE_TOO_MANY_FILES', `archive holds more than ${this.limits.maxFiles} files`, { maxFiles: this.limits.maxFiles });
    }
    this.declaredBytes += declaredSize;
    if (this.declaredBytes > this.limits.maxUnpackedBytes) {
      throw this.tooLarge(entry);
    }
  }

  admitDirectory(): void {
    this.directories += 1;
    if (this.directories > this.limits.maxFiles) {
      throw archiveError('ARCHIVE_TOO_MANY_FILES', `archive holds more than ${this.limits.maxFiles} directories`, { maxFiles: this.limits.maxFiles });
    }
  }

  /** Count bytes actually produced by a decompressor. */
  consume(entry: string, n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxUnpackedBytes) throw this.tooLarge(entry);
  }

  tooLarge(entry: string): BuildError {
    return archiveError('ARCHIVE_TOO_LARGE', `archive unpacks to more than ${this.limits.maxUnpackedBytes} bytes`, {
      maxUnpackedBytes: this.limits.maxUnpackedBytes,
      entry,
    });
  }

  async writeFile(rel: string, chunks: readonly Uint8Array[]): Promise<void> {
    const abs = this.resolve(rel);
    try {
      await mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
      // `wx`: a duplicate entry or a name clash fails instead of overwriting.
      await writeFile(abs, chunks, { flag: 'wx', mode: 0o644 });
    } catch (err) {
      throw archiveError('ARCHIVE_INVALID', `cannot write entry '${rel}' (duplicate or conflicting entry)`, { entry: rel, reason: (err as NodeJS.ErrnoException).code });
    }
  }

  async makeDirectory(rel: string): Promise<void> {
    const abs = this.resolve(rel);
    try {
      await mkdir(abs, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw archiveError('ARCHIVE_INVALID', `cannot create directory '${rel}' (conflicting entry)`, { entry: rel, reason: (err as NodeJS.ErrnoException).code });
    }
  }

  /** Belt and braces: {@link normalizeEntryName} already forbids `..`. */
  private resolve(rel: string): string {
    const abs = path.resolve(this.root, rel);
    if (!abs.startsWith(this.root + path.sep)) {
      throw archiveError('ARCHIVE_PATH_TRAVERSAL', `entry path '${rel}' escapes the archive root`, { entry: rel });
    }
    return abs;
  }
}

// ---------------------------------------------------------------------------
// zip

interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Unix file type bits (`S_IFMT`) when the entry was made on a Unix-like OS, else 0. */
  unixType: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** "Version made by" host systems whose external attributes carry a Unix mode: Unix, OS X. */
const UNIX_HOSTS = new Set([3, 19]);

const ZIP_EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP_CENTRAL_SIG = 0x02014b50;
const ZIP_LOCAL_SIG = 0x04034b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

const invalidZip = (message: string): BuildError => archiveError('ARCHIVE_INVALID', `invalid zip: ${message}`);

async function extractZip(buf: Buffer, target: ExtractionTarget): Promise<void> {
  const entries = readZipDirectory(buf, target);
  const files: Array<{ rel: string; entry: ZipEntry }> = [];
  const directories: string[] = [];

  // Pass 1: names, types, counts and declared sizes — nothing is inflated yet.
  for (const entry of entries) {
    const rel = normalizeEntryName(entry.name);
    if (rel === undefined) continue;
    if (rel === MACOS_METADATA_DIR || rel.startsWith(`${MACOS_METADATA_DIR}/`)) continue;
    if (entry.unixType === S_IFLNK) {
      throw archiveError('ARCHIVE_SYMLINK', `archive entry '${entry.name}' is a symbolic link (links are not allowed)`, { entry: entry.name });
    }
    const isDir = entry.name.endsWith('/') || entry.unixType === S_IFDIR;
    if (entry.unixType !== 0 && entry.unixType !== S_IFREG && entry.unixType !== S_IFDIR) {
      throw archiveError('ARCHIVE_INVALID', `archive entry '${entry.name}' is not a regular file or directory`, { entry: entry.name });
    }
    if (isDir) {
      target.admitDirectory();
      directories.push(rel);
      continue;
    }
    if ((entry.flags & 0x1) !== 0) throw invalidZip(`entry '${entry.name}' is encrypted`);
    if (entry.method !== 0 && entry.method !== 8) {
      throw invalidZip(`entry '${entry.name}' uses unsupported compression method ${entry.method}`);
    }
    target.admitFile(rel, entry.size);
    files.push({ rel, entry });
  }

  // Pass 2: inflate one entry at a time, counting real output, and write it.
  for (const dir of directories) await target.makeDirectory(dir);
  for (const { rel, entry } of files) {
    const chunks = inflateZipEntry(buf, entry, rel, target);
    await target.writeFile(rel, chunks);
  }
}

/** Parse the end-of-central-directory record and the central directory. */
function readZipDirectory(buf: Buffer, target: ExtractionTarget): ZipEntry[] {
  const eocd = findEocd(buf);
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const zip64 = readZip64Eocd(buf, eocd);
    count = zip64.count;
    cdSize = zip64.cdSize;
    cdOffset = zip64.cdOffset;
  }
  // A cheap early refusal before walking the directory: files + directories are each capped at maxFiles.
  if (count > 2 * target.limits.maxFiles) {
    throw archiveError('ARCHIVE_TOO_MANY_FILES', `archive declares ${count} entries`, { maxFiles: target.limits.maxFiles });
  }
  if (cdOffset + cdSize > buf.length) throw invalidZip('central directory lies outside the file');

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== ZIP_CENTRAL_SIG) throw invalidZip('bad central directory entry');
    const madeBy = buf.readUInt16LE(p + 4);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const externalAttrs = buf.readUInt32LE(p + 38);
    let localHeaderOffset = buf.readUInt32LE(p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > buf.length) throw invalidZip('truncated central directory');
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    if (size === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX) {
      const extra = readZip64Extra(buf.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), {
        size: size === U32_MAX,
        compressedSize: compressedSize === U32_MAX,
        offset: localHeaderOffset === U32_MAX,
      });
      size = extra.size ?? size;
      compressedSize = extra.compressedSize ?? compressedSize;
      localHeaderOffset = extra.offset ?? localHeaderOffset;
    }
    const unixType = UNIX_HOSTS.has(madeBy >>> 8) ? (externalAttrs >>> 16) & S_IFMT : 0;
    entries.push({ name, flags, method, crc, compressedSize, size, localHeaderOffset, unixType });
    p = end;
  }
  return entries;
}

function findEocd(buf: Buffer): number {
  // The EOCD is 22 bytes plus a comment of at most 65535 bytes, at the very end.
  const min = Math.max(0, buf.length - 22 - U16_MAX);
  for (let i = buf.length - 22; i >= min; i--) {
    // `<=`: tolerate bytes appended after the comment, as unzip(1) does.
    if (buf.readUInt32LE(i) === ZIP_EOCD_SIG && i + 22 + buf.readUInt16LE(i + 20) <= buf.length) return i;
  }
  throw invalidZip('end of central directory not found (not a zip file, or truncated)');
}

function readZip64Eocd(buf: Buffer, eocd: number): { count: number; cdSize: number; cdOffset: number } {
  const locator = eocd - 20;
  if (locator < 0 || buf.readUInt32LE(locator) !== ZIP64_LOCATOR_SIG) throw invalidZip('zip64 locator missing');
  const recordOffset = safeU64(buf, locator + 8);
  if (recordOffset + 56 > buf.length || buf.readUInt32LE(recordOffset) !== ZIP64_EOCD_SIG) throw invalidZip('bad zip64 record');
  return {
    count: safeU64(buf, recordOffset + 32),
    cdSize: safeU64(buf, recordOffset + 40),
    cdOffset: safeU64(buf, recordOffset + 48),
  };
}

function readZip64Extra(
  extra: Buffer,
  want: { size: boolean; compressedSize: boolean; offset: boolean },
): { size?: number; compressedSize?: number; offset?: number } {
  let p = 0;
  while (p + 4 <= extra.length) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      // Fields appear in this fixed order, and only those whose 32-bit value was 0xFFFFFFFF.
      let q = p + 4;
      const out: { size?: number; compressedSize?: number; offset?: number } = {};
      const take = (): number => {
        if (q + 8 > p + 4 + len) throw invalidZip('truncated zip64 extra field');
        const v = safeU64(extra, q);
        q += 8;
        return v;
      };
      if (want.size) out.size = take();
      if (want.compressedSize) out.compressedSize = take();
      if (want.offset) out.offset = take();
      return out;
    }
    p += 4 + len;
  }
  throw invalidZip('zip64 extra field missing');
}

function safeU64(buf: Buffer, offset: number): number {
  if (offset + 8 > buf.length) throw invalidZip('truncated zip64 field');
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidZip('zip64 value out of range');
  return Number(v);
}

/** Locate an entry's data via its local header. */
function zipEntryData(buf: Buffer, entry: ZipEntry): Buffer {
  const p = entry.localHeaderOffset;
  if (p + 30 > buf.length || buf.readUInt32LE(p) !== ZIP_LOCAL_SIG) throw invalidZip(`bad local header for '${entry.name}'`);
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const end = start + entry.compressedSize;
  if (end > buf.length) throw invalidZip(`data of '${entry.name}' runs past the end of the file`);
  return buf.subarray(start, end);
}

/**
 * Inflate one entry in {@link ZIP_INFLATE_SLICE} input slices, counting output
 * as it appears and stopping the moment it exceeds the declared size.
 */
function inflateZipEntry(buf: Buffer, entry: ZipEntry, rel: string, target: ExtractionTarget): Uint8Array[] {
  const data = zipEntryData(buf, entry);
  const chunks: Uint8Array[] = [];
  let produced = 0;
  const accept = (chunk: Uint8Array): void => {
    produced += chunk.length;
    if (produced > entry.size) {
      // The header lied about the size: the signature of a decompression bomb.
      throw archiveError('ARCHIVE_TOO_LARGE', `entry '${rel}' inflates beyond its declared ${entry.size} bytes`, { entry: rel });
    }
    target.consume(rel, chunk.length);
    if (chunk.length > 0) chunks.push(chunk);
  };

  if (entry.method === 0) {
    accept(data);
  } else {
    let finished = false;
    const inflater = new Inflate((chunk, final) => {
      accept(chunk);
      if (final) finished = true;
    });
    try {
      if (data.length === 0) inflater.push(new Uint8Array(0), true);
      for (let off = 0; off < data.length; off += ZIP_INFLATE_SLICE) {
        const end = Math.min(off + ZIP_INFLATE_SLICE, data.length);
        inflater.push(data.subarray(off, end), end === data.length);
      }
    } catch (err) {
      if (err instanceof BriskError) throw err;
      throw invalidZip(`entry '${entry.name}' is corrupt (${(err as Error).message})`);
    }
    if (!finished) throw invalidZip(`entry '${entry.name}' is truncated`);
  }
  if (produced !== entry.size) throw invalidZip(`entry '${entry.name}' is ${produced} bytes, header says ${entry.size}`);
  let crc = 0;
  for (const chunk of chunks) crc = zlib.crc32(chunk, crc);
  if (crc >>> 0 !== entry.crc >>> 0) throw invalidZip(`CRC mismatch in '${entry.name}'`);
  return chunks;
}

// ---------------------------------------------------------------------------
// tar.gz

type TarItem = { kind: 'file'; rel: string; chunks: Buffer[] } | { kind: 'dir'; rel: string };

async function extractTgz(buf: Buffer, target: ExtractionTarget): Promise<void> {
  if (buf.length < 2 || buf[0] !== 0x1f || buf[1] !== 0x8b) {
    throw archiveError('ARCHIVE_INVALID', 'invalid tar.gz: not a gzip stream');
  }
  const items = await parseTgz(buf, target);
  for (const item of items) {
    if (item.kind === 'dir') await target.makeDirectory(item.rel);
    else await target.writeFile(item.rel, item.chunks);
  }
}

/**
 * Gunzip with node's zlib (so every decompressed byte is counted and the
 * stream can be cut off) and feed the raw tar to `tar`'s strict parser with
 * its own decompression sniffing turned off. File bodies are kept in memory —
 * bounded by `maxUnpackedBytes` — and written once the archive has parsed.
 */
function parseTgz(buf: Buffer, target: ExtractionTarget): Promise<TarItem[]> {
  const { maxUnpackedBytes, maxFiles } = target.limits;
  const rawLimit = maxUnpackedBytes + 2 * maxFiles * TAR_OVERHEAD_PER_ENTRY + TAR_OVERHEAD_FIXED;
  const items: TarItem[] = [];

  return new Promise<TarItem[]>((resolve, reject) => {
    let settled = false;
    let rawBytes = 0;
    let sawEof = false;
    const gunzip = zlib.createGunzip();
    const parser = new Parser({ strict: true, brotli: false, zstd: false, onReadEntry: onEntry });

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      reject(err instanceof BriskError ? err : archiveError('ARCHIVE_INVALID', `invalid tar.gz: ${(err as Error).message}`));
    };

    function onEntry(entry: ReadEntry): void {
      try {
        const item = admitTarEntry(entry, target);
        if (item?.kind === 'file') {
          entry.on('data', (chunk: Buffer) => {
            if (settled) return;
            try {
              target.consume(item.rel, chunk.length);
              item.chunks.push(chunk);
            } catch (err) {
              fail(err);
            }
          });
        } else {
          entry.resume();
        }
        if (item) items.push(item);
      } catch (err) {
        entry.resume();
        fail(err);
      }
    }

    parser.on('error', fail);
    // Whatever follows the end-of-archive marker is padding at best and a zero
    // bomb at worst; tar's parser is slow on null blocks, so stop reading here.
    parser.on('eof', () => {
      if (settled) return;
      sawEof = true;
      gunzip.destroy();
      parser.end();
    });
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(items);
    });
    gunzip.on('data', (chunk: Buffer) => {
      if (settled || sawEof) return;
      if (rawBytes === 0 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
        // tar's parser would transparently gunzip a second layer; refuse nesting.
        fail(archiveError('ARCHIVE_INVALID', 'invalid tar.gz: nested gzip stream'));
        return;
      }
      rawBytes += chunk.length;
      if (rawBytes > rawLimit) {
        fail(target.tooLarge('(tar stream)'));
        return;
      }
      parser.write(chunk);
    });
    gunzip.on('end', () => {
      if (!settled && !sawEof) parser.end();
    });
    gunzip.on('error', (err) => fail(archiveError('ARCHIVE_INVALID', `invalid tar.gz: ${err.message}`)));
    gunzip.end(buf);
  });
}

/** Validate one tar header; returns what to extract, or undefined for the root itself. */
function admitTarEntry(entry: ReadEntry, target: ExtractionTarget): TarItem | undefined {
  switch (entry.type) {
    case 'SymbolicLink':
    case 'Link':
      throw archiveError('ARCHIVE_SYMLINK', `archive entry '${entry.path}' is a ${entry.type === 'Link' ? 'hard' : 'symbolic'} link (links are not allowed)`, { entry: entry.path });
    case 'File':
    case 'OldFile':
    case 'ContiguousFile': {
      const rel = normalizeEntryName(entry.path);
      if (rel === undefined) throw archiveError('ARCHIVE_INVALID', `file entry '${entry.path}' has no name`);
      target.admitFile(rel, entry.size);
      return { kind: 'file', rel, chunks: [] };
    }
    case 'Directory': {
      const rel = normalizeEntryName(entry.path);
      if (rel === undefined) return undefined;
      target.admitDirectory();
      return { kind: 'dir', rel };
    }
    default:
      throw archiveError('ARCHIVE_INVALID', `archive entry '${entry.path}' has unsupported type ${entry.type}`, { entry: entry.path, type: entry.type });
  }
}

// ---------------------------------------------------------------------------
// top-level folder

/** See the module comment: hoist `top/…` to `…` when only `top/package.json` exists. */
async function hoistSingleTopFolder(root: string): Promise<string | undefined> {
  const children = await readdir(root, { withFileTypes: true });
  const only = children[0];
  if (children.length !== 1 || only === undefined || !only.isDirectory()) return undefined;
  const hasPackageJson = await lstat(path.join(root, only.name, 'package.json')).then((s) => s.isFile(), () => false);
  if (!hasPackageJson) return undefined;
  // Rename first so a child named like the folder itself (`pkg/pkg/`) cannot collide.
  const staging = path.join(root, `.brisk-hoist-${randomUUID()}`);
  await rename(path.join(root, only.name), staging);
  for (const name of await readdir(staging)) await rename(path.join(staging, name), path.join(root, name));
  await rmdir(staging);
  return `${only.name}/`;
}
