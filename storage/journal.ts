import fs from 'node:fs';
import path from 'node:path';

/**
 * An append-only JSON-lines file with compaction: the persistence of the
 * standalone stores. Each append is one `write(2)` to the OS (no fsync), so a
 * crashed process loses nothing it acknowledged; a crashed machine may lose the
 * last moments. Compaction rewrites the file from a snapshot of live entries
 * into a temporary file and renames it over the journal (atomic on POSIX).
 *
 * Private to the platform's user: the directory is made 0700 and the file
 * 0600 (a journal holds every tenant's records, and functions on the process
 * backend run as other uids on the same machine). A file left 0644 by an
 * older version is made 0600 when opened.
 */
/** Modes of what the standalone stores write under BRISK_DATA_DIR: the platform's user only. */
export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/**
 * Make `dir` (and missing parents) 0700, and an existing `dir` 0700 too (one
 * an older version made 0755). Returns false when its mode could not be
 * changed (not its owner): the caller warns.
 */
export function ensurePrivateDir(dir: string): boolean {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  try {
    fs.chmodSync(dir, PRIVATE_DIR);
    return true;
  } catch {
    return false;
  }
}

export class Journal<T> {
  private fd: number | undefined;
  private lines = 0;

  constructor(
    private readonly file: string,
    /** Appends after which {@link maybeCompact} rewrites the file. */
    private readonly compactAfter = 50_000,
  ) {}

  /** Read every entry (skipping a torn last line), then open for appending. */
  open(): T[] {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: PRIVATE_DIR });
    const entries: T[] = [];
    if (fs.existsSync(this.file)) {
      const text = fs.readFileSync(this.file, 'utf8');
      for (const line of text.split('\n')) {
        if (line.length === 0) continue;
        try {
          entries.push(JSON.parse(line) as T);
        } catch {
          // A torn write from a crash mid-line: everything before it is intact.
        }
      }
    }
    this.lines = entries.length;
    this.fd = fs.openSync(this.file, 'a', PRIVATE_FILE);
    fs.fchmodSync(this.fd, PRIVATE_FILE);
    return entries;
  }

  append(entry: T): void {
    if (this.fd === undefined) throw new Error(`journal ${this.file} is not open`);
    fs.writeSync(this.fd, JSON.stringify(entry) + '\n');
    this.lines++;
  }

  /** Whether enough has been appended since the last compaction to rewrite. */
  get needsCompaction(): boolean {
    return this.lines > this.compactAfter;
  }

  /** Replace the journal's contents with `live`. */
  compact(live: Iterable<T>): void {
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, 'w', PRIVATE_FILE);
    let n = 0;
    try {
      let chunk = '';
      for (const entry of live) {
        chunk += JSON.stringify(entry) + '\n';
        n++;
        if (chunk.length > 1 << 20) {
          fs.writeSync(fd, chunk);
          chunk = '';
        }
      }
      if (chunk.length > 0) fs.writeSync(fd, chunk);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'a', PRIVATE_FILE);
    this.lines = n;
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
