import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AmqpBus } from '../bus/amqp-bus.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import type { BriskConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { CodeCache } from '../executor/code-cache.js';
import { DockerBackend } from '../executor/docker-backend.js';
import { Executor } from '../executor/executor.js';
import { ProcessBackend } from '../executor/process-backend.js';
import type { ExecutorBackend } from '../executor/types.js';
import { WarmPool } from '../executor/warm-pool.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { ConcurrencyLimiter } from '../scheduler/concurrency-limiter.js';
import { ExecutorRegistry } from '../scheduler/executor-registry.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { FileObjectStore } from '../storage/file-object-store.js';
import { FileStore } from '../storage/file-store.js';
import { FileKeyValueStore } from '../storage/file-kv-store.js';
import { RedisConnection } from '../storage/redis-connection.js';
import { RedisKeyValueStore } from '../storage/redis-kv-store.js';
import { RedisStore } from '../storage/redis-store.js';
import { S3ObjectStore } from '../storage/s3-object-store.js';
import type { KeyValueStore, MetadataStore, ObjectStore } from '../storage/types.js';

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
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  objects: ObjectStore;
  kv: KeyValueStore;
  /** Close connections (after the roles have stopped). */
  close(): Promise<void>;
}

/** Connect to the bus and stores of a mode. Fails fast when a service is unreachable. */
export async function connectInfrastructure(cfg: BriskConfig, mode: Mode, logger: Logger): Promise<Infrastructure> {
  const topology = new Topology(cfg.BRISK_BUS_PREFIX);
  let bus: Bus;
  let store: MetadataStore;
  let objects: ObjectStore;
  let kv: KeyValueStore;
  let redis: RedisConnection | undefined;
  if (mode === 'standalone') {
    const dir = path.resolve(cfg.BRISK_DATA_DIR);
    bus = new MemoryBus({ prefix: cfg.BRISK_BUS_PREFIX });
    store = new FileStore(path.join(dir, 'meta'), { activationTtlS: cfg.BRISK_ACTIVATION_TTL_S });
    objects = new FileObjectStore(path.join(dir, 'objects'));
    kv = new FileKeyValueStore(path.join(dir, 'meta'));
  } else {
    bus = new AmqpBus({ url: cfg.BRISK_RABBITMQ_URL, prefix: cfg.BRISK_BUS_PREFIX, logger: logger.child({ component: 'bus' }) });
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
    bus,
    topology,
    store,
    objects,
    kv,
    close: async () => {
      await bus.close();
      await Promise.allSettled([store.close(), objects.close(), kv.close()]);
      await redis?.close();
    },
  };
}

export async function startGateway(cfg: BriskConfig, infra: Infrastructure, logger: Logger): Promise<GatewayServer & { port: number }> {
  const gw = new GatewayServer({
    config: cfg,
    ...infra,
    logger: logger.child({ role: 'gateway' }),
    // Feature routers behind /v1 authentication; each feature adds its line here.
    apiRouters: (_ctx) => [],
    // Feature routers outside /v1 (public endpoints).
    publicRouters: (_ctx) => [],
  });
  const port = await gw.start();
  return Object.assign(gw, { port });
}

export async function startScheduler(cfg: BriskConfig, infra: Infrastructure, logger: Logger): Promise<Scheduler> {
  const scheduler = new Scheduler({
    bus: infra.bus,
    topology: infra.topology,
    store: infra.store,
    registry: new ExecutorRegistry({ heartbeatMs: cfg.BRISK_HEARTBEAT_MS }),
    limiter: new ConcurrencyLimiter(),
    logger: logger.child({ role: 'scheduler' }),
    policy: cfg.BRISK_PLACEMENT,
    namespaceConcurrency: cfg.BRISK_NAMESPACE_CONCURRENCY,
  });
  await scheduler.start();
  logger.info({ role: 'scheduler', schedulerId: scheduler.id, policy: cfg.BRISK_PLACEMENT }, 'scheduler ready');
  return scheduler;
}

export function createBackend(cfg: BriskConfig, executorId: string, logger: Logger): ExecutorBackend {
  if (cfg.BRISK_EXECUTOR_BACKEND === 'docker') {
    return new DockerBackend({
      image: cfg.BRISK_RUNTIME_IMAGE,
      executorId,
      socketDir: path.join(os.tmpdir(), 'brisk-sockets', executorId),
      logger: logger.child({ component: 'docker' }),
    });
  }
  return new ProcessBackend({});
}

export async function startExecutor(cfg: BriskConfig, infra: Infrastructure, logger: Logger): Promise<Executor> {
  const id = cfg.BRISK_EXECUTOR_ID ?? `ex-${randomUUID().slice(0, 8)}`;
  const log = logger.child({ role: 'executor', executorId: id });
  const backend = createBackend(cfg, id, log);
  await backend.start();
  const code = new CodeCache(infra.objects);
  const pool = new WarmPool({
    backend,
    prepareInit: async (fn) => ({ code: await code.get(fn.codeHash) }),
    memoryMb: cfg.BRISK_EXECUTOR_MEMORY_MB,
    idleTtlMs: cfg.BRISK_IDLE_TTL_MS,
    poolSize: cfg.BRISK_POOL_SIZE,
    poolMax: cfg.BRISK_POOL_MAX,
    poolMemorySizes: [cfg.BRISK_DEFAULT_MEMORY_MB],
    logger: log.child({ component: 'pool' }),
  });
  pool.start();
  const executor = new Executor({
    id,
    backend: backend.name,
    bus: infra.bus,
    topology: infra.topology,
    store: infra.store,
    pool,
    code,
    logger: log,
    heartbeatMs: cfg.BRISK_HEARTBEAT_MS,
    // Enough to keep every core busy and the pool's memory budget full of small functions.
    concurrency: Math.max(4, Math.floor(cfg.BRISK_EXECUTOR_MEMORY_MB / 128)),
  });
  await executor.start();
  log.info({ backend: backend.name, memoryMb: cfg.BRISK_EXECUTOR_MEMORY_MB }, 'executor ready');
  return executor;
}
