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
 *   inflated, then each entry is inflated with zlib's output capped one byte
 *   past its declared size, so a lying header (a decompression bomb) stops
 *   there, never gigabytes later. For tar the gunzip output is counted as it streams (including
 *   headers and anything after the end-of-archive marker), and each entry's
 *   header size is checked before its body is read.
 * - **Count.** `maxFiles` caps regular files; directory entries are capped at
 *   the same number again, so an archive of a million empty directories is
 *   refused too (`ARCHIVE_TOO_MANY_FILES`).
 * - **Corruption.** Bad signatures, truncated data, CRC mismatches, encrypted
 *   or non-deflate zip entries, a zip entry whose local header names another
 *   file than the central directory, bad gzip, bad tar checksums, duplicate
 *   entries → `ARCHIVE_INVALID`.
 *
 * The zip container (end record, ZIP64, central directory, local headers,
 * names) is read by yauzl; the tar stream by `tar`'s parser. Every check above
 * is Brisk's own, on top of them, so each refusal carries its code.
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
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl, { type Entry, type LocalFileHeader, type ZipFile } from 'yauzl';
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

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** "Version made by" host systems whose external attributes carry a Unix mode: Unix, OS X. */
const UNIX_HOSTS = new Set([3, 19]);

const ZIP_EOCD_SIG = 0x06054b50;
const ZIP_EOCD_SIZE = 22;
/** General purpose flag bit 11: the name is UTF-8. */
const ZIP_UTF8_FLAG = 0x800;
const U16_MAX = 0xffff;

const invalidZip = (message: string): BuildError => archiveError('ARCHIVE_INVALID', `invalid zip: ${message}`);

/**
 * yauzl reads the container (end record, ZIP64, central directory, extra
 * fields, local headers); node's zlib inflates; Brisk checks names, types,
 * budgets, sizes and CRCs on top, so every refusal carries its own code. yauzl's own size check
 * (`validateEntrySizes`) is off: it fails with an untyped error told apart
 * only by its message, and Brisk must answer a lying header (ARCHIVE_TOO_LARGE)
 * apart from a short one (ARCHIVE_INVALID). The same check runs in
 * {@link readZipEntry}, with zlib's own output cap.
 */
async function extractZip(buf: Buffer, target: ExtractionTarget): Promise<void> {
  const archive = withoutTrailingBytes(buf);
  const zip = await yauzl
    .fromBufferPromise(archive, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: false })
    .catch((err: unknown) => {
      throw invalidZip(errorText(err));
    });
  try {
    // A cheap early refusal before walking the directory: files + directories are each capped at maxFiles.
    if (zip.entryCount > 2 * target.limits.maxFiles) {
      throw archiveError('ARCHIVE_TOO_MANY_FILES', `archive declares ${zip.entryCount} entries`, { maxFiles: target.limits.maxFiles });
    }
    const files: Array<{ rel: string; name: string; entry: Entry }> = [];
    const directories: string[] = [];

    // Pass 1: names, types, counts and declared sizes — nothing is inflated yet.
    for await (const entry of zipEntries(zip)) {
      // Names are read as UTF-8 whatever the flag says (zip tools on Linux and
      // macOS write UTF-8 without it), as Brisk always has; yauzl adds the
      // Info-ZIP Unicode path field and turns `\` into `/`.
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag | ZIP_UTF8_FLAG, entry.fileNameRaw, entry.extraFields, false);
      const rel = normalizeEntryName(name);
      if (rel === undefined) continue;
      // Ours refuses all yauzl does (and more); kept as the second opinion.
      const refused = yauzl.validateFileName(name);
      if (refused !== null) throw archiveError('ARCHIVE_PATH_TRAVERSAL', `entry path '${name}' refused: ${refused}`, { entry: name });
      if (rel === MACOS_METADATA_DIR || rel.startsWith(`${MACOS_METADATA_DIR}/`)) continue;
      const unixType = UNIX_HOSTS.has(entry.versionMadeBy >>> 8) ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;
      if (unixType === S_IFLNK) {
        throw archiveError('ARCHIVE_SYMLINK', `archive entry '${name}' is a symbolic link (links are not allowed)`, { entry: name });
      }
      if (unixType !== 0 && unixType !== S_IFREG && unixType !== S_IFDIR) {
        throw archiveError('ARCHIVE_INVALID', `archive entry '${name}' is not a regular file or directory`, { entry: name });
      }
      if (name.endsWith('/') || unixType === S_IFDIR) {
        target.admitDirectory();
        directories.push(rel);
        continue;
      }
      if (entry.isEncrypted()) throw invalidZip(`entry '${name}' is encrypted`);
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw invalidZip(`entry '${name}' uses unsupported compression method ${entry.compressionMethod}`);
      }
      target.admitFile(rel, entry.uncompressedSize);
      files.push({ rel, name, entry });
    }

    // Pass 2: inflate one entry at a time, counting real output, and write it.
    for (const dir of directories) await target.makeDirectory(dir);
    for (const { rel, name, entry } of files) {
      const data = await readZipEntry(zip, archive, entry, name, rel, target);
      await target.writeFile(rel, [data]);
    }
  } finally {
    zip.close();
  }
}

/** The central directory's entries, yauzl's failures turned into ARCHIVE_INVALID. */
async function* zipEntries(zip: ZipFile): AsyncGenerator<Entry> {
  const it = zip.eachEntry();
  for (;;) {
    let next: IteratorResult<Entry>;
    try {
      next = await it.next();
    } catch (err) {
      throw invalidZip(errorText(err));
    }
    if (next.done === true) return;
    yield next.value;
  }
}

/**
 * One entry's bytes. The data is inflated in one call with `maxOutputLength`
 * set just past the declared size, so zlib itself stops a lying header (the
 * signature of a decompression bomb) after that many bytes, never gigabytes;
 * it runs on libuv's pool, so a large entry does not stall the event loop.
 * Then the size must match exactly and the CRC too (yauzl checks neither).
 *
 * Not yauzl's per-entry read streams: measured on 2000 small deflated files,
 * they cost ~0.4 ms per entry against ~0.08 ms for this, and the declared-size
 * check they offer fails untyped (see {@link extractZip}).
 */
async function readZipEntry(zip: ZipFile, buf: Buffer, entry: Entry, name: string, rel: string, target: ExtractionTarget): Promise<Buffer> {
  let local: LocalFileHeader;
  try {
    local = await zip.readLocalFileHeaderPromise(entry); // also checks that the data lies inside the file
  } catch (err) {
    throw invalidZip(`entry '${name}': ${errorText(err)}`);
  }
  // The local header must name the same file as the central directory:
  // tools that read one or the other would otherwise see different archives.
  if (!local.fileName.equals(entry.fileNameRaw)) {
    throw invalidZip(`the local header of '${name}' names '${local.fileName.toString('utf8')}'`);
  }
  const declared = entry.uncompressedSize;
  const tooLarge = (): BuildError =>
    archiveError('ARCHIVE_TOO_LARGE', `entry '${rel}' inflates beyond its declared ${declared} bytes`, { entry: rel });
  const data = buf.subarray(local.fileDataStart, local.fileDataStart + entry.compressedSize);
  let out: Buffer;
  if (entry.compressionMethod === 0) {
    if (data.length > declared) throw tooLarge();
    out = data;
  } else {
    try {
      out = await inflateRaw(data, { maxOutputLength: declared + 1 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
      throw invalidZip(`entry '${name}' is corrupt (${errorText(err)})`);
    }
    if (out.length > declared) throw tooLarge();
  }
  target.consume(rel, out.length);
  if (out.length !== declared) throw invalidZip(`entry '${name}' is ${out.length} bytes, header says ${declared}`);
  if (zlib.crc32(out) >>> 0 !== entry.crc32 >>> 0) throw invalidZip(`CRC mismatch in '${name}'`);
  return out;
}

/**
 * The zip without bytes appended after its end record, which unzip(1)
 * tolerates and yauzl refuses: the last end-record signature whose comment
 * fits in the file marks the end. Unchanged when there is none (yauzl then
 * says what is wrong).
 */
function withoutTrailingBytes(buf: Buffer): Buffer {
  const min = Math.max(0, buf.length - ZIP_EOCD_SIZE - U16_MAX);
  for (let i = buf.length - ZIP_EOCD_SIZE; i >= min; i--) {
    if (buf.readUInt32LE(i) !== ZIP_EOCD_SIG) continue;
    const end = i + ZIP_EOCD_SIZE + buf.readUInt16LE(i + 20);
    if (end <= buf.length) return end === buf.length ? buf : buf.subarray(0, end);
  }
  return buf;
}

const inflateRaw = promisify(zlib.inflateRaw);

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

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
