import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { readFile } from 'node:fs/promises';
import { BriskError, BuildError, PlatformError, ServiceUnavailableError } from '../core/errors.js';
import { pythonRuntimePath } from '../core/python.js';
import type { Logger } from '../core/logger.js';
import { errMessage } from '../core/util.js';
import type { InitRequest, RunRequest } from '../runtime/protocol.js';
import { RuntimeClient, RuntimeConnectionError, RuntimeTimeoutError } from './runtime-client.js';
import { readLogTail } from './docker-logs.js';
import { InstanceFailure, runtimeKeyOf, type CreateOptions, type ExecutorBackend, type Instance, type InstanceFault, type InstanceSpec, type RunAnswer } from './types.js';
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
/**
 * Which Brisk installation (one bus: broker, vhost and prefix, or one
 * standalone data dir) a container belongs to. Orphans are reaped only within
 * one installation: executors of another one sharing the Docker daemon are
 * never heard, and must not look dead.
 */
export const LABEL_INSTALLATION = 'brisk.installation';
const LABEL_SOCKET_DIR = 'brisk.socketDir';
const LABEL_MEMORY = 'brisk.memoryMb';
const LABEL_RUNTIME = 'brisk.runtime';
/** How long pulling an image function's image may take before its start fails. */
const IMAGE_PULL_TIMEOUT_MS = 120_000;
const LABEL_PACKAGE_DIR = 'brisk.packageDir';

/** The uid:gid functions run as (the `brisk` user of the runtime image). */
const RUNTIME_USER = '1000:1000';
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** Open files per container (RLIMIT_NOFILE), as on Lambda. */
const MAX_OPEN_FILES = 1024;

export interface DockerBackendOptions {
  /** Runtime image, e.g. `brisk-runtime:latest` (BRISK_RUNTIME_IMAGE). */
  image: string;
  /**
   * Python runtime image (BRISK_PYTHON_IMAGE), default
   * `brisk-runtime-python:latest`. Built offline on the first Python instance
   * when missing, or when it holds another Python runtime than this executor's.
   */
  pythonImage?: string;
  /** Builds `pythonImage`; default runs `infra/runtime/build-python-offline.sh`. */
  buildPythonImage?: () => Promise<void>;
  /**
   * Check (and build) the Python image in start(), not on the first Python
   * instance: for an executor that pre-starts Python instances
   * (BRISK_POOL_RUNTIMES), so no call waits for a build.
   */
  pythonAtStart?: boolean;
  /** This executor's id; labels its containers so a restart can remove leftovers. */
  executorId: string;
  /**
   * This executor's installation (see {@link LABEL_INSTALLATION}); labels its
   * containers so that another executor of the same installation can reap
   * them when this one dies. Absent: {@link DockerBackend.removeOrphans} does nothing.
   */
  installation?: string;
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
  /** Cap on a result's JSON (BRISK_MAX_RESULT_BYTES); default the runtime protocol's 6 MiB. */
  maxResultBytes?: number;
  /**
   * Have the runtime print its activation start/end markers on the
   * container's stdout and stderr, so `readActivationLogs` (docker-logs.ts)
   * can cut output of the function's child processes per activation. Off by
   * default: the function's own logs come back in each `/run` answer, and the
   * four marker lines per activation cost the log driver (dockerd) CPU on
   * every call. Default false.
   */
  logMarkers?: boolean;
  /**
   * The largest memory a function may be given (BRISK_MAX_MEMORY_MB, default
   * 2048). A pre-started container can be resized up to it when it is taken,
   * and V8 sizes its heap once, at start, from the memory it sees then; so a
   * Node runtime's heap may grow to this, and the container's memory limit
   * (its function's own size) is what holds the function: past it the kernel
   * kills the instance and the run is `oom`.
   */
  maxMemoryMb?: number;
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
  /** A container's memory limit changes with `docker update` (see {@link DockerInstance.resize}). */
  readonly resizable = true;
  readonly image: string;
  readonly pythonImage: string;
  readonly executorId: string;
  readonly installation: string | undefined;
  readonly socketDir: string;
  readonly packageDir: string;
  private readonly docker: Dockerode;
  private readonly logger: Logger;
  private readonly buildImage: () => Promise<void>;
  private readonly buildPythonImage: () => Promise<void>;
  /** The Python image checked (and built if needed) once, on the first Python instance. */
  private pythonReady: Promise<void> | undefined;
  private readonly runtimeHash: string | undefined;
  private readonly pidsLimit: number;
  private readonly readyTimeoutMs: number;
  private readonly tmpfsMb: number;
  private readonly platformSocket: string | undefined;
  private readonly maxResultBytes: number | undefined;
  private readonly logMarkers: boolean;
  private readonly maxMemoryMb: number;
  private readonly instances = new Set<DockerInstance>();
  private statusValue: BackendStatus = 'created';
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(private readonly opts: DockerBackendOptions) {
    this.image = opts.image;
    this.pythonImage = opts.pythonImage ?? 'brisk-runtime-python:latest';
    this.buildPythonImage = opts.buildPythonImage ?? (() => runOfflineBuild(this.pythonImage, 'infra/runtime/build-python-offline.sh'));
    this.executorId = opts.executorId;
    this.installation = opts.installation;
    this.socketDir = path.resolve(opts.socketDir ?? defaultSocketDir(opts.executorId));
    this.packageDir = path.resolve(opts.packageDir ?? `${this.socketDir}-packages`);
    this.docker = opts.docker ?? new Dockerode();
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.buildImage = opts.buildImage ?? (() => runOfflineBuild(this.image, 'infra/runtime/build-offline.sh'));
    this.runtimeHash = opts.runtimeHash;
    this.pidsLimit = opts.pidsLimit ?? 64;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
    this.tmpfsMb = opts.tmpfsMb ?? 64;
    this.platformSocket = opts.platformSocket !== undefined ? path.resolve(opts.platformSocket) : undefined;
    this.logMarkers = opts.logMarkers ?? false;
    this.maxMemoryMb = opts.maxMemoryMb ?? 2048;
    this.maxResultBytes = opts.maxResultBytes;
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
      throw new ServiceUnavailableError('docker', `cannot reach the Docker daemon (${errMessage(err)}); is dockerd running and is its socket readable?`, err);
    }
    await this.ensureImage();
    if (this.opts.pythonAtStart === true) await this.ensurePythonImage();
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
  private ensureImage(): Promise<void> {
    return this.ensureRuntimeImage(this.image, this.runtimeHash, this.buildImage);
  }

  /**
   * The Python image, checked once (on the first Python instance, so an
   * executor that never runs Python never builds it): built when missing or
   * when an offline build holds another `brisk_runtime.py` than this executor's.
   */
  private ensurePythonImage(): Promise<void> {
    this.pythonReady ??= (async () => {
      const hash = createHash('sha256').update(await readFile(pythonRuntimePath())).digest('hex');
      await this.ensureRuntimeImage(this.pythonImage, hash, this.buildPythonImage);
    })().catch((err: unknown) => {
      this.pythonReady = undefined;
      throw err;
    });
    return this.pythonReady;
  }

  private async ensureRuntimeImage(image: string, runtimeHash: string | undefined, build: () => Promise<void>): Promise<void> {
    const labels = await this.imageLabels(image);
    if (labels !== undefined) {
      const stale =
        runtimeHash !== undefined &&
        labels['brisk.runtime'] === 'offline' &&
        labels['brisk.runtime.sha256'] !== runtimeHash;
      if (!stale) return;
      this.logger.warn({ image }, 'runtime image holds an older runtime; rebuilding it offline');
    } else {
      this.logger.warn({ image }, 'runtime image missing; building it offline');
    }
    try {
      await build();
    } catch (err) {
      throw new PlatformError('RUNTIME_IMAGE_BUILD_FAILED', `could not build runtime image '${image}': ${errMessage(err)}`, {
        cause: err,
        retryable: false,
        status: 500,
      });
    }
    if ((await this.imageLabels(image)) === undefined) {
      throw new PlatformError('RUNTIME_IMAGE_MISSING', `runtime image '${image}' still missing after the build`, { retryable: false, status: 500 });
    }
  }

  /** The image's labels, or undefined when there is no such image. */
  private async imageLabels(image: string): Promise<Record<string, string> | undefined> {
    try {
      const info = await this.docker.getImage(image).inspect();
      return (info.Config?.Labels ?? {}) as Record<string, string>;
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined;
      throw new ServiceUnavailableError('docker', `cannot inspect image '${image}': ${errMessage(err)}`, err);
    }
  }

  /**
   * The image a spec runs: the Node or Python runtime image, or an image
   * function's own, which must be on this engine or pullable. An image that
   * is neither is the function's fault (`IMAGE_NOT_FOUND`, a load failure).
   */
  private async imageFor(spec: InstanceSpec): Promise<string> {
    const runtime = spec.runtime ?? 'nodejs';
    if (runtime === 'nodejs') return this.image;
    if (runtime === 'python') {
      await this.ensurePythonImage();
      return this.pythonImage;
    }
    const image = spec.image ?? '';
    if ((await this.imageLabels(image)) !== undefined) return image;
    try {
      const stream = await this.docker.pull(image, { abortSignal: AbortSignal.timeout(IMAGE_PULL_TIMEOUT_MS) });
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
    } catch (err) {
      const message = `image '${image}' is not on this executor's Docker engine and could not be pulled: ${errMessage(err)}`;
      throw new BuildError(message, { errorType: 'ImageNotFound', errorMessage: message }, 'IMAGE_NOT_FOUND');
    }
    return image;
  }

  /** Containers (and their socket dirs) a previous run of this executor left behind. */
  private async removeLeftovers(): Promise<number> {
    const leftovers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_EXECUTOR}=${this.executorId}`] },
    });
    await Promise.all(leftovers.map((c) => this.removeListed(c)));
    if (leftovers.length > 0) this.logger.info({ count: leftovers.length }, 'removed leftover containers');
    return leftovers.length;
  }

  /**
   * Remove the containers of this installation whose executor is dead: not
   * this one, not `isLive`, and created at least `minAgeMs` ago (an executor
   * that just started may not have been heard yet). Executors die without
   * cleaning up (kill -9, OOM kill, power loss) and may never come back under
   * the same id; whoever finds their containers removes them. Returns how many.
   */
  async removeOrphans(isLive: (executorId: string) => boolean, minAgeMs: number): Promise<number> {
    if (this.installation === undefined || this.statusValue !== 'ready') return 0;
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_INSTALLATION}=${this.installation}`] },
    });
    const bornBefore = (Date.now() - minAgeMs) / 1000;
    const orphans = containers.filter((c) => {
      const owner = c.Labels[LABEL_EXECUTOR];
      return owner !== undefined && owner !== this.executorId && !isLive(owner) && c.Created <= bornBefore;
    });
    await Promise.all(orphans.map((c) => this.removeListed(c).catch((err: unknown) => this.logger.warn({ err, container: c.Id }, 'could not remove an orphaned container'))));
    if (orphans.length > 0) {
      const owners = [...new Set(orphans.map((c) => c.Labels[LABEL_EXECUTOR]))];
      this.logger.warn({ count: orphans.length, executors: owners }, 'removed containers of executors that are gone');
    }
    return orphans.length;
  }

  /**
   * Remove a listed container's package directory. Only one shaped like ours
   * (`<24 hex>`) inside this executor's package dir or a sibling executor's
   * (the same name under the parent of our executor's directory, as
   * `<BRISK_PACKAGE_DIR>/<executorId>/instances` lays them out) is deleted,
   * whatever a label says.
   */
  private async removePackageDir(dir: string | undefined): Promise<void> {
    if (dir === undefined || !/^[0-9a-f]{24}$/.test(path.basename(dir))) return;
    const owner = path.dirname(dir);
    const ours = owner === this.packageDir;
    const sibling = path.basename(owner) === path.basename(this.packageDir) && path.dirname(path.dirname(owner)) === path.dirname(path.dirname(this.packageDir));
    if (ours || sibling) await rm(dir, { recursive: true, force: true });
  }

  /**
   * Remove a listed container and its socket directory. Only a directory
   * shaped like ours is deleted, whatever a label says: `<socket root>/<executor
   * dir>/<24 hex>`, where the socket root is the parent of this executor's own
   * socketDir (executors of one host keep their socket dirs side by side).
   */
  private async removeListed(c: Dockerode.ContainerInfo): Promise<void> {
    await removeContainer(this.docker.getContainer(c.Id));
    await this.removePackageDir(c.Labels[LABEL_PACKAGE_DIR]);
    const dir = c.Labels[LABEL_SOCKET_DIR];
    if (dir === undefined || !/^[0-9a-f]{24}$/.test(path.basename(dir))) return;
    const ownerDir = path.dirname(dir);
    if (ownerDir === this.socketDir) {
      await rm(dir, { recursive: true, force: true });
    } else if (path.dirname(ownerDir) === path.dirname(this.socketDir)) {
      await rm(dir, { recursive: true, force: true });
      // The dead executor's own directory goes once empty; rmdir refuses otherwise.
      await rmdir(ownerDir).catch(() => undefined);
    }
  }

  async createInstance(spec: InstanceSpec, opts: CreateOptions = {}): Promise<Instance> {
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
      const image = await this.imageFor(spec);
      container = await this.docker.createContainer(this.containerOptions(name, image, hostDir, packageHostDir, spec, opts.prestart === true));
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
        ...(this.maxResultBytes !== undefined ? { maxResultBytes: this.maxResultBytes } : {}),
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
      throw new PlatformError('INSTANCE_START_FAILED', `could not start a container (${runtimeKeyOf(spec)}): ${errMessage(err)}`, { cause: err });
    }
  }

  private containerOptions(name: string, image: string, hostDir: string, packageHostDir: string, spec: InstanceSpec, prestart: boolean): Dockerode.ContainerCreateOptions {
    const platform = this.platformSocket;
    return {
      name,
      Image: image,
      User: RUNTIME_USER,
      WorkingDir: '/tmp',
      Env: [
        `BRISK_RUNTIME_SOCKET=${CONTAINER_SOCKET_PATH}`,
        'NODE_ENV=production',
        `BRISK_RUNTIME_LOG_MARKERS=${this.logMarkers ? '1' : '0'}`,
        ...(prestart ? ['BRISK_RUNTIME_WARM_UP=1'] : []),
        // The heap is sized at start; the limit a resize sets is the cgroup's (see maxMemoryMb).
        ...(runtimeKeyOf(spec) === 'nodejs' ? [`NODE_OPTIONS=--max-old-space-size=${this.maxMemoryMb}`] : []),
        ...(platform !== undefined ? [`BRISK_PLATFORM_SOCKET=${CONTAINER_PLATFORM_DIR}/${path.basename(platform)}`] : []),
      ],
      Labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_EXECUTOR]: this.executorId,
        ...(this.installation !== undefined ? { [LABEL_INSTALLATION]: this.installation } : {}),
        [LABEL_SOCKET_DIR]: hostDir,
        [LABEL_PACKAGE_DIR]: packageHostDir,
        // The size at creation; a pre-started container is resized when it is taken.
        [LABEL_MEMORY]: String(spec.memoryMb),
        [LABEL_RUNTIME]: runtimeKeyOf(spec),
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
        ...memoryLimits(spec.memoryMb),
        // Counts threads too; caps fork bombs at a level one node process (~11 threads) and a few children fit in.
        PidsLimit: this.pidsLimit,
        // Lambda's limit. Each open file may be a connection to the executor's platform API, which costs
        // the executor a descriptor too: one container must not be able to hold thousands.
        Ulimits: [{ Name: 'nofile', Soft: MAX_OPEN_FILES, Hard: MAX_OPEN_FILES }],
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
  /** Cap on a result's JSON; default the runtime protocol's. */
  maxResultBytes?: number;
}

/**
 * The cgroup limits that follow a container's memory size; set at creation
 * and again by `docker update` when a pre-started container is resized.
 */
function memoryLimits(memoryMb: number): { Memory: number; MemorySwap: number; CpuShares: number } {
  const memoryBytes = memoryMb * 1024 * 1024;
  return {
    // Swap equal to memory means no swap: a function over its limit is OOM-killed, not slowed down.
    Memory: memoryBytes,
    MemorySwap: memoryBytes,
    // CPU follows memory as on Lambda: 1024 shares (one "CPU") per 2 GiB.
    CpuShares: Math.max(2, Math.floor((memoryMb * 1024) / 2048)),
  };
}

/** One container running the runtime, reached over its unix socket. */
export class DockerInstance implements Instance {
  readonly id: string;
  private specValue: InstanceSpec;
  readonly container: Dockerode.Container;
  /** Host path of the runtime's socket. */
  readonly socketPath: string;
  private readonly docker: Dockerode;
  private readonly hostDir: string;
  private readonly packageHostDir: string;
  private packagePrepared = false;
  private readonly logger: Logger;
  private readonly onDestroyed: (instance: DockerInstance) => void;
  /** Talks to the runtime over the socket (one keep-alive connection: it serves one activation at a time). */
  private readonly client: RuntimeClient;
  private destroyPromise: Promise<void> | undefined;

  constructor(p: DockerInstanceParams) {
    this.id = p.id;
    this.specValue = p.spec;
    this.container = p.container;
    this.docker = p.docker;
    this.socketPath = p.socketPath;
    this.hostDir = p.hostDir;
    this.packageHostDir = p.packageHostDir;
    this.logger = p.logger;
    this.onDestroyed = p.onDestroyed;
    this.client = new RuntimeClient(
      { socketPath: p.socketPath },
      { label: `instance ${p.id}`, ...(p.maxResultBytes !== undefined ? { maxResultBytes: p.maxResultBytes } : {}) },
    );
  }

  get spec(): InstanceSpec {
    return this.specValue;
  }

  get destroyed(): boolean {
    return this.destroyPromise !== undefined;
  }

  /**
   * Set the container's memory limit (and swap and CPU shares with it) to
   * `memoryMb`: a pre-started container takes the size of the function it is
   * about to load. The kernel applies it at once; a function over the new
   * limit is OOM-killed as in a container created with it.
   */
  async resize(memoryMb: number): Promise<void> {
    if (memoryMb === this.specValue.memoryMb) return;
    try {
      await this.container.update(memoryLimits(memoryMb));
    } catch (err) {
      throw new PlatformError('INSTANCE_RESIZE_FAILED', `could not set the memory limit of ${this.id} to ${memoryMb} MB: ${errMessage(err)}`, { cause: err });
    }
    this.specValue = { ...this.specValue, memoryMb };
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
        // False on ENOENT / ECONNREFUSED until the runtime listens: keep polling.
        if (await this.client.healthy(1000)) return;
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

  init(req: InitRequest): Promise<void> {
    return this.call((client) => client.init(req), '/init');
  }

  run(req: RunRequest, timeoutMs: number): Promise<RunAnswer> {
    return this.call((client) => client.run(req, timeoutMs), '/run');
  }

  /**
   * One exchange with the runtime (the client bounds it by its deadline and
   * its size caps). What differs from other backends is only the diagnosis:
   * past the deadline the container is removed (`timeout`); a broken
   * connection has the container inspected to tell OOM from crash from
   * unreachable; an answer outside the protocol or over its caps retires it.
   */
  private async call<T>(exchange: (client: RuntimeClient) => Promise<T>, urlPath: string): Promise<T> {
    if (this.destroyed) throw new InstanceFailure({ kind: 'unreachable', message: 'instance destroyed' }, `instance ${this.id} is destroyed`);
    this.exchanges++;
    try {
      return await exchange(this.client);
    } catch (err) {
      if (err instanceof RuntimeTimeoutError) {
        // Other calls still running on it (concurrency > 1) are left to finish; the pool retires it after them.
        if (this.exchanges <= 1) await this.destroy();
        throw new InstanceFailure({ kind: 'timeout' }, `instance ${this.id} exceeded its deadline on ${urlPath}`);
      }
      if (err instanceof RuntimeConnectionError) {
        const fault = await this.diagnose(err);
        await this.destroy();
        throw new InstanceFailure(fault, `instance ${this.id} failed during ${urlPath}: ${describeFault(fault)}`);
      }
      // Garbled or oversized: the function's code tampered with its runtime; it serves no one again.
      if (err instanceof InstanceFailure) await this.destroy();
      throw err;
    } finally {
      this.exchanges--;
    }
  }

  /** Exchanges with the runtime in progress (several /runs at once when the function's concurrency allows). */
  private exchanges = 0;

  /** Why the socket failed: wait briefly for the container to stop, then read its state. */
  private async diagnose(err: unknown): Promise<InstanceFault> {
    const message = errMessage(err);
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
      return { kind: 'unreachable', message: `${message}; inspect failed: ${errMessage(inspectErr)}` };
    }
    return { kind: 'unreachable', message };
  }

  /** Freeze the container's processes (cgroup freezer); the socket stays bound. */
  async pause(): Promise<void> {
    try {
      await this.container.pause();
    } catch (err) {
      throw new PlatformError('INSTANCE_PAUSE_FAILED', `could not pause ${this.id}: ${errMessage(err)}`, { cause: err });
    }
  }

  async resume(): Promise<void> {
    try {
      await this.container.unpause();
    } catch (err) {
      throw new PlatformError('INSTANCE_RESUME_FAILED', `could not resume ${this.id}: ${errMessage(err)}`, { cause: err });
    }
  }

  /** Kill and remove the container and its socket dir. Idempotent. */
  destroy(): Promise<void> {
    this.destroyPromise ??= (async () => {
      this.client.close();
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

  private async logTail(): Promise<string> {
    const text = await readLogTail(this.docker, this.container, 20);
    return text === '' ? '' : `; last output:\n${text}`;
  }
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

/** Default image builder: `<script> <image>` of this package (`infra/runtime/build-offline.sh`, or the Python one). */
function runOfflineBuild(image: string, scriptPath: string): Promise<void> {
  const script = path.join(packageRoot(), scriptPath);
  return new Promise((resolve, reject) => {
    execFile('bash', [script, image], { cwd: packageRoot(), maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${script} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
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
    case 'oversized':
      return `answered with more than ${f.limitBytes} bytes`;
  }
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };
function signalName(n: number): string | null {
  return SIGNALS[n] ?? null;
}

function statusCodeOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const s = (err as { statusCode: unknown }).statusCode;
    return typeof s === 'number' ? s : undefined;
  }
  return undefined;
}
