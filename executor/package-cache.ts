import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { PlatformError } from '../core/errors.js';
import { extractArchive } from '../core/archive.js';
import type { BundleStore } from '../storage/bundles.js';
import { filesKey } from '../storage/types.js';

/** One unpacked package: its directories and files, relative, listed once at unpack. */
interface Tree {
  dir: string;
  dirs: string[];
  files: string[];
  bytes: number;
}

export interface PackageCacheOptions {
  /** Where the archives are (see {@link BundleStore}). */
  bundles: Pick<BundleStore, 'get'>;
  /**
   * This executor's package directory, owned by the cache: unpacked trees in
   * `<root>/trees/<filesHash>`, and `<root>/instances` for the backends'
   * per-instance package directories, on the same filesystem so checking a
   * package out costs one hard link per file instead of a copy. Emptied at
   * start, removed at close.
   */
  root: string;
  /** Unpacked bytes kept; least recently used trees go first. */
  maxBytes: number;
  /** Limits of one package (the deploy already enforced them; these guard the executor's disk). */
  maxUnpackedBytes: number;
  maxFiles: number;
}

/** Links made at once while checking out (each is one libuv filesystem request). */
const LINK_BATCH = 64;

/**
 * A function's package files on an executor: the tar stored at deploy
 * (`filesKey(filesHash)`), fetched once, checked against its hash, unpacked
 * once into a read-only tree, then checked out into each instance's package
 * directory by hard links (copies across filesystems). Trees are evicted
 * least recently used first beyond `maxBytes`; a tree evicted while
 * instances use it stays readable through their own links.
 */
export class PackageCache {
  private readonly trees = new Map<string, Tree>();
  private readonly loading = new Map<string, Promise<Tree>>();
  private bytes = 0;

  private readonly treesDir: string;

  constructor(private readonly o: PackageCacheOptions) {
    this.treesDir = path.join(o.root, 'trees');
  }

  /** Where the backends make each instance's package directory. */
  get instancesDir(): string {
    return path.join(this.o.root, 'instances');
  }

  /** Remove what a previous run of this executor left. */
  async start(): Promise<void> {
    await rm(this.o.root, { recursive: true, force: true });
    await mkdir(this.treesDir, { recursive: true, mode: 0o755 });
    await mkdir(this.instancesDir, { recursive: true, mode: 0o755 });
  }

  /**
   * Fetch and unpack the package now (concurrent calls share one fetch);
   * resolves when it is ready to check out. `size`: the version's `filesSize`.
   */
  async prepare(filesHash: string, size?: number): Promise<void> {
    await this.tree(filesHash, size);
  }

  /** Fill `dest` (an existing, empty directory) with the package's files. */
  async checkout(filesHash: string, dest: string): Promise<void> {
    const tree = await this.tree(filesHash);
    for (const d of tree.dirs) await mkdir(path.join(dest, d), { recursive: true, mode: 0o755 });
    for (let i = 0; i < tree.files.length; i += LINK_BATCH) {
      await Promise.all(tree.files.slice(i, i + LINK_BATCH).map((f) => linkOrCopy(path.join(tree.dir, f), path.join(dest, f))));
    }
  }

  /** Remove this executor's package directory (after its instances are gone). */
  async close(): Promise<void> {
    await rm(this.o.root, { recursive: true, force: true });
  }

  private tree(filesHash: string, size?: number): Promise<Tree> {
    const hit = this.trees.get(filesHash);
    if (hit !== undefined) {
      this.trees.delete(filesHash);
      this.trees.set(filesHash, hit);
      return Promise.resolve(hit);
    }
    let p = this.loading.get(filesHash);
    if (p === undefined) {
      p = this.unpack(filesHash, size).finally(() => this.loading.delete(filesHash));
      this.loading.set(filesHash, p);
    }
    return p;
  }

  private async unpack(filesHash: string, size: number | undefined): Promise<Tree> {
    const matches = (buf: Buffer): boolean => createHash('sha256').update(buf).digest('hex') === filesHash;
    const buf = await this.o.bundles.get(filesKey(filesHash), { ...(size !== undefined ? { size } : {}), check: matches });
    if (!buf) throw new PlatformError('CODE_NOT_FOUND', `package files ${filesHash} are missing from the object store`, { retryable: false });
    if (!matches(buf)) {
      throw new PlatformError('CODE_CORRUPT', `package files ${filesHash} do not match their hash`, { retryable: false });
    }
    // Unpacked beside the final place and renamed into it: a half-written tree is never seen.
    const staging = path.join(this.treesDir, `.staging-${randomBytes(6).toString('hex')}`);
    const dir = path.join(this.treesDir, filesHash);
    await mkdir(staging, { recursive: true });
    try {
      const r = await extractArchive(buf, 'tgz', staging, {
        maxUnpackedBytes: this.o.maxUnpackedBytes,
        maxFiles: this.o.maxFiles,
        hoistTopFolder: false,
      });
      const listing = await list(staging);
      // Read-only for everyone: the links in instance directories share these inodes.
      await Promise.all(listing.files.map((f) => chmod(path.join(staging, f), 0o444)));
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
      const tree: Tree = { dir, ...listing, bytes: r.bytes };
      this.trees.set(filesHash, tree);
      this.bytes += tree.bytes;
      await this.evict(filesHash);
      return tree;
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  private async evict(keep: string): Promise<void> {
    for (const [hash, tree] of this.trees) {
      if (this.bytes <= this.o.maxBytes) break;
      if (hash === keep) continue;
      this.trees.delete(hash);
      this.bytes -= tree.bytes;
      await rm(tree.dir, { recursive: true, force: true });
    }
  }
}

/** A hard link; a copy where links cannot cross (another filesystem, or a filesystem without them). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw err;
    await copyFile(from, to);
    await chmod(to, 0o444);
  }
}

/** Directories (parents first) and files under `root`, relative. */
async function list(root: string): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [];
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : path.join(rel, e.name);
      if (e.isDirectory()) {
        dirs.push(r);
        await walk(r);
      } else if (e.isFile()) files.push(r);
    }
  };
  await walk('');
  return { dirs, files };
}
