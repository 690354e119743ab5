import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AmqpBus } from '../bus/amqp-bus.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import type { BriskConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { ExecutorBackendName } from '../core/types.js';
import { Metrics } from '../core/metrics.js';
import { UsageMeter } from '../metering/usage-meter.js';
import { SecretBox } from '../core/secret-box.js';
import { CodeCache } from '../executor/code-cache.js';
import { PackageCache } from '../executor/package-cache.js';
import { FunctionSecrets } from '../tenancy/function-secrets.js';
import { DockerBackend } from '../executor/docker-backend.js';
import { Executor } from '../executor/executor.js';
import { FunctionVersions } from '../executor/function-versions.js';
import { defaultPlatformSocketPath, PlatformApi } from '../executor/platform-api.js';
import { ProcessBackend } from '../executor/process-backend.js';
import { parseUidRange } from '../executor/instance-uids.js';
import type { ExecutorBackend } from '../executor/types.js';
import { WarmPool } from '../executor/warm-pool.js';
import { OrphanReaper } from '../executor/orphan-reaper.js';
import { onFatal } from './fatal.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { objectRoutes } from '../gateway/routes/objects.js';
import { consoleRoutes } from '../gateway/routes/console.js';
import { executorRoutes } from '../gateway/routes/executors.js';
import { deadLetterRoutes } from '../gateway/routes/dead-letters.js';
import { DeadLetterOffice } from '../invocations/dead-letter-office.js';
import { DeadLetterStore } from '../invocations/dead-letters.js';
import { RetryPolicy } from '../invocations/retry-policy.js';
import { Submitter } from '../invocations/submit.js';
import { ConcurrencyLimiter } from '../placement/concurrency-limiter.js';
import { ExecutorMonitor } from '../scheduler/executor-monitor.js';
import { KvConcurrencyCounter } from '../placement/kv-concurrency-counter.js';
import { ExecutorRegistry } from '../placement/executor-registry.js';
import { provisionHostsOf } from '../placement/provisioning.js';
import { ProvisionedPlanner } from '../releases/provisioned-plan.js';
import { ProvisionedStore } from '../releases/provisioned-store.js';
import { Provisioner } from '../scheduler/provisioner.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { WarmDispatcher } from '../gateway/warm-dispatcher.js';
import { BundleStore } from '../storage/bundles.js';
import { FileObjectStore } from '../storage/file-object-store.js';
import { FileStore } from '../storage/file-store.js';
import { ensurePrivateDir } from '../storage/journal.js';
import { FileKeyValueStore } from '../storage/file-kv-store.js';
import { RedisConnection } from '../storage/redis-connection.js';
import { RedisKeyValueStore } from '../storage/redis-kv-store.js';
import { RedisStore } from '../storage/redis-store.js';
import { ObjectService } from '../storage/object-service.js';
import { S3ObjectStore } from '../storage/s3-object-store.js';
import { AmqpUserQueues } from '../triggers/amqp-user-queues.js';
import { BusUserQueues } from '../triggers/bus-user-queues.js';
import { startTriggerRunners, triggerGatewayRouters } from '../triggers/trigger-feature.js';
import type { UserQueues } from '../triggers/user-queues.js';
import type { KeyValueStore, MetadataStore, ObjectStore } from '../storage/types.js';
import { runtimeBundlePath } from '../core/package-root.js';
import { AliasStore } from '../releases/alias-store.js';
import { FunctionRouter } from '../releases/function-router.js';

/**
 * The composition root: the one place where the bus, the stores and the
 * executor backend are chosen, for each role and each mode. Domain code only
 * sees the interfaces.
 */

export type Mode = 'standalone' | 'distributed';

/** Something started that can be stopped (in reverse order of starting). */
export interface Stoppable {
  stop(): Promise<void>;
}

export interface Infrastructure {
  mode: Mode;
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  objects: ObjectStore;
  kv: KeyValueStore;
  /** Function bundles: the object store, and in distributed mode a hot copy of small ones in Redis. */
  bundles: BundleStore;
  /** This process's Prometheus metrics (all roles in it share them). */
  metrics: Metrics;
  /** Close connections (after the roles have stopped). */
  close(): Promise<void>;
}

/** Connect to the bus and stores of a mode. Fails fast when a service is unreachable. */
export async function connectInfrastructure(cfg: BriskConfig, mode: Mode, role: string, logger: Logger): Promise<Infrastructure> {
  const topology = new Topology(cfg.BRISK_BUS_PREFIX);
  let bus: Bus;
  let store: MetadataStore;
  let objects: ObjectStore;
  let kv: KeyValueStore;
  let redis: RedisConnection | undefined;
  if (mode === 'standalone') {
    const dir = path.resolve(cfg.BRISK_DATA_DIR);
    // Every tenant's records live here, and functions run as other uids: the platform's user only.
    if (!ensurePrivateDir(dir)) logger.warn({ dir }, 'cannot make the data dir private (0700): functions may read other tenants\' records');
    // Only this process sends on it: its messages need no second check (see MemoryBus).
    bus = new MemoryBus({ prefix: cfg.BRISK_BUS_PREFIX, trustedSenders: true });
    store = new FileStore(path.join(dir, 'meta'), { activationTtlS: cfg.BRISK_ACTIVATION_TTL_S });
    objects = new FileObjectStore(path.join(dir, 'objects'));
    kv = new FileKeyValueStore(path.join(dir, 'meta'));
  } else {
    if (cfg.BRISK_BUS_KEY === undefined) throw new Error('BRISK_BUS_KEY is required in distributed mode (it signs the messages between the roles)');
    bus = new AmqpBus({ url: cfg.BRISK_RABBITMQ_URL, prefix: cfg.BRISK_BUS_PREFIX, signingKey: cfg.BRISK_BUS_KEY, logger: logger.child({ component: 'bus' }) });
    // One Redis connection per process, shared by the metadata and key-value stores.
    redis = new RedisConnection({ url: cfg.BRISK_REDIS_URL, logger: logger.child({ component: 'redis' }) });
    store = new RedisStore({ url: cfg.BRISK_REDIS_URL, connection: redis, prefix: cfg.BRISK_REDIS_PREFIX, activationTtlS: cfg.BRISK_ACTIVATION_TTL_S });
    kv = new RedisKeyValueStore({ url: cfg.BRISK_REDIS_URL, connection: redis, prefix: cfg.BRISK_REDIS_PREFIX });
    objects = new S3ObjectStore({
      endpoint: cfg.BRISK_S3_ENDPOINT,
      accessKey: cfg.BRISK_S3_ACCESS_KEY,
      secretKey: cfg.BRISK_S3_SECRET_KEY,
      bucket: cfg.BRISK_S3_BUCKET,
      region: cfg.BRISK_S3_REGION,
    });
  }
  const all = [bus, store, objects, kv];
  try {
    await Promise.all(all.map((c) => c.waitUntilReady()));
  } catch (err) {
    await Promise.allSettled(all.map((c) => c.close()));
    await redis?.close();
    throw err;
  }
  return {
    mode,
    bus,
    topology,
    store,
    objects,
    kv,
    // Standalone: the object store is a local directory already, as near as the key-value store.
    bundles: new BundleStore({ objects, ...(mode === 'distributed' ? { kv } : {}) }),
    metrics: new Metrics({ role: mode === 'standalone' ? 'standalone' : role }),
    close: async () => {
      await bus.close();
      await Promise.allSettled([store.close(), objects.close(), kv.close()]);
      await redis?.close();
    },
  };
}

/**
 * Users' objects (`/v1/objects`, `context.objects`): one per process, over
 * the process's object store; puts and deletes publish object events.
 */
export function createObjectService(cfg: BriskConfig, infra: Infrastructure): ObjectService {
  return new ObjectService({
    objects: infra.objects,
    bus: infra.bus,
    topology: infra.topology,
    kv: infra.kv,
    maxObjectBytes: cfg.BRISK_MAX_PAYLOAD_BYTES,
  });
}

/**
 * Prometheus `/metrics` for a process without a gateway (scheduler,
 * executor), on BRISK_METRICS_PORT. Returns undefined when not configured.
 */
export async function startMetricsServer(cfg: BriskConfig, metrics: Metrics, logger: Logger): Promise<Stoppable | undefined> {
  if (cfg.BRISK_METRICS_PORT === undefined) return undefined;
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.text().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.BRISK_METRICS_PORT, cfg.BRISK_METRICS_HOST, () => resolve());
  });
  logger.info({ port: (server.address() as AddressInfo).port }, 'metrics listening');
  return { stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * The users' queues (`queue` triggers, `/v1/queues`): the in-process bus in
 * standalone mode (no RabbitMQ there), else a connection of their own to
 * RabbitMQ. Either way each queue is scoped to its namespace under `<prefix>.userq.`.
 */
export function createUserQueues(cfg: BriskConfig, infra: Infrastructure, logger: Logger): UserQueues {
  if (infra.mode === 'standalone') return new BusUserQueues({ bus: infra.bus, prefix: infra.topology.prefix });
  return new AmqpUserQueues({ url: cfg.BRISK_RABBITMQ_URL, prefix: infra.topology.prefix, kv: infra.kv, logger: logger.child({ component: 'user-queues' }) });
}

export async function startGateway(cfg: BriskConfig, infra: Infrastructure, logger: Logger): Promise<GatewayServer & { port: number }> {
  const gwLogger = logger.child({ service: 'gateway' });
  // The gateway's own view of the executors (GET /v1/executors, the console).
  const registry = new ExecutorRegistry({ heartbeatMs: cfg.BRISK_HEARTBEAT_MS });
  const executors = new ExecutorMonitor({ bus: infra.bus, topology: infra.topology, logger: gwLogger, registry });
  await executors.start();
  // Distributed mode: warm sync calls go straight to an executor, on the same view and the schedulers' shared counters.
  const slots =
    infra.mode === 'distributed' && cfg.BRISK_DIRECT_SYNC
      ? new KvConcurrencyCounter({ kv: infra.kv, holderId: `gw-${randomUUID().slice(0, 8)}`, logger: gwLogger })
      : undefined;
  await slots?.start();
  const direct =
    slots === undefined
      ? undefined
      : new WarmDispatcher({
          bus: infra.bus,
          topology: infra.topology,
          registry,
          limiter: slots,
          policy: cfg.BRISK_PLACEMENT,
          namespaceConcurrency: cfg.BRISK_NAMESPACE_CONCURRENCY,
          store: infra.store,
          logger: gwLogger.child({ component: 'warm-dispatcher' }),
          ...(infra.metrics ? { metrics: infra.metrics } : {}),
        });
  // Triggers: /v1/triggers, /v1/events, /v1/queues and the /http/… routes.
  const userQueues = createUserQueues(cfg, infra, gwLogger);
  const triggers = triggerGatewayRouters(infra, { queues: userQueues, logger: gwLogger, maxPayloadBytes: cfg.BRISK_MAX_PAYLOAD_BYTES });
  const gw = new GatewayServer({
    config: cfg,
    ...infra,
    logger: gwLogger,
    // Feature routers behind /v1 authentication; each feature adds its line here.
    apiRouters: (ctx) => [
      executorRoutes({ executors }),
      objectRoutes({ objects: createObjectService(cfg, infra) }),
      deadLetterRoutes({ letters: new DeadLetterStore(infra.kv), functions: ctx.functions, submitter: ctx.submitter }),
      ...triggers.api(ctx),
    ],
    // Provisioned configs are checked against the executors this gateway hears.
    provisionHosts: () => provisionHostsOf(registry.states()),
    // Feature routers outside /v1 (public endpoints).
    publicRouters: (ctx) => [consoleRoutes(), ...triggers.public(ctx)],
    // Deleting a namespace deletes its triggers too.
    namespaceTriggers: triggers.namespaceTriggers,
    ...(direct ? { direct } : {}),
  });
  let port: number;
  try {
    port = await gw.start();
  } catch (err) {
    await executors.stop();
    await userQueues.close();
    await slots?.stop();
    throw err;
  }
  const stopServer = gw.stop.bind(gw);
  return Object.assign(gw, {
    port,
    stop: async () => {
      await stopServer();
      await executors.stop();
      await userQueues.close();
      // After the server: slots of direct calls still held are given back for good.
      await slots?.stop();
    },
  });
}

/** Async submits from a scheduler or executor process (triggers, on-failure calls): no reply queue, no quota lookup. */
export function createSubmitter(infra: Infrastructure, retry: RetryPolicy): Submitter {
  return new Submitter({ bus: infra.bus, topology: infra.topology, store: infra.store, retry });
}

/** Dead-letter store + on-failure notifications, for schedulers and executors. */
export function createDeadLetterOffice(infra: Infrastructure, submitter: Submitter, logger: Logger): DeadLetterOffice {
  return new DeadLetterOffice({
    letters: new DeadLetterStore(infra.kv),
    store: infra.store,
    router: new FunctionRouter({ store: infra.store, aliases: new AliasStore(infra.kv) }),
    submitter,
    logger: logger.child({ component: 'dead-letters' }),
  });
}

export async function startScheduler(cfg: BriskConfig, infra: Infrastructure, logger: Logger): Promise<Scheduler> {
  const log = logger.child({ service: 'scheduler' });
  const registry = new ExecutorRegistry({ heartbeatMs: cfg.BRISK_HEARTBEAT_MS });
  const retry = RetryPolicy.fromConfig(cfg);
  const submitter = createSubmitter(infra, retry);
  // Standalone has one scheduler: limits in memory. Distributed schedulers share counters in Redis.
  const shared =
    infra.mode === 'distributed'
      ? new KvConcurrencyCounter({ kv: infra.kv, holderId: `sch-${randomUUID().slice(0, 8)}`, logger: log })
      : undefined;
  await shared?.start();
  const scheduler = new Scheduler({
    bus: infra.bus,
    topology: infra.topology,
    store: infra.store,
    registry,
    limiter: shared ?? new ConcurrencyLimiter(),
    logger: log,
    policy: cfg.BRISK_PLACEMENT,
    namespaceConcurrency: cfg.BRISK_NAMESPACE_CONCURRENCY,
    deadLetters: createDeadLetterOffice(infra, submitter, log),
    retry,
    kv: infra.kv,
    metrics: infra.metrics,
  });
  await scheduler.start();
  // Provisioned instances: every scheduler runs a provisioner; one at a time leads (a lease in the key-value store).
  const aliasStore = new AliasStore(infra.kv);
  const provisioner = new Provisioner({
    id: scheduler.id,
    bus: infra.bus,
    topology: infra.topology,
    registry,
    kv: infra.kv,
    configs: new ProvisionedStore(infra.kv),
    planner: new ProvisionedPlanner({ store: infra.store, aliases: aliasStore }),
    share: cfg.BRISK_PROVISIONED_SHARE,
    intervalMs: cfg.BRISK_HEARTBEAT_MS,
    logger: log.child({ component: 'provisioner' }),
  });
  provisioner.start();
  // Schedules, queue consumers and the storage listener run beside every scheduler.
  const userQueues = createUserQueues(cfg, infra, log);
  let triggerRunners: Stoppable;
  try {
    triggerRunners = await startTriggerRunners(infra, { queues: userQueues, submitter, logger: log });
  } catch (err) {
    provisioner.stop();
    await userQueues.close();
    throw err;
  }
  log.info({ schedulerId: scheduler.id, policy: cfg.BRISK_PLACEMENT }, 'scheduler ready');
  const stopScheduler = scheduler.stop.bind(scheduler);
  return Object.assign(scheduler, {
    stop: async () => {
      provisioner.stop();
      await triggerRunners.stop();
      await userQueues.close();
      await stopScheduler();
      // After the scheduler: slots still held are given back for good.
      await shared?.stop();
    },
  });
}

/**
 * The backend an executor uses: the configured one, else `process` in
 * standalone mode (one machine, your own code) and `docker` for a
 * distributed executor, which runs tenants' code. A distributed executor on
 * the process backend is allowed when asked for, with a warning.
 */
export function executorBackendFor(cfg: BriskConfig, mode: Mode, logger?: Logger): ExecutorBackendName {
  const kind = cfg.BRISK_EXECUTOR_BACKEND ?? (mode === 'distributed' ? 'docker' : 'process');
  if (kind === 'process' && mode === 'distributed') {
    logger?.warn('distributed executor on the process backend (BRISK_EXECUTOR_BACKEND=process): instances are processes on this host, not a sandbox; use docker for tenants\' code');
  }
  return kind;
}

/** An executor's package files (see PackageCache): `<BRISK_PACKAGE_DIR>/<executorId>`. */
export function packageRoot(cfg: BriskConfig, executorId: string): string {
  return path.join(path.resolve(cfg.BRISK_PACKAGE_DIR ?? path.join(os.tmpdir(), 'brisk-packages')), executorId);
}

/**
 * `platformSocket`: the executor's platform API socket, made reachable from
 * instances. `installation`: see {@link installationId}. `packageDir`: where
 * Docker instances' package directories go (a process instance keeps its
 * package in its own private directory).
 */
export function createBackend(cfg: BriskConfig, mode: Mode, executorId: string, logger: Logger, platformSocket?: string, installation?: string, packageDir?: string): ExecutorBackend {
  if (executorBackendFor(cfg, mode, logger) === 'docker') {
    return new DockerBackend({
      image: cfg.BRISK_RUNTIME_IMAGE,
      pythonImage: cfg.BRISK_PYTHON_IMAGE,
      pythonAtStart: cfg.BRISK_POOL_RUNTIMES.includes('python'),
      executorId,
      ...(installation !== undefined ? { installation } : {}),
      socketDir: path.join(os.tmpdir(), 'brisk-sockets', executorId),
      ...(packageDir !== undefined ? { packageDir } : {}),
      logger: logger.child({ component: 'docker' }),
      ...(platformSocket !== undefined ? { platformSocket } : {}),
      maxResultBytes: cfg.BRISK_MAX_RESULT_BYTES,
      maxMemoryMb: cfg.BRISK_MAX_MEMORY_MB,
      ...runtimeBundleHash(),
    });
  }
  return new ProcessBackend({
    uidRange: parseUidRange(cfg.BRISK_PROCESS_UID_RANGE) ?? 'off',
    pythonPath: cfg.BRISK_PYTHON,
    logger: logger.child({ component: 'process' }),
    maxResultBytes: cfg.BRISK_MAX_RESULT_BYTES,
    ...(platformSocket !== undefined ? { platformSocket } : {}),
  });
}

/**
 * Names the installation an executor belongs to, for its containers' labels:
 * the executors that hear each other's heartbeats (one broker, vhost and bus
 * prefix; in standalone mode one data dir). Hashed: the broker URL is not
 * written into labels, and its credentials do not take part.
 */
export function installationId(cfg: BriskConfig, mode: Mode): string {
  let bus: string;
  if (mode === 'standalone') {
    bus = `standalone:${path.resolve(cfg.BRISK_DATA_DIR)}`;
  } else {
    const url = new URL(cfg.BRISK_RABBITMQ_URL);
    bus = `amqp:${url.hostname}:${url.port}${url.pathname}`;
  }
  return createHash('sha256').update(`${bus}|${cfg.BRISK_BUS_PREFIX}`).digest('hex').slice(0, 16);
}

/** sha256 of the runtime bundle next to this build, so a stale offline image is rebuilt. */
function runtimeBundleHash(): { runtimeHash?: string } {
  const bundle = runtimeBundlePath();
  if (!fs.existsSync(bundle)) return {};
  return { runtimeHash: createHash('sha256').update(fs.readFileSync(bundle)).digest('hex') };
}

export async function startExecutor(cfg: BriskConfig, infra: Infrastructure, logger: Logger): Promise<Executor> {
  const id = cfg.BRISK_EXECUTOR_ID ?? `ex-${randomUUID().slice(0, 8)}`;
  const log = logger.child({ service: 'executor', executorId: id });
  // context.state / context.objects: instances reach this over a unix socket with a per-load token.
  const platform = new PlatformApi({
    socketPath: defaultPlatformSocketPath(id),
    kv: infra.kv,
    objects: createObjectService(cfg, infra),
    logger: log.child({ component: 'platform-api' }),
    maxConnections: cfg.BRISK_PLATFORM_API_MAX_CONNECTIONS,
  });
  await platform.start();
  const packages = new PackageCache({
    bundles: infra.bundles,
    root: packageRoot(cfg, id),
    maxBytes: cfg.BRISK_PACKAGE_CACHE_MB * 1024 * 1024,
    maxUnpackedBytes: cfg.BRISK_MAX_UNPACKED_BYTES,
    maxFiles: cfg.BRISK_MAX_ARCHIVE_FILES,
  });
  await packages.start();
  const backend = createBackend(cfg, infra.mode, id, log, platform.socketPath, installationId(cfg, infra.mode), packages.instancesDir);
  try {
    await backend.start();
  } catch (err) {
    await platform.close();
    await packages.close();
    throw err;
  }
  // An uncaught exception must not leave instances behind (containers outlive their executor).
  const forgetBackend = onFatal(() => backend.close());
  // Containers of executors that died without cleaning up are removed by whoever finds them.
  const reaper =
    backend instanceof DockerBackend
      ? new OrphanReaper({ backend, bus: infra.bus, topology: infra.topology, executorId: id, heartbeatMs: cfg.BRISK_HEARTBEAT_MS, logger: log.child({ component: 'reaper' }) })
      : undefined;
  const code = new CodeCache(infra.bundles);
  // What runs is the stored version, whatever a message says (one store read per version, cached).
  const versions = new FunctionVersions(infra.store);
  const secrets = new FunctionSecrets(infra.kv, cfg.BRISK_SECRET_KEY !== undefined ? new SecretBox(cfg.BRISK_SECRET_KEY) : undefined);
  const pool = new WarmPool({
    // Tracked: an instance's platform token is revoked when the instance is destroyed.
    backend: platform.track(backend),
    prepareInit: async (claimed) => {
      // Code, secrets and the token's namespace come from the stored version only, never from a bus message's description.
      const fn = await versions.resolve(claimed);
      const filesHash = fn.filesHash;
      const [text, env] = await Promise.all([
        code.get(fn.codeHash, fn.codeSize),
        // Secrets go into the instance's environment only, at /init.
        secrets.load(fn.namespace, fn.name, fn.secretsDigest),
        // Package files are fetched and unpacked here, before an instance is taken; linked into its directory at /init.
        filesHash !== undefined ? packages.prepare(filesHash, fn.filesSize) : undefined,
      ]);
      return {
        code: text,
        env,
        ...(filesHash !== undefined ? { fillPackage: (dest: string) => packages.checkout(filesHash, dest) } : {}),
        platform: { token: platform.issueToken({ namespace: fn.namespace, function: fn.name }) },
      };
    },
    memoryMb: cfg.BRISK_EXECUTOR_MEMORY_MB,
    idleTtlMs: cfg.BRISK_IDLE_TTL_MS,
    poolSize: cfg.BRISK_POOL_SIZE,
    poolMax: cfg.BRISK_POOL_MAX,
    poolMemorySizes: [cfg.BRISK_DEFAULT_MEMORY_MB],
    poolRuntimes: cfg.BRISK_POOL_RUNTIMES,
    maxCreating: cfg.BRISK_CREATE_CONCURRENCY,
    // Frozen when idle: work a function left running after it returned stops (0: never).
    ...(cfg.BRISK_PAUSE_IDLE_MS > 0 ? { pauseIdleAfterMs: cfg.BRISK_PAUSE_IDLE_MS } : {}),
    logger: log.child({ component: 'pool' }),
  });
  pool.start();
  const meter = new UsageMeter(infra.kv);
  meter.start();
  const retry = RetryPolicy.fromConfig(cfg);
  const executor = new Executor({
    id,
    backend: backend.name,
    metrics: infra.metrics,
    meter,
    bus: infra.bus,
    topology: infra.topology,
    store: infra.store,
    pool,
    code,
    logger: log,
    heartbeatMs: cfg.BRISK_HEARTBEAT_MS,
    deadLetters: createDeadLetterOffice(infra, createSubmitter(infra, retry), log),
    retry,
    kv: infra.kv,
    versions,
    // Enough to keep every core busy and the pool's memory budget full of small functions.
    concurrency: Math.max(4, Math.floor(cfg.BRISK_EXECUTOR_MEMORY_MB / 128)),
  });
  await executor.start();
  await reaper?.start();
  log.info({ backend: backend.name, memoryMb: cfg.BRISK_EXECUTOR_MEMORY_MB }, 'executor ready');
  // The platform API outlives the drain: runs still in flight may call it.
  const stopExecutor = executor.stop.bind(executor);
  return Object.assign(executor, {
    stop: async () => {
      await reaper?.stop();
      await stopExecutor();
      forgetBackend();
      await platform.close();
      await packages.close();
    },
  });
}
