import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rm, rmdir } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { BriskError, BuildError, PlatformError, ServiceUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  ACTIVATION_END_MARKER,
  ACTIVATION_START_MARKER,
  type InitRequest,
  type RunRequest,
  type RunResponse,
  type RuntimeErrorBody,
} from '../runtime/protocol.js';
import { InstanceFailure, type ExecutorBackend, type Instance, type InstanceFault, type InstanceSpec } from './types.js';
import { packageRoot } from '../core/package-root.js';

/** Where the per-container socket directory is mounted inside the container. */
export const CONTAINER_SOCKET_DIR = '/run/brisk';
/** The socket the runtime listens on inside the container (`BRISK_RUNTIME_SOCKET`). */
export const CONTAINER_SOCKET_PATH = `${CONTAINER_SOCKET_DIR}/rt.sock`;
/** Where the executor's platform API directory is mounted (read-only) inside the container. */
export const CONTAINER_PLATFORM_DIR = '/run/brisk-platform';
/**
 * Where a function's package files appear inside its container: a per-container
 * host directory, bind-mounted read-only at creation (the pool's containers
 * exist before their function is known) and filled by the executor at /init.
 * Lambda's path, so code written for Lambda that hard-codes it still works.
 */
export const CONTAINER_PACKAGE_DIR = '/var/task';
/** Labels every Brisk container carries, so leftovers can be found and removed. */
export const LABEL_MANAGED = 'brisk.managed';
export const LABEL_EXECUTOR = 'brisk.executor';
const LABEL_SOCKET_DIR = 'brisk.socketDir';
const LABEL_MEMORY = 'brisk.memoryMb';
const LABEL_PACKAGE_DIR = 'brisk.packageDir';

/** The uid:gid functions run as (the `brisk` user of the runtime image). */
const RUNTIME_USER = '1000:1000';
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface DockerBackendOptions {
  /** Runtime image, e.g. `brisk-runtime:latest` (BRISK_RUNTIME_IMAGE). */
  image: string;
  /** This executor's id; labels its containers so a restart can remove leftovers. */
  executorId: string;
  /**
   * Host directory holding one sub-directory (and socket) per container. Must
   * belong to this executor alone. Default: `<tmpdir>/brisk-<hash of executorId>`.
   */
  socketDir?: string;
  /** Docker client; default `new Dockerode()` (DOCKER_HOST or /var/run/docker.sock). */
  docker?: Dockerode;
  logger?: Logger;
  /** Builds `image` when it is missing; default runs `infra/runtime/build-offline.sh`. */
  buildImage?: () => Promise<void>;
  /**
   * sha256 of the runtime bundle this executor ships (dist/runtime/server.mjs);
   * an offline-built image of another bundle is rebuilt at start.
   */
  runtimeHash?: string;
  /**
   * Host directory holding one package directory per container, mounted
   * read-only at {@link CONTAINER_PACKAGE_DIR}. On the package cache's
   * filesystem (files are hard-linked) and, when the executor itself runs in
   * a container, at the same path as on the host. Default: `<socketDir>-packages`.
   */
  packageDir?: string;
  /** Processes + threads per container; a node process alone uses ~11. Default 64. */
  pidsLimit?: number;
  /** How long a new container may take to answer /healthz. Default 10 s. */
  readyTimeoutMs?: number;
  /** Size of the tmpfs mounted at /tmp, in MiB. Default 64. */
  tmpfsMb?: number;
  /**
   * The executor's platform API socket (context.state / context.objects). Its
   * directory is bind-mounted read-only at {@link CONTAINER_PLATFORM_DIR}: with
   * `NetworkMode: none` a socket is the only way out. Absent: no platform API.
   */
  platformSocket?: string;
}

/** One activation's output as cut from the container's stdout/stderr. */
export interface ActivationLogSegment {
  /** Text after the start marker on its line (the activation id if the runtime prints it), '' if none. */
  tag: string;
  stdout: string[];
  stderr: string[];
}

type BackendStatus = 'created' | 'starting' | 'ready' | 'closing' | 'closed';

/**
 * Runs each instance in its own hardened container: no network (unless the
 * function asks for egress), read-only root, tmpfs /tmp, every capability
 * dropped, non-root user, memory/pids/CPU-share limits. The executor talks to
 * the runtime over a unix socket in a bind-mounted per-container directory,
 * which works with `NetworkMode: none` and avoids port bookkeeping.
 *
 * This class only creates and drives single instances; pooling, pausing idle
 * instances and timing belong to the warm pool above it.
 */
export class DockerBackend implements ExecutorBackend {
  readonly name = 'docker' as const;
  readonly image: string;
  readonly executorId: string;
  readonly socketDir: string;
  readonly packageDir: string;
  private readonly docker: Dockerode;
  private readonly logger: Logger;
  private readonly buildImage: () => Promise<void>;
  private readonly runtimeHash: string | undefined;
  private readonly pidsLimit: number;
  private readonly readyTimeoutMs: number;
  private readonly tmpfsMb: number;
  private readonly platformSocket: string | undefined;
  private readonly instances = new Set<DockerInstance>();
  private statusValue: BackendStatus = 'created';
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(opts: DockerBackendOptions) {
    this.image = opts.image;
    this.executorId = opts.executorId;
    this.socketDir = path.resolve(opts.socketDir ?? defaultSocketDir(opts.executorId));
    this.packageDir = path.resolve(opts.packageDir ?? `${this.socketDir}-packages`);
    this.docker = opts.docker ?? new Dockerode();
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.buildImage = opts.buildImage ?? (() => runOfflineBuild(this.image));
    this.runtimeHash = opts.runtimeHash;
    this.pidsLimit = opts.pidsLimit ?? 64;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
    this.tmpfsMb = opts.tmpfsMb ?? 64;
    this.platformSocket = opts.platformSocket !== undefined ? path.resolve(opts.platformSocket) : undefined;
    // `<socketDir>/<24 hex>/rt.sock` must fit in sun_path; fail at construction, not at first create.
    const longest = path.join(this.socketDir, 'x'.repeat(24), 'rt.sock');
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
      throw new PlatformError('CONFIG_INVALID', `socketDir '${this.socketDir}' is too long for a unix socket path`, {
        retryable: false,
        status: 500,
      });
    }
  }

  get status(): BackendStatus {
    return this.statusValue;
  }

  /** Ping Docker, build the image if missing, remove this executor's leftovers. Safe to call twice. */
  start(): Promise<void> {
    this.startPromise ??= this.doStart().catch((err: unknown) => {
      this.startPromise = undefined;
      this.statusValue = 'created';
      throw err;
    });
    return this.startPromise;
  }

  /** Resolves once {@link start} has completed. */
  waitUntilReady(): Promise<void> {
    return this.start();
  }

  private async doStart(): Promise<void> {
    this.statusValue = 'starting';
    try {
      await this.docker.ping();
    } catch (err) {
      throw new ServiceUnavailableError('docker', `cannot reach the Docker daemon (${errorMessage(err)}); is dockerd running and is its socket readable?`, err);
    }
    await this.ensureImage();
    await this.removeLeftovers();
    await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    await mkdir(this.packageDir, { recursive: true, mode: 0o755 });
    this.statusValue = 'ready';
    this.logger.info({ image: this.image, socketDir: this.socketDir }, 'docker backend ready');
  }

  /**
   * Build the image when it is missing, or when it is an offline build of an
   * older runtime bundle than `runtimeHash` (the runtime changed since). An
   * image built from the Dockerfile is never replaced.
   */
  private async ensureImage(): Promise<void> {
    const labels = await this.imageLabels();
    if (labels !== undefined) {
      const stale =
        this.runtimeHash !== undefined &&
        labels['brisk.runtime'] === 'offline' &&
        labels['brisk.runtime.sha256'] !== this.runtimeHash;
      if (!stale) return;
      this.logger.warn({ image: this.image }, 'runtime image holds an older runtime; rebuilding it offline');
    } else {
      this.logger.warn({ image: this.image }, 'runtime image missing; building it offline');
    }
    try {
      await this.buildImage();
    } catch (err) {
      throw new PlatformError('RUNTIME_IMAGE_BUILD_FAILED', `could not build runtime image '${this.image}': ${errorMessage(err)}`, {
        cause: err,
        retryable: false,
        status: 500,
      });
    }
    if (!(await this.imageExists())) {
      throw new PlatformError('RUNTIME_IMAGE_MISSING', `runtime image '${this.image}' still missing after the build`, { retryable: false, status: 500 });
    }
  }

  private async imageExists(): Promise<boolean> {
    return (await this.imageLabels()) !== undefined;
  }

  /** The image's labels, or undefined when there is no such image. */
  private async imageLabels(): Promise<Record<string, string> | undefined> {
    try {
      const info = await this.docker.getImage(this.image).inspect();
      return (info.Config?.Labels ?? {}) as Record<string, string>;
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined;
      throw new ServiceUnavailableError('docker', `cannot inspect image '${this.image}': ${errorMessage(err)}`, err);
    }
  }

  /** Containers (and their socket dirs) a previous run of this executor left behind. */
  private async removeLeftovers(): Promise<number> {
    const leftovers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_EXECUTOR}=${this.executorId}`] },
    });
    await Promise.all(
      leftovers.map(async (c) => {
        await removeContainer(this.docker.getContainer(c.Id));
        const dir = c.Labels[LABEL_SOCKET_DIR];
        // Only delete directories inside our own socketDir (packageDir), whatever a label says.
        if (dir !== undefined && path.dirname(dir) === this.socketDir) await rm(dir, { recursive: true, force: true });
        const pkg = c.Labels[LABEL_PACKAGE_DIR];
        if (pkg !== undefined && path.dirname(pkg) === this.packageDir) await rm(pkg, { recursive: true, force: true });
      }),
    );
    if (leftovers.length > 0) this.logger.info({ count: leftovers.length }, 'removed leftover containers');
    return leftovers.length;
  }

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    if (this.statusValue !== 'ready') {
      throw new PlatformError('EXECUTOR_NOT_READY', `docker backend is ${this.statusValue}, not ready`, { retryable: true });
    }
    const suffix = randomBytes(12).toString('hex');
    const name = `brisk-${this.executorId}-${suffix}`;
    const hostDir = path.join(this.socketDir, suffix);
    await prepareSocketDir(hostDir);
    const packageHostDir = path.join(this.packageDir, suffix);
    await mkdir(packageHostDir, { mode: 0o755 });

    let container: Dockerode.Container | undefined;
    try {
      container = await this.docker.createContainer(this.containerOptions(name, hostDir, packageHostDir, spec));
      const instance = new DockerInstance({
        id: name,
        spec,
        container,
        docker: this.docker,
        socketPath: path.join(hostDir, 'rt.sock'),
        hostDir,
        packageHostDir,
        logger: this.logger.child({ instance: name }),
        onDestroyed: (i) => this.instances.delete(i),
      });
      this.instances.add(instance);
      await container.start();
      await instance.waitUntilReady(this.readyTimeoutMs);
      // A close() that ran while we were starting would not have seen a ready instance.
      if (this.statusValue !== 'ready') {
        await instance.destroy();
        throw new PlatformError('EXECUTOR_CLOSED', 'docker backend closed while an instance was starting');
      }
      return instance;
    } catch (err) {
      if (container !== undefined) await removeContainer(container).catch(() => undefined);
      await rm(hostDir, { recursive: true, force: true });
      await rm(packageHostDir, { recursive: true, force: true });
      for (const i of this.instances) if (i.id === name) this.instances.delete(i);
      if (err instanceof BriskError) throw err;
      throw new PlatformError('INSTANCE_START_FAILED', `could not start a container from '${this.image}': ${errorMessage(err)}`, { cause: err });
    }
  }

  private containerOptions(name: string, hostDir: string, packageHostDir: string, spec: InstanceSpec): Dockerode.ContainerCreateOptions {
    const memoryBytes = spec.memoryMb * 1024 * 1024;
    const platform = this.platformSocket;
    return {
      name,
      Image: this.image,
      User: RUNTIME_USER,
      WorkingDir: '/tmp',
      Env: [
        `BRISK_RUNTIME_SOCKET=${CONTAINER_SOCKET_PATH}`,
        'NODE_ENV=production',
        ...(platform !== undefined ? [`BRISK_PLATFORM_SOCKET=${CONTAINER_PLATFORM_DIR}/${path.basename(platform)}`] : []),
      ],
      Labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_EXECUTOR]: this.executorId,
        [LABEL_SOCKET_DIR]: hostDir,
        [LABEL_PACKAGE_DIR]: packageHostDir,
        [LABEL_MEMORY]: String(spec.memoryMb),
      },
      // With no network there is no interface but loopback; the socket is the only way in.
      NetworkDisabled: !spec.allowEgress,
      HostConfig: {
        NetworkMode: spec.allowEgress ? 'bridge' : 'none',
        Binds: [
          `${hostDir}:${CONTAINER_SOCKET_DIR}:rw`,
          // Read-only: the function sees its package's files but cannot change them.
          `${packageHostDir}:${CONTAINER_PACKAGE_DIR}:ro`,
          // Read-only: connecting to a socket needs no write access to the mount.
          ...(platform !== undefined ? [`${path.dirname(platform)}:${CONTAINER_PLATFORM_DIR}:ro`] : []),
        ],
        // Swap equal to memory means no swap: a function over its limit is OOM-killed, not slowed down.
        Memory: memoryBytes,
        MemorySwap: memoryBytes,
        // CPU follows memory as on Lambda: 1024 shares (one "CPU") per 2 GiB.
        CpuShares: Math.max(2, Math.floor((spec.memoryMb * 1024) / 2048)),
        // Counts threads too; caps fork bombs at a level one node process (~11 threads) and a few children fit in.
        PidsLimit: this.pidsLimit,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${this.tmpfsMb}m` },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        // tini as PID 1 reaps zombies of processes the function spawns and forwards signals.
        Init: true,
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
        // Removed explicitly: an auto-removed container cannot be inspected for OOMKilled.
        AutoRemove: false,
        RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      },
    };
  }

  /** Destroy every instance this backend created, including ones still starting. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.statusValue = 'closing';
    await Promise.all([...this.instances].map((i) => i.destroy()));
    // Containers whose create call was still in flight are not in the set yet.
    try {
      await this.removeLeftovers();
    } catch (err) {
      this.logger.warn({ err }, 'could not list containers while closing');
    }
    // rmdir, not rm -r: only an empty directory goes; a non-empty one means something still uses it.
    await rmdir(this.socketDir).catch(() => undefined);
    await rmdir(this.packageDir).catch(() => undefined);
    this.statusValue = 'closed';
  }
}

interface DockerInstanceParams {
  id: string;
  spec: InstanceSpec;
  container: Dockerode.Container;
  docker: Dockerode;
  socketPath: string;
  hostDir: string;
  packageHostDir: string;
  logger: Logger;
  onDestroyed: (instance: DockerInstance) => void;
}

/** One container running the runtime, reached over its unix socket. */
export class DockerInstance implements Instance {
  readonly id: string;
  readonly spec: InstanceSpec;
  readonly container: Dockerode.Container;
  /** Host path of the runtime's socket. */
  readonly socketPath: string;
  private readonly docker: Dockerode;
  private readonly hostDir: string;
  private readonly packageHostDir: string;
  private packagePrepared = false;
  private readonly logger: Logger;
  private readonly onDestroyed: (instance: DockerInstance) => void;
  /** One keep-alive connection: the runtime serves one activation at a time. */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private destroyPromise: Promise<void> | undefined;

  constructor(p: DockerInstanceParams) {
    this.id = p.id;
    this.spec = p.spec;
    this.container = p.container;
    this.docker = p.docker;
    this.socketPath = p.socketPath;
    this.hostDir = p.hostDir;
    this.packageHostDir = p.packageHostDir;
    this.logger = p.logger;
    this.onDestroyed = p.onDestroyed;
  }

  get destroyed(): boolean {
    return this.destroyPromise !== undefined;
  }

  /**
   * Poll `GET /healthz` on the socket until it answers 200. Fails fast when the
   * container exits first (bad image, runtime crash) instead of waiting out the timeout.
   */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const abort = new AbortController();
    let exitCode: number | undefined;
    // `not-running` resolves at once if the container has already stopped.
    this.container
      .wait({ condition: 'not-running', abortSignal: abort.signal })
      .then((r: { StatusCode?: number }) => {
        exitCode = r.StatusCode ?? -1;
      })
      .catch(() => undefined);
    try {
      for (;;) {
        if (exitCode !== undefined) {
          throw new PlatformError('INSTANCE_START_FAILED', `container exited with code ${exitCode} before its runtime was ready${await this.logTail()}`);
        }
        try {
          const res = await socketRequest({ socketPath: this.socketPath, method: 'GET', path: '/healthz', timeoutMs: 1000 });
          if (res.status === 200) return;
        } catch {
          // ENOENT / ECONNREFUSED until the runtime listens: keep polling.
        }
        if (Date.now() >= deadline) {
          throw new PlatformError('INSTANCE_START_TIMEOUT', `runtime did not answer /healthz within ${timeoutMs} ms${await this.logTail()}`);
        }
        // Short interval: the runtime is usually up ~tens of ms after start, and a probe costs ~0.1 ms.
        await sleep(3);
      }
    } finally {
      abort.abort();
    }
  }

  /** Fill the directory mounted read-only at {@link CONTAINER_PACKAGE_DIR} since creation. */
  async preparePackage(fill: (hostDir: string) => Promise<void>): Promise<string> {
    if (this.packagePrepared) throw new PlatformError('PACKAGE_ALREADY_PREPARED', `instance ${this.id} already holds a package`, { retryable: false });
    this.packagePrepared = true;
    await fill(this.packageHostDir);
    return CONTAINER_PACKAGE_DIR;
  }

  async init(req: InitRequest): Promise<void> {
    // Top-level code of the function runs during /init; bound it like the function itself (at least 10 s).
    const res = await this.call('/init', JSON.stringify(req), Math.max(10_000, req.timeoutMs));
    if (res.status === 200) return;
    const body = parseJson<RuntimeErrorBody>(res.text);
    const message = body?.error.message ?? `runtime answered ${res.status} to /init`;
    if (res.status === 409) throw new PlatformError('INSTANCE_ALREADY_INITIALIZED', message, { retryable: false, status: 500 });
    if (res.status >= 400 && res.status < 500 && body !== undefined) {
      // The function's code failed to load: the user's fault, reported like a build error.
      throw new BuildError(message, { runtimeCode: body.error.code, errorType: body.error.errorType, stack: body.error.stack }, 'FUNCTION_INIT_FAILED');
    }
    throw new PlatformError('RUNTIME_PROTOCOL_ERROR', `/init failed with ${res.status}: ${message}`);
  }

  async run(req: RunRequest, timeoutMs: number): Promise<RunResponse> {
    const res = await this.call('/run', JSON.stringify(req), timeoutMs);
    const body = parseJson<RunResponse>(res.text);
    if (res.status === 200 && (body === undefined || typeof body.ok !== 'boolean')) {
      await this.destroy();
      throw new InstanceFailure({ kind: 'garbled', message: 'the instance answered /run with something that is not a run result' }, `instance ${this.id} answered /run outside the protocol`);
    }
    if (res.status !== 200 || body === undefined) {
      const err = parseJson<RuntimeErrorBody>(res.text);
      throw new PlatformError('RUNTIME_PROTOCOL_ERROR', `/run failed with ${res.status}: ${err?.error.message ?? res.text.slice(0, 200)}`);
    }
    return body;
  }

  /**
   * POST over the socket. Timeout: the container is removed and the call
   * rejects with `timeout`. Connection failure: the container is inspected
   * to tell OOM from crash from unreachable, then removed.
   */
  private async call(urlPath: string, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    if (this.destroyed) throw new InstanceFailure({ kind: 'unreachable', message: 'instance destroyed' }, `instance ${this.id} is destroyed`);
    try {
      return await socketRequest({ socketPath: this.socketPath, agent: this.agent, method: 'POST', path: urlPath, body, timeoutMs });
    } catch (err) {
      if (err instanceof SocketTimeoutError) {
        await this.destroy();
        throw new InstanceFailure({ kind: 'timeout' }, `instance ${this.id} timed out after ${timeoutMs} ms`);
      }
      const fault = await this.diagnose(err);
      await this.destroy();
      throw new InstanceFailure(fault, `instance ${this.id} failed during ${urlPath}: ${describeFault(fault)}`);
    }
  }

  /** Why the socket failed: wait briefly for the container to stop, then read its state. */
  private async diagnose(err: unknown): Promise<InstanceFault> {
    const message = errorMessage(err);
    try {
      // The socket closes a moment before Docker records the exit; give it up to 2 s.
      await this.container.wait({ condition: 'not-running', abortSignal: AbortSignal.timeout(2000) }).catch(() => undefined);
      const info = await this.container.inspect();
      if (info.State.OOMKilled) return { kind: 'oom' };
      if (!info.State.Running) {
        const exitCode = info.State.ExitCode;
        // 128+n is how tini (and shells) report death by signal n.
        const signal = exitCode > 128 ? signalName(exitCode - 128) : null;
        return { kind: 'crash', exitCode, signal };
      }
    } catch (inspectErr) {
      return { kind: 'unreachable', message: `${message}; inspect failed: ${errorMessage(inspectErr)}` };
    }
    return { kind: 'unreachable', message };
  }

  /** Freeze the container's processes (cgroup freezer); the socket stays bound. */
  async pause(): Promise<void> {
    try {
      await this.container.pause();
    } catch (err) {
      throw new PlatformError('INSTANCE_PAUSE_FAILED', `could not pause ${this.id}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async resume(): Promise<void> {
    try {
      await this.container.unpause();
    } catch (err) {
      throw new PlatformError('INSTANCE_RESUME_FAILED', `could not resume ${this.id}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Kill and remove the container and its socket dir. Idempotent. */
  destroy(): Promise<void> {
    this.destroyPromise ??= (async () => {
      this.agent.destroy();
      try {
        await removeContainer(this.container);
      } catch (err) {
        this.logger.warn({ err }, 'could not remove container');
      }
      await rm(this.hostDir, { recursive: true, force: true });
      await rm(this.packageHostDir, { recursive: true, force: true });
      this.onDestroyed(this);
    })();
    return this.destroyPromise;
  }

  /**
   * Output the runtime could not capture itself (child processes, native
   * writes), cut per activation from the container's stdout/stderr between
   * the start/end markers. `sinceMs`: epoch ms; only lines logged from then on.
   */
  async readActivationLogs(sinceMs = 0): Promise<ActivationLogSegment[]> {
    const raw: unknown = await this.container.logs({
      stdout: true,
      stderr: true,
      follow: false,
      timestamps: true,
      // Docker takes whole seconds here; the exact cut is done on the timestamps below.
      since: Math.floor(sinceMs / 1000),
    });
    const { stdout, stderr } = await demux(this.docker, Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
    const out = cutActivations(stripTimestamps(stdout, sinceMs));
    const err = cutActivations(stripTimestamps(stderr, sinceMs));
    return mergeSegments(out, err);
  }

  private async logTail(): Promise<string> {
    try {
      const raw: unknown = await this.container.logs({ stdout: true, stderr: true, follow: false, tail: 20 });
      const { stdout, stderr } = await demux(this.docker, Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
      const text = `${stdout}${stderr}`.trim();
      return text === '' ? '' : `; last output:\n${text}`;
    } catch {
      return '';
    }
  }
}

// ---------------------------------------------------------------------------
// HTTP over the unix socket

interface SocketRequestOptions {
  socketPath: string;
  agent?: http.Agent;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Whole-request deadline (not an idle timeout): a handler may stay silent until it answers. */
  timeoutMs: number;
}

/** The request outlived its deadline; the socket was destroyed. */
class SocketTimeoutError extends Error {}

/**
 * One HTTP request over a unix socket. A plain timer rather than an
 * AbortSignal: this is the hot path of every activation (~0.4 ms in all).
 */
function socketRequest(o: SocketRequestOptions): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host: 'runtime' };
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(o.body);
    }
    let timeoutError: SocketTimeoutError | undefined;
    // After a timeout the request, the socket and the response may each report their own error; the timeout wins.
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      reject(timeoutError ?? err);
    };
    const req = http.request({ socketPath: o.socketPath, agent: o.agent ?? false, method: o.method, path: o.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        if (timeoutError !== undefined) reject(timeoutError);
        else resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
      res.on('aborted', () => fail(new Error('response aborted')));
    });
    const timer = setTimeout(() => {
      timeoutError = new SocketTimeoutError(`no answer within ${o.timeoutMs} ms`);
      req.destroy(timeoutError);
    }, o.timeoutMs);
    req.on('error', fail);
    req.end(o.body);
  });
}

// ---------------------------------------------------------------------------
// helpers

function defaultSocketDir(executorId: string): string {
  // Hashed so a 64-character executor id still leaves room in sun_path.
  const h = createHash('sha256').update(executorId).digest('hex').slice(0, 12);
  return path.join(tmpdir(), `brisk-${h}`);
}

/**
 * The runtime (uid 1000) must be able to create its socket in the directory.
 * As root we hand the directory to uid 1000; otherwise it is opened to all,
 * which is safe because only the container sees it from inside and the
 * parent socketDir is 0700.
 */
async function prepareSocketDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await chown(dir, 1000, 1000);
  } catch {
    await chmod(dir, 0o777);
  }
}

async function removeContainer(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (err) {
    const status = statusCodeOf(err);
    // 404: already gone. 409: a removal is already in progress.
    if (status === 404 || status === 409) return;
    throw err;
  }
}

/** Default image builder: `infra/runtime/build-offline.sh <image>` of this package. */
function runOfflineBuild(image: string): Promise<void> {
  const script = path.join(packageRoot(), 'infra/runtime/build-offline.sh');
  return new Promise((resolve, reject) => {
    execFile('bash', [script, image], { cwd: packageRoot(), maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${script} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

interface Demuxer {
  demuxStream(stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void;
}

/** Split Docker's multiplexed (non-TTY) log stream into stdout and stderr text. */
async function demux(docker: Dockerode, raw: Buffer): Promise<{ stdout: string; stderr: string }> {
  const modem = docker.modem as Demuxer; // @types/dockerode types modem as any
  const out = new PassThrough();
  const err = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  out.on('data', (c: Buffer) => outChunks.push(c));
  err.on('data', (c: Buffer) => errChunks.push(c));
  const source = Readable.from([raw]);
  modem.demuxStream(source, out, err);
  await new Promise<void>((resolve, reject) => {
    source.on('end', resolve);
    source.on('error', reject);
  });
  return { stdout: Buffer.concat(outChunks).toString('utf8'), stderr: Buffer.concat(errChunks).toString('utf8') };
}

/** Drop Docker's RFC 3339 timestamp prefix, keeping only lines logged at or after `sinceMs`. */
function stripTimestamps(text: string, sinceMs: number): string[] {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    const at = Date.parse(line.slice(0, space));
    if (Number.isNaN(at)) {
      lines.push(line);
      continue;
    }
    if (at >= sinceMs) lines.push(line.slice(space + 1));
  }
  return lines;
}

/** Lines between a start-marker line and the next end-marker line, per activation. */
export function cutActivations(lines: string[]): { tag: string; lines: string[] }[] {
  const segments: { tag: string; lines: string[] }[] = [];
  let current: { tag: string; lines: string[] } | undefined;
  for (const line of lines) {
    const start = line.indexOf(ACTIVATION_START_MARKER);
    if (start !== -1) {
      current = { tag: line.slice(start + ACTIVATION_START_MARKER.length).trim(), lines: [] };
      segments.push(current);
      continue;
    }
    if (line.includes(ACTIVATION_END_MARKER)) {
      current = undefined;
      continue;
    }
    current?.lines.push(line);
  }
  return segments;
}

/** Pair stdout and stderr segments by tag when tagged, else by position. */
function mergeSegments(out: { tag: string; lines: string[] }[], err: { tag: string; lines: string[] }[]): ActivationLogSegment[] {
  const result: ActivationLogSegment[] = out.map((s) => ({ tag: s.tag, stdout: s.lines, stderr: [] }));
  err.forEach((s, i) => {
    const match = s.tag !== '' ? result.find((r) => r.tag === s.tag) : result[i];
    if (match !== undefined) match.stderr = s.lines;
    else result.push({ tag: s.tag, stdout: [], stderr: s.lines });
  });
  return result;
}

function describeFault(f: InstanceFault): string {
  switch (f.kind) {
    case 'timeout':
      return 'timed out';
    case 'oom':
      return 'killed for exceeding its memory limit';
    case 'crash':
      return `exited with code ${f.exitCode}${f.signal ? ` (${f.signal})` : ''}`;
    case 'unreachable':
      return `unreachable: ${f.message}`;
    case 'garbled':
      return `answered outside the protocol: ${f.message}`;
  }
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };
function signalName(n: number): string | null {
  return SIGNALS[n] ?? null;
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function statusCodeOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const s = (err as { statusCode: unknown }).statusCode;
    return typeof s === 'number' ? s : undefined;
  }
  return undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
