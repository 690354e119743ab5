import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PlatformError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { sleep } from '../core/util.js';

/**
 * One uid per process-backend instance, when the executor runs as root: a
 * uid of its own is what keeps an instance out of its siblings' files and
 * sockets and out of the executor's `/proc/<pid>/environ`, and it names
 * every process the instance started, even one that left its process group
 * (`setsid`), so all of them can be frozen or killed at once.
 *
 * The uids come from a configured range and need no passwd entry. Several
 * executors on one host may share the range: each uid in use is leased by a
 * file `<dir>/<uid>` holding the owner's pid, created atomically; a lease
 * whose owner died (an executor killed with -9) is taken over under a lock,
 * after killing whatever that uid still runs.
 */

/** Inclusive range of uids (also used as gids). */
export interface UidRange {
  first: number;
  last: number;
}

/** Node's spawn takes a uid as an int32. */
const MAX_UID = 2 ** 31 - 1;
/** A takeover lock older than this was left by a crashed executor (the section takes ~1 ms). */
const STALE_LOCK_MS = 10_000;
/** Candidates tried per acquire before giving up (leases are sparse in a large range). */
const MAX_PROBES = 4096;

/** `first-last` → range; `off` → undefined. Throws PlatformError `CONFIG_INVALID` on a bad range. */
export function parseUidRange(text: string): UidRange | undefined {
  if (text === 'off') return undefined;
  const m = /^(\d+)-(\d+)$/.exec(text);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || !(first >= 1 && first <= last && last <= MAX_UID)) {
    throw new PlatformError('CONFIG_INVALID', `uid range '${text}' must be first-last with 1 <= first <= last <= ${MAX_UID}`, { retryable: false, status: 500 });
  }
  return { first, last };
}

/** Where leases live by default: /run (not cleaned by age like /tmp) when it exists. */
export function defaultLeaseDir(): string {
  return existsSync('/run') ? '/run/brisk-uid-leases' : path.join(tmpdir(), 'brisk-uid-leases');
}

/** Signals {@link signalUid} sends. */
export type UidSignal = 'KILL' | 'STOP' | 'CONT';

/**
 * Send `signal` to every process of `uid`. Done by a tiny `/bin/sh` running
 * as that uid calling `kill -1`, which the kernel applies to all the
 * caller's processes in one pass: no /proc scan that a forking process could
 * outrun. Resolves once sent; false when the helper could not run.
 */
export function signalUid(uid: number, signal: UidSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', `kill -s ${signal} -- -1`], { uid, gid: uid, cwd: '/', env: {}, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', () => resolve(true));
  });
}

/** {@link signalUid}, blocking: for a process 'exit' handler. */
export function signalUidSync(uid: number, signal: UidSignal): void {
  spawnSync('/bin/sh', ['-c', `kill -s ${signal} -- -1`], { uid, gid: uid, cwd: '/', env: {}, stdio: 'ignore' });
}

/** true unless `pid` is certainly gone. */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface UidLeasesOptions {
  range: UidRange;
  /** Lease directory shared by the executors of a host. Default {@link defaultLeaseDir}. */
  dir?: string;
  logger?: Logger;
}

/** This process's leases on instance uids. */
export class UidLeases {
  readonly dir: string;
  private readonly held = new Set<number>();
  private cursor: number;
  private ready: Promise<void> | undefined;

  constructor(private readonly opts: UidLeasesOptions) {
    this.dir = opts.dir ?? defaultLeaseDir();
    const size = opts.range.last - opts.range.first + 1;
    // A random start, then onwards: a uid freed here is reused only after the whole range, so
    // files an instance left in shared places (/tmp, /dev/shm) do not fall to the next tenant soon.
    this.cursor = opts.range.first + (randomBytes(4).readUInt32BE(0) % size);
  }

  /** Lease a free uid of the range. */
  async acquire(): Promise<number> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.ready;
    const { first, last } = this.opts.range;
    const size = last - first + 1;
    for (let i = 0; i < Math.min(size, MAX_PROBES); i++) {
      const uid = this.cursor;
      this.cursor = uid === last ? first : uid + 1;
      if (this.held.has(uid)) continue;
      if ((await this.claim(uid)) || (await this.takeOver(uid))) {
        this.held.add(uid);
        return uid;
      }
    }
    throw new PlatformError('INSTANCE_UIDS_EXHAUSTED', `no free uid in ${first}-${last} (leases in ${this.dir})`, { retryable: true });
  }

  /** Give a uid back (its processes must be gone). Idempotent. */
  async release(uid: number): Promise<void> {
    if (!this.held.delete(uid)) return;
    await unlink(this.leasePath(uid)).catch(() => undefined);
  }

  /** Release every lease now; for a process 'exit' handler. */
  releaseAllSync(): void {
    for (const uid of this.held) {
      try {
        unlinkSync(this.leasePath(uid));
      } catch {
        // Already gone.
      }
    }
    this.held.clear();
  }

  private leasePath(uid: number): string {
    return path.join(this.dir, String(uid));
  }

  /** Create the lease atomically: a complete file linked into place, or nothing. */
  private async claim(uid: number): Promise<boolean> {
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, `${process.pid}\n`, { mode: 0o600 });
    try {
      await link(tmp, this.leasePath(uid));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Take over a lease whose owner is dead, under the takeover lock (so two
   * executors never both delete and re-create it). What the dead owner's
   * instance left running under that uid is killed first, while the stale
   * lease still stops anyone else from claiming the uid.
   */
  private async takeOver(uid: number): Promise<boolean> {
    if (!this.stale(await this.ownerOf(uid))) return false;
    if (!(await this.lock())) return false;
    try {
      if (!this.stale(await this.ownerOf(uid))) return false;
      await signalUid(uid, 'KILL');
      await unlink(this.leasePath(uid)).catch(() => undefined);
      const won = await this.claim(uid);
      if (won) this.opts.logger?.info({ uid }, 'took over the uid lease of a dead executor');
      return won;
    } finally {
      await rmdir(this.lockPath()).catch(() => undefined);
    }
  }

  /** A lease exists and its owner is gone. (No lease: the uid is free, and claiming is the way to get it.) */
  private stale(owner: number | undefined): boolean {
    return owner !== undefined && !pidAlive(owner);
  }

  /** The lease's owner pid, or undefined when there is no lease. */
  private async ownerOf(uid: number): Promise<number | undefined> {
    try {
      return Number((await readFile(this.leasePath(uid), 'utf8')).trim());
    } catch {
      return undefined;
    }
  }

  private lockPath(): string {
    return path.join(this.dir, '.takeover');
  }

  /** mkdir as a host-wide lock; false when it stays busy (another executor is mid-takeover). */
  private async lock(): Promise<boolean> {
    for (let i = 0; i < 200; i++) {
      try {
        await mkdir(this.lockPath());
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const age = await stat(this.lockPath()).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await rmdir(this.lockPath()).catch(() => undefined);
      else await sleep(5);
    }
    return false;
  }
}
