import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { PRIVATE_DIR, PRIVATE_FILE } from './journal.js';
import type { ObjectStore, StoreStatus } from './types.js';

/**
 * Standalone {@link ObjectStore}: one file per object under `dir`. Keys are
 * slash-separated paths; a key that would escape `dir` is refused. Writes go to
 * a temporary file first and are renamed into place, so a reader never sees a
 * half-written object. Directories are 0700 and files 0600: objects are
 * tenants' data, and functions on the process backend run as other uids.
 */
export class FileObjectStore implements ObjectStore {
  private state: StoreStatus = 'connecting';
  private readonly root: string;

  constructor(dir: string) {
    this.root = path.resolve(dir);
  }

  get status(): StoreStatus {
    return this.state;
  }

  async waitUntilReady(): Promise<void> {
    if (this.state === 'connecting') {
      await fs.mkdir(this.root, { recursive: true, mode: PRIVATE_DIR });
      // Made by an older version with the default mode: private from now on.
      await fs.chmod(this.root, PRIVATE_DIR);
      this.state = 'ready';
    }
  }

  async close(): Promise<void> {
    this.state = 'closed';
  }

  async put(key: string, data: Buffer): Promise<void> {
    const file = this.pathOf(key);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: PRIVATE_DIR });
    const tmp = `${file}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, data, { mode: PRIVATE_FILE });
    await fs.rename(tmp, file);
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.pathOf(key))).isFile();
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (!e.name.endsWith('.tmp')) {
          const k = path.relative(this.root, full).split(path.sep).join('/');
          if (k.startsWith(prefix)) out.push(k);
        }
      }
    };
    await walk(this.root);
    return out.sort();
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    // Walk only the directory the prefix names (`objects/ns/` → that folder), not the whole store.
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? this.root : path.resolve(this.root, prefix.slice(0, cut));
    if (base !== this.root && !base.startsWith(this.root + path.sep)) {
      throw new ValidationError('INVALID_OBJECT_KEY', `object prefix '${prefix}' is not allowed`);
    }
    const removed = await this.purge(base, prefix);
    // The prefix's own directory goes too when the prefix names all of it.
    if (base !== this.root && prefix.endsWith('/')) await fs.rmdir(base).catch(() => undefined);
    return removed;
  }

  /**
   * Remove the files under `dir` whose key starts with `prefix`, then the
   * directories that leaves empty (a left-over `a/` directory would make a
   * later put of key `a` collide). One file system call at a time: the event
   * loop stays free however many objects there are.
   */
  private async purge(dir: string, prefix: string): Promise<number> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
    let removed = 0;
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const key = path.relative(this.root, full).split(path.sep).join('/');
      if (e.isDirectory()) {
        // Descend where keys below could match (`key/` within the prefix, or the prefix within `key/`).
        if (!(`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`))) continue;
        removed += await this.purge(full, prefix);
        if (`${key}/`.startsWith(prefix)) await fs.rmdir(full).catch(() => undefined);
      } else if (key.startsWith(prefix)) {
        await fs.rm(full, { force: true });
        // A temporary file of a put in progress goes too, but is no object to count.
        if (!e.name.endsWith('.tmp')) removed++;
      }
    }
    return removed;
  }

  private pathOf(key: string): string {
    const file = path.resolve(this.root, key);
    if (key.length === 0 || !file.startsWith(this.root + path.sep)) {
      throw new ValidationError('INVALID_OBJECT_KEY', `object key '${key}' is not allowed`);
    }
    return file;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
