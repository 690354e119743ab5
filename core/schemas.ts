import { z } from 'zod';
import type { Logger } from './logger.js';
import { EXECUTOR_BACKENDS, FUNCTION_RUNTIMES } from './types.js';

/**
 * Schemas for everything that crosses the bus, and the one definition of each
 * message's type: the types are inferred from the schemas (`z.infer`), so the
 * two cannot drift apart. A consumer parses each message with these before
 * acting, so a malformed message is dead-lettered at the edge instead of
 * crashing a handler deep inside. `core/types.ts` re-exports the types for
 * code that does not need the schemas.
 *
 * zod stays out of the runtime bundle: nothing under `runtime/` imports this
 * file.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** An alias name: like a function name, but starting with a letter, so it never reads as a version number. */
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * A function as a user names it wherever one is named (triggers, on-failure
 * targets, the CLI): `name` (its latest version) or `name:alias`.
 */
export const FUNCTION_TARGET_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}(?::[a-z][a-z0-9_-]{0,62})?$/;

const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/);

/** Settings a user chooses at deploy time. */
export const functionSettingsSchema = z.object({
  /** `file.export`, e.g. `index.handler`. For single-source deploys the file is `index`. */
  handler: z.string().min(1),
  memoryMb: z.number().int().positive(),
  timeoutMs: z.number().int().positive(),
  env: z.record(z.string(), z.string()),
  /** Per-function concurrency cap; 0 = unlimited (the namespace cap still applies). */
  maxConcurrency: z.number().int().nonnegative(),
  /** Async retries on function error or timeout. */
  retries: z.number().int().nonnegative(),
  /**
   * Calls one warm instance takes at once (1–100); unset: 1. Set only when
   * above 1, so versions deployed before it existed keep their signature.
   */
  concurrency: z.number().int().min(2).max(100).optional(),
  /** Whether the instance may reach the network (Docker backend). */
  allowEgress: z.boolean(),
  /**
   * Name of a function (same namespace) invoked async with the dead letter
   * when an async invocation of this one finally fails; `name:alias` follows
   * the alias. Unset: none.
   */
  onFailure: z.string().regex(FUNCTION_TARGET_PATTERN).optional(),
  /** Whether `/fn/{name}` answers without an API key (default: a key is needed). */
  public: z.boolean().optional(),
  /** What runs it (unset: `nodejs`, as every version stored before runtimes existed). */
  runtime: z.enum(FUNCTION_RUNTIMES).optional(),
  /** `runtime: image` only: the container image (`name:tag`) the Docker backend starts. */
  image: z.string().min(1).max(256).optional(),
  /** Names of the secrets delivered to the function's env (values are never stored here). */
  secretNames: z.array(z.string()).optional(),
  /** Keyed digest of the secret values; part of what makes a version. Unset: no secrets. */
  secretsDigest: z.string().optional(),
});
export type FunctionSettings = z.infer<typeof functionSettingsSchema>;

/** One immutable deployed version of a function. */
export const functionVersionSchema = z.object({
  namespace: z.string().regex(NAME_PATTERN),
  name: z.string().regex(NAME_PATTERN),
  /** 1, 2, 3 … per function. */
  version: z.number().int().positive(),
  /** sha256 (hex) of the bundled code; the object-store key is derived from it. */
  codeHash: sha256Hex,
  /** Size of the bundle in bytes. */
  codeSize: z.number().int().nonnegative(),
  /** Export name to call inside the bundle (`handler`, `main`, …). */
  exportName: z.string().min(1),
  /**
   * sha256 (hex) of the package's files (a gzipped tar of every file of a
   * deployed archive, shipped beside the bundle); unset for a single source.
   */
  filesHash: sha256Hex.optional(),
  /** Size of that tar in bytes. */
  filesSize: z.number().int().nonnegative().optional(),
  ...functionSettingsSchema.shape,
  createdAt: z.string(),
});
export type FunctionVersion = z.infer<typeof functionVersionSchema>;

export const activationStatusSchema = z.enum(['queued', 'running', 'success', 'error', 'timeout', 'oom', 'platform_error', 'throttled']);
export type ActivationStatus = z.infer<typeof activationStatusSchema>;

/** A unit of work on the bus: gateway → scheduler → executor. */
export const invocationRequestSchema = z.object({
  activationId: z.string().min(1).max(64),
  /** The exact version to run, resolved by the gateway (immutable; carries no secrets). */
  fn: functionVersionSchema,
  mode: z.enum(['sync', 'async']),
  /** The event as JSON text, parsed once inside the runtime only. */
  payload: z.string(),
  /** For sync calls: the gateway queue waiting for the result. */
  replyTo: z.string().optional(),
  /** Absolute epoch ms after which nobody waits for this result any more. */
  deadline: z.number(),
  attempt: z.number().int().positive(),
  queuedAt: z.string(),
  trigger: z.string().optional(),
  /** Retries caused by throttling or platform faults (not counted in `attempt`). */
  platformRetries: z.number().int().nonnegative().optional(),
  /** Executors lost while running this invocation (see `scheduler/retry-limits.ts`). */
  executorLosses: z.number().int().nonnegative().optional(),
  /** The namespace's concurrency quota, resolved by the gateway (unset: the scheduler's default). */
  namespaceConcurrency: z.number().int().positive().optional(),
  /** The alias the caller named, when it did; `fn.version` is the version the alias routed this call to. */
  alias: z.string().regex(ALIAS_PATTERN).optional(),
});
export type InvocationRequest = z.infer<typeof invocationRequestSchema>;

/**
 * Scheduler → executor, or gateway → executor for a warm sync call (the
 * direct path, `gateway/warm-dispatcher.ts`): an invocation and why it was
 * placed there.
 */
export const dispatchSchema = z.object({
  request: invocationRequestSchema,
  placement: z.string(),
  /**
   * The scheduler's completion queue: the executor reports the end of the run
   * there. Absent on a gateway's direct dispatch: its reply (to
   * `request.replyTo`) is the completion, and nothing else is sent.
   */
  scheduler: z.string().optional(),
});
export type Dispatch = z.infer<typeof dispatchSchema>;

/** `Activation['error']`: a function's own error, or a platform error with its code. */
const activationError = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('function'), errorType: z.string(), errorMessage: z.string(), stack: z.string().optional() }),
  z.object({ kind: z.literal('platform'), code: z.string(), message: z.string() }),
]);

/** Executor → gateway, for sync callers. */
export const invocationResultSchema = z.object({
  activationId: z.string(),
  status: activationStatusSchema,
  /** Function result as JSON text (so it is stringified exactly once). */
  resultJson: z.string().optional(),
  error: activationError.optional(),
  coldStart: z.boolean(),
  durationMs: z.number(),
  /** The executor that ran it and whether it failed there for its own (platform) reasons: a direct dispatcher's health view. */
  executorId: z.string().optional(),
  systemError: z.boolean().optional(),
});
export type InvocationResult = z.infer<typeof invocationResultSchema>;

/** A warm (loaded) instance an executor holds, as reported in its heartbeat. */
export const warmInstanceInfoSchema = z.object({
  namespace: z.string(),
  function: z.string(),
  version: z.number(),
  state: z.enum(['idle', 'busy']),
  /**
   * Calls it can take now, when that is not what `state` says (1 when idle,
   * 0 when busy): a function with `concurrency` N has N places on an idle
   * instance and the ones its running calls leave on a busy one.
   */
  places: z.number().int().nonnegative().optional(),
});
export type WarmInstanceInfo = z.infer<typeof warmInstanceInfoSchema>;

/**
 * Executor → schedulers, every BRISK_HEARTBEAT_MS on the heartbeat topic.
 * `leaving: true` is the last one a draining executor sends.
 */
export const heartbeatSchema = z.object({
  executorId: z.string(),
  backend: z.enum(EXECUTOR_BACKENDS),
  /** Memory budget in MB and how much of it instances use now. */
  memoryMb: z.number(),
  memoryUsedMb: z.number(),
  /** Activations running right now. */
  inFlight: z.number(),
  /** Generic pool instances ready, per memory size. */
  pool: z.record(z.string(), z.number()),
  /** The same per pool key (`placement/pool-keys.ts`), so a placement can send a new function's call where one can take it. Older executors: absent. */
  stems: z.record(z.string(), z.number()).optional(),
  warm: z.array(warmInstanceInfoSchema),
  /** Consecutive platform (system) errors, for health. */
  systemErrors: z.number(),
  draining: z.boolean(),
  leaving: z.boolean(),
  sentAt: z.number(),
  /** It takes warm sync calls from gateways on `<p>.direct.<executorId>` (absent: an older executor; only schedulers place there). */
  direct: z.boolean().optional(),
  /**
   * Provisioned instances it holds loaded (idle or busy), per
   * `namespace/name@version`: what the provisioner asked it to keep and has
   * got ready. Absent: none.
   */
  provisioned: z.record(z.string(), z.number().int().nonnegative()).optional(),
  /**
   * The activations holding an instance when this heartbeat was composed
   * (absent: an older executor; empty: none). Lets a dispatcher tell which of its
   * warm dispatches this heartbeat's idle counts already saw as busy, and
   * which were still on their way (see `ExecutorRegistry`).
   */
  running: z.array(z.string()).max(10_000).optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Executor → the scheduler that dispatched: the run ended (frees its reservation and limits). */
export const completionSchema = z.object({
  activationId: z.string(),
  executorId: z.string(),
  status: activationStatusSchema,
  /** True for a platform fault (counts toward the executor's unhealthy state). */
  systemError: z.boolean(),
});
export type Completion = z.infer<typeof completionSchema>;

/** An object was written or removed through Brisk's object API (storage triggers listen for these). */
export const objectEventSchema = z.object({
  namespace: z.string().min(1),
  bucket: z.string().min(1),
  key: z.string().min(1),
  size: z.number().nonnegative(),
  type: z.enum(['created', 'deleted']),
  at: z.string(),
  /**
   * Unique id of this event, when the publisher sets one: storage triggers
   * lease on it so that one scheduler fires per event (without it they lease
   * on a hash of the other fields).
   */
  eventId: z.string().min(1).optional(),
});
export type ObjectEvent = z.infer<typeof objectEventSchema>;

export const parseInvocationRequest = (raw: unknown): InvocationRequest => invocationRequestSchema.parse(raw);
export const parseDispatch = (raw: unknown): Dispatch => dispatchSchema.parse(raw);
export const parseInvocationResult = (raw: unknown): InvocationResult => invocationResultSchema.parse(raw);
export const parseHeartbeat = (raw: unknown): Heartbeat => heartbeatSchema.parse(raw);
export const parseCompletion = (raw: unknown): Completion => completionSchema.parse(raw);

// ---------------------------------------------------------------------------
// The control topic: fan-out notices every role may hear.

/** Gateway → gateways: a function was deployed or deleted; drop what is cached of it. */
export const functionChangedSchema = z.object({
  kind: z.literal('function-changed'),
  namespace: z.string(),
  name: z.string(),
});
export type FunctionChangedNotice = z.infer<typeof functionChangedSchema>;

/** Gateway → gateways: API keys were revoked (one, or a deleted namespace's); forget them at once. */
export const keysRevokedSchema = z.object({
  kind: z.literal('keys-revoked'),
  keyIds: z.array(z.string().regex(/^[a-f0-9]{16}$/)).max(100_000),
});
export type KeysRevokedNotice = z.infer<typeof keysRevokedSchema>;

/** Gateway → trigger runners: a namespace's triggers changed; reload them. */
export const triggersChangedSchema = z.object({
  kind: z.literal('triggers-changed'),
  namespace: z.string(),
});
export type TriggersChangedNotice = z.infer<typeof triggersChangedSchema>;

/**
 * Scheduler → one executor: load an instance of `fn` and keep it idle,
 * without running anything. Sent while another executor drains, so its warm
 * functions stay warm elsewhere.
 */
export const prewarmSchema = z.object({
  kind: z.literal('prewarm'),
  executorId: z.string(),
  fn: functionVersionSchema,
});
export type PrewarmRequest = z.infer<typeof prewarmSchema>;

/**
 * The provisioner (one scheduler) → executors: the provisioned instances each
 * executor keeps loaded, its whole share (a version it no longer lists is
 * released to the idle timeout). Sent every round, so a lost message or a new
 * executor is set right a round later. `round` orders the messages of one
 * provisioner; an executor ignores an older round than the last it applied.
 */
export const provisionSchema = z.object({
  kind: z.literal('provision'),
  provisioner: z.string(),
  round: z.number().int().nonnegative(),
  shares: z.record(z.string(), z.array(z.object({ fn: functionVersionSchema, instances: z.number().int().positive() }))),
});
export type ProvisionMessage = z.infer<typeof provisionSchema>;

export const controlMessageSchema = z.discriminatedUnion('kind', [functionChangedSchema, triggersChangedSchema, prewarmSchema, provisionSchema, keysRevokedSchema]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

const CONTROL_KINDS: ReadonlySet<unknown> = new Set(controlMessageSchema.options.map((o) => o.shape.kind.value));

/**
 * A message heard on the control topic, or undefined when it is not for us:
 * a kind this build does not know is ignored (a newer peer may send it, so it
 * is no error), and a known kind with a malformed body is logged and dropped
 * (the topic is fan-out and fire-and-forget, so there is nowhere to
 * dead-letter it, and throwing would only fail the subscriber).
 */
export function parseControl(raw: unknown, logger: Pick<Logger, 'warn'>): ControlMessage | undefined {
  const kind = typeof raw === 'object' && raw !== null ? (raw as { kind?: unknown }).kind : undefined;
  if (!CONTROL_KINDS.has(kind)) return undefined;
  const parsed = controlMessageSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  logger.warn({ kind, issues: parsed.error.issues.slice(0, 5) }, 'malformed control message dropped');
  return undefined;
}
