import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { access, chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { BriskError, PlatformError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { InitRequest, RunRequest } from '../runtime/protocol.js';
import { RuntimeClient, RuntimeConnectionError, RuntimeTimeoutError, type RuntimeAddress } from './runtime-client.js';
import { InstanceFailure, type CreateOptions, type ExecutorBackend, type Instance, type InstanceFault, type InstanceSpec, type RunAnswer } from './types.js';
import { runtimeBundlePath } from '../core/package-root.js';
import { probePython, pythonExecutable, pythonRuntimePath } from '../core/python.js';
import { parseUidRange, pidAlive, signalUid, signalUidSync, UidLeases, type UidRange, type UidSignal } from './instance-uids.js';
import { CgroupFreezer, PREFIX as CGROUP_PREFIX, type InstanceCgroup } from './instance-freezer.js';

export interface ProcessBackendOptions {
  /**
   * The bundled runtime server. Defaults to `dist/runtime/server.mjs` of this
   * package, wherever the process was started from (see core/package-root.ts).
   */
  runtimePath?: string;
  /** The node binary; defaults to the one running us. */
  nodePath?: string;
  /** The Python interpreter for `runtime: python` (BRISK_PYTHON); default `python3` on PATH. */
  pythonPath?: string;
  /** The Python runtime server; default runtime/python/brisk_runtime.py of this package. */
  pythonRuntimePath?: string;
  /** How long a new child may take to print its READY line. Default 10 s. */
  readyTimeoutMs?: number;
  /**
   * Parent of this backend's directory of instance directories (each holds
   * the instance's socket, code and TMPDIR). Default: the OS temp dir. With
   * per-instance uids it must be searchable by them (as /tmp is).
   */
  tmpDir?: string;
  /**
   * Extra environment for every child. Children do NOT inherit our environment:
   * it holds platform secrets (S3 keys, admin key) that function code must not see.
   */
  env?: Record<string, string>;
  /**
   * The executor's platform API socket (context.state / context.objects),
   * passed to children as `BRISK_PLATFORM_SOCKET`. Absent: no platform API.
   */
  platformSocket?: string;
  /**
   * When the executor runs as root, each instance runs as its own uid from
   * this range (see executor/instance-uids.ts); `'off'`: as our own user.
   * Ignored (with a warning at start) when not root. Default
   * {@link DEFAULT_UID_RANGE}.
   */
  uidRange?: UidRange | 'off';
  /** Where uid leases live; default `defaultLeaseDir()` (host-wide). */
  uidLeaseDir?: string;
  /**
   * With per-instance uids: hold each instance's processes in a cgroup of its
   * own and freeze, thaw and kill them through it (see instance-freezer.ts)
   * instead of a helper process per signal. Default: a cgroup freezer when
   * one can be created, else the helper; `'off'`: always the helper.
   */
  freezer?: CgroupFreezer | 'off';
  /** Cap on a result's JSON (BRISK_MAX_RESULT_BYTES); default the runtime protocol's 6 MiB. */
  maxResultBytes?: number;
  logger?: Logger;
}

/** Per-instance uids unless told otherwise (also the BRISK_PROCESS_UID_RANGE default). */
export const DEFAULT_UID_RANGE = parseUidRange('2000000000-2000999999') as UidRange;

/** Bytes of a child's stderr kept to diagnose a crash (an OOM report is ~2 KB). */
const STDERR_TAIL_BYTES = 16 * 1024;
/** After a broken connection, how long to wait for the child's exit before calling it unreachable. */
const EXIT_GRACE_MS = 1000;
/**
 * After the child exits, how long its stdio may take to close (the end of an
 * OOM report may still be in the pipe). Not longer: a grandchild that
 * inherited the pipes would otherwise hold the instance, and its memory in
 * the pool's budget, for as long as it lives.
 */
const STDIO_CLOSE_GRACE_MS = 200;
/** V8's messages when the heap limit is hit, and the Python runtime's line for a MemoryError. */
const OOM_PATTERN = /heap out of memory|Allocation failed - process out of memory|Reached heap limit|BRISK_PYTHON_OUT_OF_MEMORY/i;

interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** A backend's directory of instance directories is named so (in `tmpDir`). */
const BACKEND_DIR_PREFIX = 'brisk-rt-';
/** In a backend's directory: the pid of the executor process that owns it. */
const OWNER_FILE = 'owner.pid';

/**
 * Kill the runtimes of backends whose executor process is gone (killed with
 * -9: its exit handler never ran) and remove their directories. A runtime
 * notices its executor's death by EOF on stdin, but an idle one that was
 * paused (SIGSTOP) reads nothing and would stay stopped for ever. Runtimes
 * are found by their `BRISK_RUNTIME_CODE_DIR`, which lies in their backend's
 * directory (their environment, readable by root or by the same user: the
 * processes we could have started). A directory without an owner file is
 * left alone. Returns how many processes were killed.
 */
export async function reapDeadBackends(tmpDir: string): Promise<number> {
  const dead: string[] = [];
  for (const entry of await readdir(tmpDir).catch(() => [] as string[])) {
    const dir = path.join(tmpDir, entry);
    if (!entry.startsWith(BACKEND_DIR_PREFIX)) continue;
    const owner = Number((await readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => '')).trim());
    if (owner > 0 && !pidAlive(owner)) dead.push(`${dir}/`);
  }
  if (dead.length === 0) return 0;
  let killed = 0;
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(entry);
    if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    const codeDir = environ.split('\0').find((v) => v.startsWith('BRISK_RUNTIME_CODE_DIR='))?.slice('BRISK_RUNTIME_CODE_DIR='.length);
    if (codeDir === undefined || !dead.some((d) => codeDir.startsWith(d))) continue;
    try {
      // SIGKILL ends a stopped process too.
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Gone meanwhile.
    }
  }
  for (const d of dead) await rm(d, { recursive: true, force: true }).catch(() => undefined);
  return killed;
}

/** Longest unix socket path that fits `sun_path` (108 bytes on Linux, with its NUL). */
const MAX_SOCKET_PATH = 100;

/** Where one instance's files live (see {@link prepareInstanceDir}). */
export interface InstanceDir {
  /** Private to the instance: mode 0700, owned by its uid. */
  dir: string;
  /** The runtime's unix socket. */
  socketPath: string;
  /** `BRISK_RUNTIME_CODE_DIR`: where the runtime writes the bundle it loads. */
  codeDir: string;
  /** The instance's `TMPDIR`, so `os.tmpdir()` is private too. */
  tmpDir: string;
}

/**
 * Create an instance's private directory: its runtime socket (so no sibling
 * can reach its /run), the code it loads and its TMPDIR, removed with the
 * instance. With a uid the directory belongs to it; the executor, as root,
 * still reaches the socket.
 */
export async function prepareInstanceDir(base: string, id: string, uid: number | undefined): Promise<InstanceDir> {
  const dir = path.join(base, id);
  const layout = { dir, socketPath: path.join(dir, 'rt.sock'), codeDir: path.join(dir, 'code'), tmpDir: path.join(dir, 'tmp') };
  for (const d of [layout.dir, layout.codeDir, layout.tmpDir]) {
    await mkdir(d, { mode: 0o700 });
    if (uid !== undefined) await chown(d, uid, uid);
  }
  return layout;
}

/** This backend's directory of instance directories, and the runtime bundle the children load. */
interface BackendDir {
  dir: string;
  runtimePath: string;
  /** The Python runtime server, readable by every instance uid. */
  pythonRuntimePath: string;
}

/** Whether a file and every directory above it let any user through (o+x), as an instance uid needs. */
async function openToOthers(file: string): Promise<boolean> {
  for (let p = file; ; p = path.dirname(p)) {
    const st = await stat(p).catch(() => undefined);
    if (st === undefined || (st.mode & 0o001) === 0) return false;
    if (path.dirname(p) === p) return true;
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Runs each instance as a child `node` process. Fast (an instance starts in
 * ~50 ms) but NOT a sandbox: children share the host's kernel, network and
 * file system. What it does guard, when the executor runs as root: each
 * instance runs as a uid of its own (no access to the executor's
 * environment, its siblings' sockets and code, or their /proc entries), and
 * every process it starts, even one that left its process group, is frozen
 * when it idles and killed with it. Not root: instances run as our user and
 * those guards are gone (a warning says so at start). Use the Docker backend
 * for untrusted code.
 */
export class ProcessBackend implements ExecutorBackend {
  readonly name = 'process' as const;
  private readonly runtimePath: string;
  private readonly nodePath: string;
  private readonly pythonRuntimePath: string;
  private readonly readyTimeoutMs: number;
  private readonly instances = new Set<ProcessInstance>();
  /** The real interpreter behind `pythonPath` (resolved once, on the first Python instance). */
  private python: Promise<string> | undefined;
  /** Per-instance uids; undefined when not root or turned off. */
  private readonly uids: UidLeases | undefined;
  /** Per-instance cgroups (with uids only); undefined when none can be made. */
  private readonly freezer: CgroupFreezer | undefined;
  private closed = false;
  /**
   * Instance directories live in this private directory (children listen on
   * unix sockets there: cheaper than loopback TCP per call, measured here at
   * ~25 % less client CPU per request).
   */
  private backendDir: Promise<BackendDir> | undefined;
  /** The same path, once created, for the synchronous exit handler. */
  private backendDirPath: string | undefined;
  /** Synchronous last resort: children (and their files) must not outlive us. */
  private readonly onParentExit = (): void => {
    for (const inst of this.instances) inst.killAllNow();
    this.freezer?.close();
    this.uids?.releaseAllSync();
    if (this.backendDirPath !== undefined) rmSync(this.backendDirPath, { recursive: true, force: true });
  };

  constructor(private readonly opts: ProcessBackendOptions = {}) {
    this.runtimePath = path.resolve(opts.runtimePath ?? runtimeBundlePath());
    this.nodePath = opts.nodePath ?? process.execPath;
    this.pythonRuntimePath = path.resolve(opts.pythonRuntimePath ?? pythonRuntimePath());
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
    const range = opts.uidRange ?? DEFAULT_UID_RANGE;
    this.uids =
      range !== 'off' && isRoot()
        ? new UidLeases({ range, ...(opts.uidLeaseDir !== undefined ? { dir: opts.uidLeaseDir } : {}), ...(opts.logger ? { logger: opts.logger } : {}) })
        : undefined;
    this.freezer =
      this.uids === undefined || opts.freezer === 'off' ? undefined : (opts.freezer ?? CgroupFreezer.open(`${CGROUP_PREFIX}${randomUUID().slice(0, 8)}`));
    process.on('exit', this.onParentExit);
  }

  /** Whether instances are frozen and killed through cgroups of their own. */
  get usesCgroups(): boolean {
    return this.freezer !== undefined;
  }

  /** The directory of this backend's instance cgroups, when it uses them. */
  get cgroupDir(): string | undefined {
    return this.freezer?.dir;
  }

  /** Whether instances run as uids of their own. */
  get isolatesUids(): boolean {
    return this.uids !== undefined;
  }

  async start(): Promise<void> {
    try {
      await access(this.runtimePath);
    } catch (err) {
      throw new PlatformError('RUNTIME_MISSING', `runtime server not found at ${this.runtimePath}; run \`node build.mjs\``, {
        retryable: false,
        cause: err,
      });
    }
    // Runtimes of executors killed with -9 (a paused one would stay stopped for ever), then
    // cgroups of executors that died without removing them (empty ones only).
    const reaped = await reapDeadBackends(this.opts.tmpDir ?? tmpdir());
    if (reaped > 0) this.opts.logger?.info({ reaped }, 'process backend: killed the runtimes of executors that died without stopping them');
    this.freezer?.removeStale();
    if (this.uids === undefined) {
      this.opts.logger?.warn(
        { user: userInfo().username },
        isRoot()
          ? 'process backend: per-instance uids are off; every instance runs as root and can read the executor\'s environment and reach the other instances'
          : 'process backend: not running as root, so instances cannot get uids of their own; every instance runs as this user and can read the executor\'s environment (/proc/<pid>/environ) and reach the other instances. Use the docker backend for code you do not trust',
      );
    }
  }

  async createInstance(spec: InstanceSpec, opts: CreateOptions = {}): Promise<Instance> {
    if (this.closed) throw new PlatformError('BACKEND_CLOSED', 'process backend is closed', { retryable: true });
    const runtime = spec.runtime ?? 'nodejs';
    if (runtime === 'image') {
      throw new PlatformError('RUNTIME_NOT_SUPPORTED', 'the process backend cannot run container images; image functions need an executor with BRISK_EXECUTOR_BACKEND=docker', { retryable: false });
    }
    const python = runtime === 'python' ? await this.resolvePython() : undefined;
    const id = `proc-${randomUUID().slice(0, 8)}`;
    const base = await this.prepareBackendDir();
    const uid = await this.uids?.acquire();
    let dirs: InstanceDir;
    try {
      dirs = await prepareInstanceDir(base.dir, id, uid);
    } catch (err) {
      if (uid !== undefined) await this.uids?.release(uid);
      await rm(path.join(base.dir, id), { recursive: true, force: true });
      throw new PlatformError('INSTANCE_START_FAILED', `could not prepare the directory of ${id}: ${(err as Error).message}`, { cause: err });
    }
    // A temp dir too deep for sun_path: fall back to an ephemeral loopback port.
    const listen: Record<string, string> =
      Buffer.byteLength(dirs.socketPath) <= MAX_SOCKET_PATH
        ? { BRISK_RUNTIME_SOCKET: dirs.socketPath }
        : { BRISK_RUNTIME_PORT: '0', BRISK_RUNTIME_HOST: '127.0.0.1' };
    const env: Record<string, string> = {
      ...this.opts.env,
      ...listen,
      BRISK_RUNTIME_EXIT_ON_STDIN_CLOSE: '1',
      // Logs come back in each /run answer; nothing reads markers on the pipes.
      BRISK_RUNTIME_LOG_MARKERS: '0',
      ...(opts.prestart === true ? { BRISK_RUNTIME_WARM_UP: '1' } : {}),
      BRISK_RUNTIME_CODE_DIR: dirs.codeDir,
      TMPDIR: dirs.tmpDir,
      ...(this.opts.platformSocket !== undefined ? { BRISK_PLATFORM_SOCKET: this.opts.platformSocket } : {}),
    };
    // The heap cap (Python: an address-space cap the runtime sets) approximates the memory limit; the process is not otherwise confined.
    const heapMb = Math.max(16, Math.floor(spec.memoryMb));
    const [command, args] =
      python !== undefined
        ? [python, ['-B', base.pythonRuntimePath]]
        : [this.nodePath, [`--max-old-space-size=${heapMb}`, base.runtimePath]];
    if (python !== undefined) env['BRISK_RUNTIME_MEMORY_MB'] = String(heapMb);
    const child = spawn(command, args, {
      // stdin is a pipe only so the child notices our death (EOF) and exits.
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
      cwd: dirs.dir,
      // A process group of its own: pause, resume and kill reach everything it forks.
      detached: true,
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    // Into its cgroup at once: the runtime forks nothing before /init loads a function.
    const cgroup = this.adopt(id, child);
    const inst = new ProcessInstance(id, spec, child, {
      dir: dirs.dir,
      ...(uid !== undefined ? { uid } : {}),
      ...(cgroup !== undefined ? { cgroup } : {}),
      ...(this.opts.logger ? { logger: this.opts.logger } : {}),
      ...(this.opts.maxResultBytes !== undefined ? { maxResultBytes: this.opts.maxResultBytes } : {}),
      onDestroyed: async (i) => {
        if (uid !== undefined) await this.uids?.release(uid);
        this.instances.delete(i);
      },
    });
    this.instances.add(inst);
    try {
      await inst.waitUntilReady(this.readyTimeoutMs);
    } catch (err) {
      await inst.destroy();
      throw err;
    }
    if (this.closed) {
      await inst.destroy();
      throw new PlatformError('BACKEND_CLOSED', 'process backend is closed', { retryable: true });
    }
    return inst;
  }

  /** A cgroup holding the new child, when this backend uses them; undefined (the helper signals) if it cannot be made. */
  private adopt(id: string, child: ChildProcess): InstanceCgroup | undefined {
    if (this.freezer === undefined || child.pid === undefined) return undefined;
    try {
      return this.freezer.adopt(id, child.pid);
    } catch (err) {
      this.opts.logger?.warn({ err, instance: id }, 'could not give the instance a cgroup; freezing it through helper processes');
      return undefined;
    }
  }

  /**
   * The interpreter `pythonPath` names, as a real file (`sys.executable`): a
   * PATH shim (pyenv's) would need the environment the instance does not get,
   * and costs a shell per start.
   */
  private resolvePython(): Promise<string> {
    const configured = this.opts.pythonPath ?? 'python3';
    this.python ??= probePython(configured).then(async (info) => {
      const exe = info === undefined ? undefined : await pythonExecutable(configured);
      if (exe === undefined) {
        this.python = undefined;
        throw new PlatformError('RUNTIME_NOT_SUPPORTED', `this executor has no Python 3.11+ at '${configured}' (BRISK_PYTHON)`, { retryable: false });
      }
      // Instances with uids of their own run it as those uids: it must be open to every user.
      if (this.uids !== undefined && !(await openToOthers(exe))) {
        this.python = undefined;
        throw new PlatformError(
          'RUNTIME_NOT_SUPPORTED',
          `the Python interpreter '${exe}' (BRISK_PYTHON=${configured}) is not executable by other users, and instances run as uids of their own; point BRISK_PYTHON at a system interpreter such as /usr/bin/python3`,
          { retryable: false },
        );
      }
      return exe;
    });
    return this.python;
  }

  /**
   * Create (once) the directory of instance directories. With per-instance
   * uids it is searchable but not listable (0711), and holds a copy of the
   * runtime bundle every uid can read, wherever the original lives.
   */
  private prepareBackendDir(): Promise<BackendDir> {
    this.backendDir ??= (async () => {
      const dir = await mkdtemp(path.join(this.opts.tmpDir ?? tmpdir(), BACKEND_DIR_PREFIX));
      this.backendDirPath = dir;
      // Who owns it: a later backend reaps what is left here once this process is gone.
      await writeFile(path.join(dir, OWNER_FILE), `${process.pid}\n`, { mode: 0o644 });
      if (this.uids === undefined) return { dir, runtimePath: this.runtimePath, pythonRuntimePath: this.pythonRuntimePath };
      try {
        await chmod(dir, 0o711);
        const runtimePath = path.join(dir, 'runtime.mjs');
        await copyFile(this.runtimePath, runtimePath);
        await chmod(runtimePath, 0o644);
        const pythonRuntimePath = path.join(dir, 'brisk_runtime.py');
        await copyFile(this.pythonRuntimePath, pythonRuntimePath);
        await chmod(pythonRuntimePath, 0o644);
        return { dir, runtimePath, pythonRuntimePath };
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    })();
    return this.backendDir.catch((err: unknown) => {
      this.backendDir = undefined;
      if (err instanceof BriskError) throw err;
      throw new PlatformError('INSTANCE_START_FAILED', `could not prepare the process backend's directory: ${(err as Error).message}`, { cause: err });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.instances].map((i) => i.destroy()));
    process.off('exit', this.onParentExit);
    this.freezer?.close();
    const dir = await this.backendDir?.catch(() => undefined);
    if (dir !== undefined) await rm(dir.dir, { recursive: true, force: true });
  }

  /** Live children, for tests and stats. */
  get size(): number {
    return this.instances.size;
  }

  /** PIDs of live children, for tests. */
  pids(): number[] {
    return [...this.instances].map((i) => i.pid).filter((p): p is number => p !== undefined);
  }
}

interface ProcessInstanceOptions {
  /** The instance's private directory, removed when it is destroyed. */
  dir: string;
  /** Its own uid, if it has one: every process of that uid belongs to the instance. */
  uid?: number;
  /** Its own cgroup, if it has one: every process it starts is in there, and is frozen and killed through it. */
  cgroup?: InstanceCgroup;
  logger?: Logger;
  /** Cap on a result's JSON, passed to the runtime client. */
  maxResultBytes?: number;
  /** Called once the instance is gone (processes, directory), to release its uid. */
  onDestroyed?: (instance: ProcessInstance) => Promise<void>;
}

/** One child process running the runtime server. */
export class ProcessInstance implements Instance {
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  /** Talks to the child's runtime once it is listening. */
  private client: RuntimeClient | undefined;
  private stderrTail = '';
  private destroyPromise: Promise<void> | undefined;
  private readyLine: ((address: string) => void) | undefined;
  private killedForTimeout = false;
  /** Exchanges with the runtime in progress (several /runs at once when the function's concurrency allows). */
  private exchanges = 0;
  /** Signals to the instance's uid, in order: a late CONT must never land after the next STOP. */
  private uidSignals: Promise<unknown> = Promise.resolve();
  private readonly logger: Logger | undefined;
  /** This instance's package files, when its function has some. */
  private packageDir: string | undefined;
  /**
   * Calls waiting on the child's exit. A Set rather than `exited.then()` per
   * call: reactions on a promise that stays pending for the instance's whole
   * life would pile up, one per activation.
   */
  private readonly exitListeners = new Set<(info: ExitInfo) => void>();

  constructor(
    readonly id: string,
    readonly spec: InstanceSpec,
    private readonly child: ChildProcess,
    private readonly opts: ProcessInstanceOptions,
  ) {
    this.logger = opts.logger;
    let resolveExited: (info: ExitInfo) => void = () => undefined;
    this.exited = new Promise<ExitInfo>((resolve) => {
      resolveExited = resolve;
    });
    const finish = (info: ExitInfo): void => {
      if (this.exitInfo !== undefined) return;
      this.exitInfo = info;
      // Whatever still holds the pipes (a grandchild) no longer holds us, nor our descriptors.
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      resolveExited(info);
      for (const l of [...this.exitListeners]) l(info);
      this.exitListeners.clear();
    };
    let stdioClosed = false;
    child.once('close', () => {
      stdioClosed = true;
    });
    // 'exit', not 'close': 'close' waits for every holder of the pipes, grandchildren included.
    child.once('exit', (exitCode, signal) => {
      const info = { exitCode, signal };
      if (stdioClosed) return finish(info);
      // A moment for the end of stderr (an OOM report), then on regardless.
      const timer = setTimeout(() => finish(info), STDIO_CLOSE_GRACE_MS);
      child.once('close', () => {
        clearTimeout(timer);
        finish(info);
      });
    });
    child.once('error', (err) => {
      // spawn failure (ENOENT, EACCES …): no 'exit' may follow a failed spawn on some paths.
      this.stderrTail += `\nspawn error: ${err.message}`;
      if (child.pid === undefined) finish({ exitCode: null, signal: null });
    });
    child.stdin?.on('error', () => undefined);
    this.watchStdout();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-STDERR_TAIL_BYTES);
    });
  }

  /** The instance's own uid, when it has one. */
  get uid(): number | undefined {
    return this.opts.uid;
  }

  /** The instance's private directory (socket, code, TMPDIR). */
  get dir(): string {
    return this.opts.dir;
  }

  get pid(): number | undefined {
    return this.exitInfo === undefined ? this.child.pid : undefined;
  }

  /** Where the runtime listens, once it is ready. */
  get address(): RuntimeAddress | undefined {
    return this.client?.address;
  }

  private watchStdout(): void {
    const out = this.child.stdout;
    if (!out) return;
    out.setEncoding('utf8');
    let pending = '';
    const onData = (s: string): void => {
      pending += s;
      const m = /BRISK_RUNTIME_READY (\S+)\n/.exec(pending);
      if (m) {
        out.off('data', onData);
        // From now on stdout only carries stray writes: drain it.
        out.on('data', () => undefined);
        this.readyLine?.(m[1] as string);
      } else if (pending.length > 64 * 1024) {
        pending = pending.slice(-1024);
      }
    };
    out.on('data', onData);
  }

  /** Resolve once the child printed its READY line; reject on exit or after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.killNow();
        reject(new PlatformError('INSTANCE_START_TIMEOUT', `runtime did not become ready within ${timeoutMs} ms`, { data: { stderr: this.stderrTail.slice(-2000) } }));
      }, timeoutMs);
      this.readyLine = (address) => {
        clearTimeout(timer);
        // The READY line names the socket path, or the port it got.
        const addr: RuntimeAddress = /^\d+$/.test(address) ? { host: '127.0.0.1', port: Number(address) } : { socketPath: address };
        const max = this.opts.maxResultBytes;
        this.client = new RuntimeClient(addr, { label: `instance ${this.id}`, ...(max !== undefined ? { maxResultBytes: max } : {}) });
        resolve();
      };
      void this.exited.then((info) => {
        clearTimeout(timer);
        reject(new PlatformError('INSTANCE_START_FAILED', `runtime exited before ready (code ${info.exitCode}, signal ${info.signal}): ${this.stderrTail.slice(-2000)}`));
      });
    });
  }

  /**
   * The package files, in the instance's private directory (`<dir>/package`,
   * owned by the executor, mode 0755 inside the instance's 0700 directory):
   * only this instance reaches them, and with a uid of its own it cannot
   * change them (the files belong to the executor and are read-only).
   */
  async preparePackage(fill: (hostDir: string) => Promise<void>): Promise<string> {
    if (this.packageDir !== undefined) throw new PlatformError('PACKAGE_ALREADY_PREPARED', `instance ${this.id} already holds a package`, { retryable: false });
    const dir = path.join(this.opts.dir, 'package');
    this.packageDir = dir;
    await mkdir(dir, { mode: 0o755 });
    await fill(dir);
    return dir;
  }

  init(req: InitRequest): Promise<void> {
    return this.call((client) => client.init(req), '/init');
  }

  run(req: RunRequest, timeoutMs: number): Promise<RunAnswer> {
    return this.call((client) => client.run(req, timeoutMs), '/run');
  }

  /**
   * One exchange with the runtime (the client bounds it by its deadline and
   * its size caps), raced against the child's exit. What differs from other
   * backends is only the diagnosis: a deadline kills the child (`timeout`); a
   * broken connection gives the child {@link EXIT_GRACE_MS} to show it died
   * (crash, OOM) before it counts as unreachable; an answer outside the
   * protocol or over its caps retires the child at once.
   */
  private call<T>(exchange: (client: RuntimeClient) => Promise<T>, urlPath: string): Promise<T> {
    if (this.exitInfo !== undefined || this.destroyPromise !== undefined) {
      return Promise.reject(this.exitInfo ? this.exitFailure(this.exitInfo) : new InstanceFailure({ kind: 'unreachable', message: 'instance destroyed' }, `instance ${this.id} was destroyed`));
    }
    const client = this.client;
    if (client === undefined) {
      return Promise.reject(new InstanceFailure({ kind: 'unreachable', message: 'instance not ready' }, `instance ${this.id} has not started listening`));
    }
    this.exchanges++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const onExit = (info: ExitInfo): void => finish(() => reject(this.exitFailure(info)));
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        this.exchanges--;
        clearTimeout(graceTimer);
        this.exitListeners.delete(onExit);
        fn();
      };
      this.exitListeners.add(onExit);
      exchange(client).then(
        (value) => finish(() => resolve(value)),
        (err: unknown) => {
          if (settled) return;
          if (err instanceof RuntimeTimeoutError) {
            // Other calls still running on it (concurrency > 1) are left to finish; the pool retires it after them.
            const alone = this.exchanges <= 1;
            return finish(() => {
              if (alone) {
                this.killedForTimeout = true;
                this.killNow();
              }
              reject(new InstanceFailure({ kind: 'timeout' }, `instance ${this.id} exceeded its deadline on ${urlPath}`));
            });
          }
          if (!(err instanceof RuntimeConnectionError)) {
            // Garbled or oversized: the function's code tampered with its runtime; it serves no one again.
            if (err instanceof InstanceFailure) this.killNow();
            return finish(() => reject(err));
          }
          graceTimer = setTimeout(() => {
            finish(() => reject(new InstanceFailure({ kind: 'unreachable', message: err.message }, `instance ${this.id} unreachable: ${err.message}`)));
          }, EXIT_GRACE_MS);
        },
      );
    });
  }

  private exitFailure(info: ExitInfo): InstanceFailure {
    let fault: InstanceFault;
    if (this.killedForTimeout) fault = { kind: 'timeout' };
    else if (OOM_PATTERN.test(this.stderrTail)) fault = { kind: 'oom' };
    else fault = { kind: 'crash', exitCode: info.exitCode, signal: info.signal };
    const detail = fault.kind === 'crash' ? ` (code ${info.exitCode}, signal ${info.signal})` : '';
    return new InstanceFailure(fault, `instance ${this.id} ${fault.kind === 'crash' ? 'crashed' : fault.kind}${detail}`);
  }

  /** SIGKILL the child's process group now; synchronous. */
  killNow(): void {
    this.signalGroup('SIGKILL');
  }

  /**
   * {@link killNow} plus every process of the instance's uid, blocking: for
   * the executor's 'exit' handler, where nothing asynchronous runs.
   */
  killAllNow(): void {
    this.signalGroup('SIGKILL');
    const cgroup = this.opts.cgroup;
    if (cgroup !== undefined) {
      cgroup.killAll();
      cgroup.remove();
    } else if (this.opts.uid !== undefined) signalUidSync(this.opts.uid, 'KILL');
  }

  /**
   * Signal the process group the child leads (spawned detached). Also after
   * the child itself exited: members it left behind keep the group alive.
   */
  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is gone.
    }
  }

  /** Queue a signal to every process of the instance's uid (those that left its group too). */
  private signalUid(signal: UidSignal): Promise<unknown> {
    const uid = this.opts.uid;
    if (uid === undefined) return Promise.resolve();
    this.uidSignals = this.uidSignals.then(() => signalUid(uid, signal));
    return this.uidSignals;
  }

  /**
   * Freeze every process of the instance: an idle instance burns no CPU. The
   * process group gets SIGSTOP; what may have left it is stopped through the
   * instance's cgroup (its member list), or without one by a helper process
   * of its uid.
   */
  async pause(): Promise<void> {
    if (this.destroyPromise !== undefined) return;
    this.signalGroup('SIGSTOP');
    const cgroup = this.opts.cgroup;
    if (cgroup === undefined) {
      await this.signalUid('STOP');
      return;
    }
    cgroup.signalAll('SIGSTOP');
  }

  /**
   * Thaw it. The group at once, so the runtime serves the next /run without
   * waiting; processes that left the group a moment later (their signal
   * needs a helper process of the instance's uid).
   */
  async resume(): Promise<void> {
    const cgroup = this.opts.cgroup;
    if (cgroup !== undefined) {
      this.signalGroup('SIGCONT');
      cgroup.signalAll('SIGCONT');
      return;
    }
    this.signalGroup('SIGCONT');
    void this.signalUid('CONT');
  }

  /**
   * Kill everything the instance runs (its process group and, with a uid of
   * its own, every process of that uid: a `setsid` grandchild too), then
   * remove its directory. Idempotent.
   */
  destroy(): Promise<void> {
    this.destroyPromise ??= (async () => {
      this.signalGroup('SIGKILL');
      const cgroup = this.opts.cgroup;
      // With a cgroup, what left the group is killed through it below, once the runtime is gone.
      if (cgroup === undefined) await this.signalUid('KILL');
      this.client?.close();
      await this.exited;
      if (cgroup !== undefined) await removeCgroup(cgroup);
      await rm(this.opts.dir, { recursive: true, force: true });
      await this.opts.onDestroyed?.(this);
      this.logger?.debug({ instance: this.id }, 'process instance destroyed');
    })();
    return this.destroyPromise;
  }
}

/**
 * Kill what is left in a killed instance's cgroup (processes that left its
 * process group) and remove it. Usually it is empty and goes at once; killed
 * processes take a moment to exit, so it is tried a few times more. One left
 * behind is removed when the backend closes (or by the next one to start).
 */
async function removeCgroup(cgroup: InstanceCgroup): Promise<void> {
  for (let i = 0; i < 20 && !cgroup.remove(); i++) {
    cgroup.killAll();
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
