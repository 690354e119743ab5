import { z } from 'zod';
import { EXECUTOR_BACKENDS } from './types.js';

/** Shortest BRISK_BUS_KEY accepted: 32 characters, so it cannot be guessed. */
export const MIN_BUS_KEY_CHARS = 32;

/**
 * Every setting Brisk reads from the environment, parsed once at start-up.
 * Nothing else in the code base reads `process.env` (the README lists these).
 */
export const configSchema = z.object({
  /** HTTP port of the gateway (standalone: the one process). */
  BRISK_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Interface the gateway binds to. */
  BRISK_HOST: z.string().default('127.0.0.1'),
  /** Where standalone mode keeps functions, code and activations. */
  BRISK_DATA_DIR: z.string().default('./.brisk'),
  /** When set, every /v1 call must carry `Authorization: Bearer <key>`. */
  BRISK_ADMIN_KEY: z.string().min(1).optional(),
  /** Largest accepted invocation payload / deploy body, in bytes (6 MB like Lambda's sync limit). */
  BRISK_MAX_PAYLOAD_BYTES: z.coerce.number().int().positive().default(6 * 1024 * 1024),
  /** Largest accepted deploy body (source or archive), in bytes. */
  BRISK_MAX_CODE_BYTES: z.coerce.number().int().positive().default(50 * 1024 * 1024),
  /** Largest unpacked size of a deployed archive (decompression bombs stop here). */
  BRISK_MAX_UNPACKED_BYTES: z.coerce.number().int().positive().default(250 * 1024 * 1024),
  /** Most files a deployed archive may hold. */
  BRISK_MAX_ARCHIVE_FILES: z.coerce.number().int().positive().default(20_000),
  /** Idle time after which a loaded instance is stopped. */
  BRISK_IDLE_TTL_MS: z.coerce.number().int().positive().default(10 * 60 * 1000),
  /**
   * `process` (child processes; not a sandbox) or `docker`. Unset: `process`
   * in standalone mode, `docker` for a distributed executor (which runs
   * tenants' code); see `executorBackendFor` in cli/compose.ts.
   */
  BRISK_EXECUTOR_BACKEND: z.enum(EXECUTOR_BACKENDS).optional(),
  /** Memory budget of one executor, in MB: the sum of its instances' memoryMb. */
  BRISK_EXECUTOR_MEMORY_MB: z.coerce.number().int().positive().default(4096),
  /** Stable id of an executor; random when unset. */
  BRISK_EXECUTOR_ID: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/).optional(),
  /** Generic pre-started instances kept per pool (the warm pool): per runtime on Docker, per runtime and memory size on the process backend. */
  BRISK_POOL_SIZE: z.coerce.number().int().min(0).default(2),
  /** Upper bound the adaptive pool may grow to. */
  BRISK_POOL_MAX: z.coerce.number().int().min(0).default(8),
  /**
   * Runtimes whose generic pool (BRISK_POOL_SIZE instances) is filled from
   * the start: a comma-separated list of `nodejs` and `python`. Any other
   * runtime gets a pool after its first cold start, up to BRISK_POOL_MAX.
   */
  BRISK_POOL_RUNTIMES: z
    .string()
    .default('nodejs')
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(z.enum(['nodejs', 'python']))),
  /** Instances one executor creates at once (cold starts and pre-starts); more wait their turn. */
  BRISK_CREATE_CONCURRENCY: z.coerce.number().int().positive().default(4),
  /** Default function timeout when a deploy does not say. */
  BRISK_DEFAULT_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** Ceiling on a function's timeout. */
  BRISK_MAX_TIMEOUT_MS: z.coerce.number().int().positive().default(15 * 60 * 1000),
  /** Default function memory when a deploy does not say. */
  BRISK_DEFAULT_MEMORY_MB: z.coerce.number().int().positive().default(256),
  /** Ceiling on a function's memory. */
  BRISK_MAX_MEMORY_MB: z.coerce.number().int().positive().default(2048),
  /** Placement policy of the scheduler: `spread` (least loaded) or `pack` (consolidate). */
  BRISK_PLACEMENT: z.enum(['spread', 'pack']).default('spread'),
  /**
   * Distributed mode: a gateway sends a warm sync call straight to an executor
   * holding an idle warm instance of the function (its own placement, from
   * the executors' heartbeats), and the reply comes straight back; the
   * scheduler keeps async work, cold placement, retries and recovery. `false`
   * sends every call through a scheduler (the previous path, for comparison).
   */
  BRISK_DIRECT_SYNC: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /**
   * Key that encrypts function secrets at rest (AES-256-GCM; any length, it is
   * stretched with scrypt). Required to deploy functions with secrets; every
   * gateway and executor of an installation needs the same value.
   */
  BRISK_SECRET_KEY: z.string().min(16).optional(),
  /** Default quota: memory a namespace's provisioned instances may hold at their peak (0: no provisioned instances). */
  BRISK_NS_MAX_PROVISIONED_MB: z.coerce.number().int().nonnegative().default(2048),
  /**
   * Part of each executor's memory budget that provisioned instances may take
   * (the rest stays for on-demand calls of every function).
   */
  BRISK_PROVISIONED_SHARE: z.coerce.number().gt(0).max(1).default(0.75),
  /** Default quota: functions per namespace. */
  BRISK_NS_MAX_FUNCTIONS: z.coerce.number().int().positive().default(200),
  /** Default quota: invocations per second per namespace (token bucket, burst 2×). */
  BRISK_NS_INVOCATIONS_PER_SECOND: z.coerce.number().positive().default(5000),
  /** Default quota: largest async event (queued work is kept small, like Lambda's 256 KB). */
  BRISK_NS_MAX_ASYNC_PAYLOAD_BYTES: z.coerce.number().int().positive().default(256 * 1024),
  /** Per-namespace concurrency limit (in-flight invocations). */
  BRISK_NAMESPACE_CONCURRENCY: z.coerce.number().int().positive().default(1000),
  /**
   * Maximum event age of an async invocation, from when it was accepted: past
   * it, waiting or retrying stops and it is dead-lettered (EVENT_TOO_OLD).
   */
  BRISK_MAX_EVENT_AGE_S: z.coerce.number().int().positive().default(6 * 3600),
  /** How long activation records are kept. */
  BRISK_ACTIVATION_TTL_S: z.coerce.number().int().positive().default(7 * 24 * 3600),
  /** RabbitMQ URL (distributed mode). */
  BRISK_RABBITMQ_URL: z.string().default('amqp://guest:guest@127.0.0.1:5672'),
  /** Prefix for every exchange and queue Brisk declares (lets tests run side by side). */
  BRISK_BUS_PREFIX: z.string().regex(/^[a-zA-Z0-9_.-]+$/).default('brisk'),
  /** Redis URL (distributed mode). */
  BRISK_REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Prefix for every Redis key Brisk writes. */
  BRISK_REDIS_PREFIX: z.string().default('brisk:'),
  /** S3 / MinIO endpoint URL (distributed mode), e.g. http://127.0.0.1:9000 */
  BRISK_S3_ENDPOINT: z.string().url().default('http://127.0.0.1:9000'),
  BRISK_S3_ACCESS_KEY: z.string().default('minioadmin'),
  BRISK_S3_SECRET_KEY: z.string().default('minioadmin'),
  BRISK_S3_BUCKET: z.string().default('brisk'),
  BRISK_S3_REGION: z.string().default('us-east-1'),
  /** Runtime image the Docker backend runs (built offline when missing). */
  BRISK_RUNTIME_IMAGE: z.string().default('brisk-runtime:latest'),
  /** Python runtime image the Docker backend runs for `runtime: python` (built offline, on first need, when missing). */
  BRISK_PYTHON_IMAGE: z.string().default('brisk-runtime-python:latest'),
  /**
   * The Python interpreter (3.11+): the process backend runs Python functions
   * with it, and the gateway compiles Python code at deploy with it. A bare
   * name is looked up on PATH. Python is offered when it runs (GET /v1/runtimes).
   */
  BRISK_PYTHON: z.string().min(1).default('python3'),
  /**
   * Namespaces that may deploy `runtime: image` functions (any container
   * image that speaks the runtime protocol): a comma-separated list, `*` for
   * every namespace. Unset: none. Images widen what runs, so the operator opts in.
   */
  BRISK_ALLOW_IMAGES: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0)),
  /** Executor heartbeat interval. */
  BRISK_HEARTBEAT_MS: z.coerce.number().int().positive().default(1000),
  /**
   * Port on which a scheduler or executor process serves Prometheus `/metrics`
   * (unset: none; a gateway serves them on BRISK_PORT, behind the admin key).
   */
  BRISK_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Interface of the metrics port. */
  BRISK_METRICS_HOST: z.string().default('127.0.0.1'),
  /** Log level: fatal, error, warn, info, debug, trace, silent. */
  BRISK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Key that signs every message the roles exchange on RabbitMQ (HMAC-SHA256
   * over the body and its queue or topic); a message without a valid signature
   * is dead-lettered, never handled. Required in distributed mode, the same on
   * every gateway, scheduler and executor, known to nobody else (not to users'
   * producers). Standalone's in-process bus needs none.
   */
  BRISK_BUS_KEY: z.string().min(MIN_BUS_KEY_CHARS, `must be at least ${MIN_BUS_KEY_CHARS} characters`).optional(),
  /**
   * Largest function result, as bytes of JSON (6 MiB like Lambda's sync
   * response). A larger one is the function error `ResultTooLarge`: results
   * travel whole through the bus (keep this well below RabbitMQ's
   * max_message_size) and into the activation record.
   */
  BRISK_MAX_RESULT_BYTES: z.coerce.number().int().positive().max(64 * 1024 * 1024).default(6 * 1024 * 1024),
  /**
   * Freeze a loaded instance idle for this long (Docker: `docker pause`;
   * process backend: SIGSTOP of its processes), so work a function left
   * running after it returned stops burning unbilled CPU; the next warm call
   * resumes it. 0 = never. The default sits far above the gap between calls
   * of a busy function, so a stream of warm calls never pays a resume
   * (measured here: docker unpause ~25 ms, SIGCONT ~0.01 ms).
   */
  BRISK_PAUSE_IDLE_MS: z.coerce.number().int().min(0).default(1000),
  /**
   * Process backend run as root: each instance runs as its own uid from this
   * range (`first-last`, no passwd entry needed), so instances cannot read
   * each other's files, sockets or the executor's /proc entries. `off` runs
   * them as the executor's user. Executors on one host may share the range
   * (uids are leased through files under /run). Ignored when not root.
   */
  BRISK_PROCESS_UID_RANGE: z
    .string()
    .regex(/^(off|\d+-\d+)$/, 'must be `first-last` (e.g. 2000000000-2000999999) or `off`')
    .default('2000000000-2000999999'),
  /**
   * Connections the platform API socket (context.state / context.objects)
   * holds at once, from all instances together. Keeps one function that
   * floods the socket from exhausting the executor's file descriptors.
   */
  BRISK_PLATFORM_API_MAX_CONNECTIONS: z.coerce.number().int().min(16).default(1024),
  /**
   * Where an executor unpacks functions' package files (one tree per package,
   * hard-linked into each instance's package directory). Per executor under
   * it: `<dir>/<executorId>/`. A Docker executor running in a container needs
   * it at the same path as on the host (infra/docker-compose.yml).
   */
  BRISK_PACKAGE_DIR: z.string().optional(),
  /** Unpacked package files an executor keeps on disk, in MB; least recently used go first. */
  BRISK_PACKAGE_CACHE_MB: z.coerce.number().int().positive().default(2048),
  /**
   * Times an async invocation is retried for reasons that are not its
   * function's fault (throttled, a platform fault, its executor lost), apart
   * from the function's own `retries`; then it is dead-lettered
   * (PLATFORM_RETRIES_EXHAUSTED). Retry n waits n seconds.
   */
  BRISK_MAX_PLATFORM_RETRIES: z.coerce.number().int().min(0).max(100).default(10),
});

export type BriskConfig = z.infer<typeof configSchema>;

const SECRET_KEYS = ['BRISK_ADMIN_KEY', 'BRISK_S3_SECRET_KEY', 'BRISK_SECRET_KEY', 'BRISK_BUS_KEY'] as const;

/** Parse the environment once; throws a readable message on bad values. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): BriskConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The config with secrets masked and URLs' passwords removed, for logging. */
export function redactConfig(cfg: BriskConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cfg };
  for (const k of SECRET_KEYS) if (out[k] !== undefined) out[k] = '***';
  for (const k of ['BRISK_RABBITMQ_URL', 'BRISK_REDIS_URL'] as const) {
    out[k] = cfg[k].replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  }
  return out;
}
