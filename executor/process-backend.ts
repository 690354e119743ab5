import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BuildError, PlatformError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { InitRequest, RunRequest, RunResponse, RuntimeErrorBody } from '../runtime/protocol.js';
import { InstanceFailure, type ExecutorBackend, type Instance, type InstanceFault, type InstanceSpec } from './types.js';
import { runtimeBundlePath } from '../core/package-root.js';

export interface ProcessBackendOptions {
  /**
   * The bundled runtime server. Defaults to `dist/runtime/server.mjs` of this
   * package, wherever the process was started from (see core/package-root.ts).
   */
  runtimePath?: string;
  /** The node binary; defaults to the one running us. */
  nodePath?: string;
  /** How long a new child may take to print its READY line. Default 10 s. */
  readyTimeoutMs?: number;
  /** Where children write function bundles; default: the OS temp dir. */
  codeDir?: string;
  /**
   * Parent of each instance's package directory (a function's package
   * files); on the package cache's filesystem, so files are hard-linked.
   * Default: the OS temp dir.
   */
  packageDir?: string;
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
  logger?: Logger;
}

/** Bytes of a child's stderr kept to diagnose a crash (an OOM report is ~2 KB). */
const STDERR_TAIL_BYTES = 16 * 1024;
/** After a broken connection, how long to wait for the child's exit before calling it unreachable. */
const EXIT_GRACE_MS = 1000;
/** An /init may take the function's timeout, but never less than this (bundles can be large). */
const MIN_INIT_TIMEOUT_MS = 10_000;
/** V8's messages when the heap limit is hit. */
const OOM_PATTERN = /heap out of memory|Allocation failed - process out of memory|Reached heap limit/i;

interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Answer of the runtime's HTTP server. */
interface RuntimeReply {
  status: number;
  body: unknown;
}

/** The runtime answered, but not with JSON: something inside the instance rewrote its answer. */
class GarbledAnswer extends Error {}

/** Where a runtime server listens: a unix socket, or a TCP port on loopback. */
export type RuntimeAddress = { socketPath: string } | { host: string; port: number };

/** Longest unix socket path that fits `sun_path` (108 bytes on Linux, with its NUL). */
const MAX_SOCKET_PATH = 100;

/** POST JSON to a runtime server and parse the JSON answer. */
export function postRuntime(agent: http.Agent, address: RuntimeAddress, urlPath: string, body: unknown): { promise: Promise<RuntimeReply>; abort: () => void } {
  const text = JSON.stringify(body);
  let req: http.ClientRequest | undefined;
  const promise = new Promise<RuntimeReply>((resolve, reject) => {
    req = http.request(
      {
        ...address,
        path: urlPath,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(raw) as unknown });
          } catch {
            reject(new GarbledAnswer(`runtime answered ${res.statusCode ?? '?'} with non-JSON: ${raw.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
  return { promise, abort: () => req?.destroy() };
}

/**
 * Turn a non-200 runtime answer into a typed error. `INIT_FAILED` and
 * `HANDLER_NOT_FOUND` are the function's fault (its code throws on import or
 * lacks the export): a {@link BuildError} carrying `errorType`, `errorMessage`
 * and `stack` in `data`, so the executor can report them as a function error.
 * Anything else is a protocol problem of the platform.
 */
export function runtimeReplyError(reply: RuntimeReply, what: string): Error {
  const err = (reply.body as Partial<RuntimeErrorBody> | undefined)?.error;
  const code = typeof err?.code === 'string' ? err.code : 'RUNTIME_PROTOCOL_ERROR';
  const message = typeof err?.message === 'string' ? err.message : `runtime answered ${reply.status} to ${what}`;
  if (code === 'INIT_FAILED' || code === 'HANDLER_NOT_FOUND') {
    return new BuildError(message, {
      errorType: err?.errorType ?? (code === 'INIT_FAILED' ? 'Error' : 'HandlerNotFound'),
      errorMessage: message,
      ...(err?.stack !== undefined ? { stack: err.stack } : {}),
    }, code);
  }
  return new PlatformError(code === 'BUSY' ? 'INSTANCE_BUSY' : code, `${what}: ${message}`, { retryable: true, data: { status: reply.status } });
}

/**
 * Runs each instance as a child `node` process on 127.0.0.1. Fast (an instance
 * starts in ~50 ms) but NOT a sandbox: function code runs with the executor's
 * user and can reach the network and the file system. Use the Docker backend
 * for untrusted code.
 */
export class ProcessBackend implements ExecutorBackend {
  readonly name = 'process' as const;
  private readonly runtimePath: string;
  private readonly nodePath: string;
  private readonly readyTimeoutMs: number;
  private readonly instances = new Set<ProcessInstance>();
  private closed = false;
  /**
   * Children listen on unix sockets in this private directory: cheaper than
   * loopback TCP per call (measured here: ~25 % less client CPU per request).
   */
  private socketDir: Promise<string> | undefined;
  /** Synchronous last resort: children must not outlive us. */
  private readonly onParentExit = (): void => {
    for (const inst of this.instances) inst.killNow();
  };

  constructor(private readonly opts: ProcessBackendOptions = {}) {
    this.runtimePath = path.resolve(opts.runtimePath ?? runtimeBundlePath());
    this.nodePath = opts.nodePath ?? process.execPath;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
    process.on('exit', this.onParentExit);
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
  }

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    if (this.closed) throw new PlatformError('BACKEND_CLOSED', 'process backend is closed', { retryable: true });
    const id = `proc-${randomUUID().slice(0, 8)}`;
    this.socketDir ??= mkdtemp(path.join(tmpdir(), 'brisk-rt-'));
    const socketPath = path.join(await this.socketDir, `${id}.sock`);
    // A temp dir too deep for sun_path: fall back to an ephemeral loopback port.
    const listen: Record<string, string> =
      Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH
        ? { BRISK_RUNTIME_SOCKET: socketPath }
        : { BRISK_RUNTIME_PORT: '0', BRISK_RUNTIME_HOST: '127.0.0.1' };
    const env: Record<string, string> = {
      ...this.opts.env,
      ...listen,
      BRISK_RUNTIME_EXIT_ON_STDIN_CLOSE: '1',
      // Logs come back in each /run answer; nothing reads markers on the pipes.
      BRISK_RUNTIME_LOG_MARKERS: '0',
      ...(this.opts.codeDir !== undefined ? { BRISK_RUNTIME_CODE_DIR: this.opts.codeDir } : {}),
      ...(this.opts.platformSocket !== undefined ? { BRISK_PLATFORM_SOCKET: this.opts.platformSocket } : {}),
    };
    // The heap cap approximates the memory limit; the process is not otherwise confined.
    const heapMb = Math.max(16, Math.floor(spec.memoryMb));
    const child = spawn(this.nodePath, [`--max-old-space-size=${heapMb}`, this.runtimePath], {
      // stdin is a pipe only so the child notices our death (EOF) and exits.
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    const inst = new ProcessInstance(id, spec, child, this.opts.logger, this.opts.packageDir);
    this.instances.add(inst);
    void inst.exited.then(() => this.instances.delete(inst));
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

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.instances].map((i) => i.destroy()));
    process.off('exit', this.onParentExit);
    const dir = await this.socketDir?.catch(() => undefined);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
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

/** One child process running the runtime server. */
export class ProcessInstance implements Instance {
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private addr: RuntimeAddress | undefined;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private stderrTail = '';
  private destroyPromise: Promise<void> | undefined;
  private readyLine: ((address: string) => void) | undefined;
  private killedForTimeout = false;
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
    private readonly logger?: Logger,
    private readonly packageBase: string = tmpdir(),
  ) {
    this.exited = new Promise<ExitInfo>((resolve) => {
      // 'close' waits for stdio to end, so the stderr tail (OOM report) is complete.
      child.once('close', (exitCode, signal) => {
        const info = { exitCode, signal };
        this.exitInfo = info;
        resolve(info);
        for (const l of [...this.exitListeners]) l(info);
        this.exitListeners.clear();
      });
    });
    child.once('error', (err) => {
      // spawn failure (ENOENT …): no 'close' may follow a failed spawn on some paths.
      this.stderrTail += `\nspawn error: ${err.message}`;
      if (this.exitInfo === undefined) child.emit('close', null, null);
    });
    child.stdin?.on('error', () => undefined);
    this.watchStdout();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-STDERR_TAIL_BYTES);
    });
  }

  get pid(): number | undefined {
    return this.exitInfo === undefined ? this.child.pid : undefined;
  }

  /** Where the runtime listens, once it is ready. */
  get address(): RuntimeAddress | undefined {
    return this.addr;
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
        this.addr = /^\d+$/.test(address) ? { host: '127.0.0.1', port: Number(address) } : { socketPath: address };
        resolve();
      };
      void this.exited.then((info) => {
        clearTimeout(timer);
        reject(new PlatformError('INSTANCE_START_FAILED', `runtime exited before ready (code ${info.exitCode}, signal ${info.signal}): ${this.stderrTail.slice(-2000)}`));
      });
    });
  }

  /**
   * A private directory for the package files, filled by `fill`. Not a
   * sandbox: the child runs as the executor's user, so read-only is only
   * the files' mode here.
   */
  async preparePackage(fill: (hostDir: string) => Promise<void>): Promise<string> {
    if (this.packageDir !== undefined) throw new PlatformError('PACKAGE_ALREADY_PREPARED', `instance ${this.id} already holds a package`, { retryable: false });
    this.packageDir = await mkdtemp(path.join(this.packageBase, `brisk-pkg-${this.id}-`));
    await fill(this.packageDir);
    return this.packageDir;
  }

  async init(req: InitRequest): Promise<void> {
    const reply = await this.call('/init', req, Math.max(MIN_INIT_TIMEOUT_MS, req.timeoutMs));
    if (reply.status !== 200) throw runtimeReplyError(reply, 'init');
  }

  async run(req: RunRequest, timeoutMs: number): Promise<RunResponse> {
    const reply = await this.call('/run', req, timeoutMs);
    if (reply.status !== 200) throw runtimeReplyError(reply, 'run');
    return reply.body as RunResponse;
  }

  /**
   * One request, raced against the timeout and the child's exit. A broken
   * connection gives the child {@link EXIT_GRACE_MS} to show it died (crash,
   * OOM) before it counts as unreachable.
   */
  private call(urlPath: string, body: unknown, timeoutMs: number): Promise<RuntimeReply> {
    if (this.exitInfo !== undefined || this.destroyPromise !== undefined) {
      return Promise.reject(this.exitInfo ? this.exitFailure(this.exitInfo) : new InstanceFailure({ kind: 'unreachable', message: 'instance destroyed' }, `instance ${this.id} was destroyed`));
    }
    const address = this.addr;
    if (address === undefined) {
      return Promise.reject(new InstanceFailure({ kind: 'unreachable', message: 'instance not ready' }, `instance ${this.id} has not started listening`));
    }
    return new Promise<RuntimeReply>((resolve, reject) => {
      let settled = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const request = postRuntime(this.agent, address, urlPath, body);
      const onExit = (info: ExitInfo): void => finish(() => reject(this.exitFailure(info)));
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(graceTimer);
        this.exitListeners.delete(onExit);
        fn();
      };
      const timer = setTimeout(() => {
        finish(() => {
          this.killedForTimeout = true;
          this.killNow();
          request.abort();
          reject(new InstanceFailure({ kind: 'timeout' }, `instance ${this.id} exceeded ${timeoutMs} ms on ${urlPath}`));
        });
      }, timeoutMs);
      this.exitListeners.add(onExit);
      request.promise.then(
        (reply) => finish(() => resolve(reply)),
        (err: unknown) => {
          if (settled) return;
          if (err instanceof GarbledAnswer) {
            finish(() => reject(new InstanceFailure({ kind: 'garbled', message: 'the instance answered with something that is not JSON' }, `instance ${this.id}: ${err.message}`)));
            return;
          }
          const message = err instanceof Error ? err.message : String(err);
          graceTimer = setTimeout(() => {
            finish(() => reject(new InstanceFailure({ kind: 'unreachable', message }, `instance ${this.id} unreachable: ${message}`)));
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

  /** Send SIGKILL now; synchronous so it can run in a process 'exit' handler. */
  killNow(): void {
    if (this.exitInfo !== undefined) return;
    try {
      this.child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }

  destroy(): Promise<void> {
    this.destroyPromise ??= (async () => {
      this.killNow();
      this.agent.destroy();
      await this.exited;
      if (this.addr !== undefined && 'socketPath' in this.addr) await rm(this.addr.socketPath, { force: true });
      if (this.packageDir !== undefined) await rm(this.packageDir, { recursive: true, force: true });
      this.logger?.debug({ instance: this.id }, 'process instance destroyed');
    })();
    return this.destroyPromise;
  }
}
