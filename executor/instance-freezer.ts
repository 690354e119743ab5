import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Freezing a process-backend instance with the kernel's cgroup freezer, when
 * the executor may create cgroups (root, with the freezer mounted: cgroup v1
 * `freezer`, or cgroup v2 with `cgroup.freeze`).
 *
 * Why: an instance's processes are everything its uid runs, also those that
 * left its process group (`setsid`). Reaching those took a helper process
 * per signal (`/bin/sh -c 'kill -1'` as the uid, see instance-uids.ts): a
 * fork of the executor, measured here at ~7 ms of the executor's CPU plus
 * the helper's own exec, twice per idle pause and resume, on the warm path
 * of every instance the pool had let idle. A cgroup holds every process the
 * instance starts (a process cannot leave it: the other cgroups' files are
 * root's): the idle pause signals its members (see signalAll), and a kill
 * freezes it first so nothing forks between the listing and the kill.
 *
 * The runtime process is moved into its cgroup right after spawn, before it
 * has loaded any function code, so nothing it starts is outside.
 */
export class CgroupFreezer {
  private constructor(
    /** The directory holding this executor's instance cgroups. */
    readonly dir: string,
    private readonly kind: 'v1' | 'v2',
  ) {}

  /**
   * A freezer under `roots` (default: the v1 freezer hierarchy, then a v2
   * unified mount), in a directory named `name` (one per executor). Undefined
   * when none can be used (not root, no freezer, read-only cgroupfs): the
   * caller keeps the helper-process signals.
   */
  static open(name: string, roots: string[] = DEFAULT_ROOTS): CgroupFreezer | undefined {
    for (const root of roots) {
      const v1 = existsSync(path.join(root, 'freezer.state')) || existsSync(path.join(root, 'tasks'));
      const v2 = existsSync(path.join(root, 'cgroup.controllers'));
      if (!v1 && !v2) continue;
      const dir = path.join(root, name);
      try {
        mkdirSync(dir, { recursive: true });
      } catch {
        continue;
      }
      if (existsSync(path.join(dir, 'freezer.state'))) return new CgroupFreezer(dir, 'v1');
      if (existsSync(path.join(dir, 'cgroup.freeze'))) return new CgroupFreezer(dir, 'v2');
      tryRmdir(dir);
    }
    return undefined;
  }

  /** A cgroup for one instance, holding `pid` (and everything it will start). */
  adopt(instanceId: string, pid: number): InstanceCgroup {
    const dir = path.join(this.dir, instanceId);
    // Recursive: another executor's sweep (see removeStale) may have removed our directory while we had no instances.
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    } catch (err) {
      tryRmdir(dir);
      throw err;
    }
    return new InstanceCgroup(dir, this.kind);
  }

  /** Remove this executor's directory (once its instances' cgroups are gone); false when it is still in use. */
  close(): boolean {
    return removeTree(this.dir);
  }

  /**
   * Remove the empty cgroups other executors of this host left behind (they
   * died before they could): every `brisk-*` directory beside ours whose
   * instance cgroups hold no process. The kernel refuses to remove a cgroup
   * that holds one, so a live instance's is never touched.
   */
  removeStale(): void {
    const root = path.dirname(this.dir);
    for (const entry of safeReaddir(root)) {
      const dir = path.join(root, entry);
      if (entry.startsWith(PREFIX) && dir !== this.dir) removeTree(dir);
    }
  }
}

/** Names of the executors' cgroup directories start so. */
export const PREFIX = 'brisk-';

/** Remove a cgroup directory and the (empty) cgroups in it; false when one still holds processes. */
function removeTree(dir: string): boolean {
  for (const entry of safeReaddir(dir)) {
    const sub = path.join(dir, entry);
    // Only cgroup directories are in here; the kernel refuses to remove one that still holds processes.
    if (existsSync(path.join(sub, 'cgroup.procs'))) tryRmdir(sub);
  }
  return tryRmdir(dir);
}

/** Where cgroup freezers are mounted on common Linux hosts. */
const DEFAULT_ROOTS = ['/sys/fs/cgroup/freezer', '/sys/fs/cgroup'];

/** One instance's cgroup. */
export class InstanceCgroup {
  constructor(
    readonly dir: string,
    private readonly kind: 'v1' | 'v2',
  ) {}

  /**
   * SIGSTOP (or SIGCONT) every process in it: the instance's whole tree, what
   * left its process group too. Signals rather than the freezer for the idle
   * pause: a write to `freezer.state` was measured here at ~4 ms of the
   * executor's (kernel) CPU, a signal at a few µs plus ~30 µs to read the
   * member list. A stopped process cannot fork, so rounds that stop the
   * members not yet seen close on the whole tree; a final pass stops again
   * anything a member still running in between had continued.
   */
  signalAll(signal: 'SIGSTOP' | 'SIGCONT'): void {
    const seen = new Set<number>();
    for (let round = 0; round < MAX_SIGNAL_ROUNDS; round++) {
      const fresh = this.pids().filter((p) => !seen.has(p));
      if (fresh.length === 0) break;
      for (const pid of fresh) {
        seen.add(pid);
        kill(pid, signal);
      }
      if (signal === 'SIGCONT') return;
    }
    for (const pid of seen) kill(pid, signal);
  }

  /** Stop every process in it with the kernel's freezer (the kernel finishes freezing them shortly after). */
  freeze(): void {
    if (this.kind === 'v1') writeFileSync(path.join(this.dir, 'freezer.state'), 'FROZEN');
    else writeFileSync(path.join(this.dir, 'cgroup.freeze'), '1');
  }

  thaw(): void {
    if (this.kind === 'v1') writeFileSync(path.join(this.dir, 'freezer.state'), 'THAWED');
    else writeFileSync(path.join(this.dir, 'cgroup.freeze'), '0');
  }

  /** Processes in it now. */
  pids(): number[] {
    try {
      return readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map(Number);
    } catch {
      return [];
    }
  }

  /**
   * SIGKILL every process in it: frozen first, so none can fork a new one
   * between the listing and the kill, then thawed so the kills land.
   */
  killAll(): void {
    if (this.pids().length === 0) return;
    try {
      this.freeze();
    } catch {
      // Gone already, or cannot freeze: kill what is listed all the same.
    }
    for (const pid of this.pids()) kill(pid, 'SIGKILL');
    try {
      this.thaw();
    } catch {
      // Gone already.
    }
  }

  /** Remove the (empty) cgroup; false while processes are still in it. */
  remove(): boolean {
    return tryRmdir(this.dir);
  }
}

/**
 * Rounds of {@link InstanceCgroup.signalAll}: each stops every member not yet
 * seen; a tree that still grows after this many (a fork bomb racing the
 * reads) gets the final pass only, and the next pause finds the rest.
 */
const MAX_SIGNAL_ROUNDS = 8;

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Exited meanwhile.
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
