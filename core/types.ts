/**
 * Domain types shared by every role. These are the shapes that live in the
 * store and travel on the bus; validation schemas for them sit in
 * `core/schemas.ts`.
 */

/** The default namespace every object lives under until tenancy arrives. */
export const DEFAULT_NAMESPACE = 'default';

/** Settings a user chooses at deploy time. */
export interface FunctionSettings {
  /** `file.export`, e.g. `index.handler`. For single-source deploys the file is `index`. */
  handler: string;
  memoryMb: number;
  timeoutMs: number;
  env: Record<string, string>;
  /** Per-function concurrency cap; 0 = unlimited (the namespace cap still applies). */
  maxConcurrency: number;
  /** Async retries on function error or timeout. */
  retries: number;
  /** Whether the instance may reach the network (Docker backend). */
  allowEgress: boolean;
  /**
   * Name of a function (same namespace) invoked async with the dead letter
   * when an async invocation of this one finally fails. Unset: none.
   */
  onFailure?: string;
  /** Whether `/fn/{name}` answers without an API key (default: a key is needed). */
  public?: boolean;
  /** Names of the secrets delivered to the function's env (values are never stored here). */
  secretNames?: string[];
  /** Keyed digest of the secret values; part of what makes a version. Unset: no secrets. */
  secretsDigest?: string;
}

/** One immutable deployed version of a function. */
export interface FunctionVersion extends FunctionSettings {
  namespace: string;
  name: string;
  /** 1, 2, 3 … per function. */
  version: number;
  /** sha256 (hex) of the bundled code; the object-store key is derived from it. */
  codeHash: string;
  /** Size of the bundle in bytes. */
  codeSize: number;
  /** Export name to call inside the bundle (`handler`, `main`, …). */
  exportName: string;
  /**
   * sha256 (hex) of the package's files (a gzipped tar of every file of a
   * deployed archive, shipped beside the bundle); unset for a single source.
   */
  filesHash?: string;
  /** Size of that tar in bytes. */
  filesSize?: number;
  createdAt: string;
}

/** What the registry returns for a function: its latest version plus bookkeeping. */
export interface FunctionRecord {
  namespace: string;
  name: string;
  latest: FunctionVersion;
  versions: number[];
  createdAt: string;
  updatedAt: string;
}

export type ActivationStatus =
  | 'queued'
  | 'running'
  | 'success'
  | 'error'
  | 'timeout'
  | 'oom'
  | 'platform_error'
  | 'throttled';

export const FINAL_STATUSES: ReadonlySet<ActivationStatus> = new Set([
  'success',
  'error',
  'timeout',
  'oom',
  'platform_error',
]);

/** How an instance was obtained for an activation. */
export type StartKind = 'warm' | 'pool' | 'cold';

/** Error reported by a function (as opposed to the platform). */
export interface FunctionErrorBody {
  kind: 'function';
  errorType: string;
  errorMessage: string;
  stack?: string;
}

/** Error of the platform (it could not run the function, or lost the run): a stable code. */
export interface PlatformErrorBody {
  kind: 'platform';
  code: string;
  message: string;
}

/**
 * Why an activation failed, told apart by `kind`. Records written before
 * `kind` existed lack it; readers of stored records must not rely on it.
 */
export type ActivationError = FunctionErrorBody | PlatformErrorBody;

export interface Activation {
  activationId: string;
  namespace: string;
  function: string;
  version: number;
  status: ActivationStatus;
  /** `sync` callers wait on a reply; `async` ones poll. */
  mode: 'sync' | 'async';
  result?: unknown;
  error?: ActivationError;
  logs: string[];
  logsTruncated?: boolean;
  coldStart: boolean;
  startKind?: StartKind;
  startMs?: number;
  executor?: string;
  placement?: string;
  attempts: number;
  trigger?: string;
  queuedAt: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
}

/** A unit of work on the bus: gateway → scheduler → executor. */
export interface InvocationRequest {
  activationId: string;
  /** The exact version to run, resolved by the gateway (immutable; carries no secrets). */
  fn: FunctionVersion;
  mode: 'sync' | 'async';
  /** The event as JSON text, parsed once inside the runtime only. */
  payload: string;
  /** For sync calls: the gateway queue waiting for the result. */
  replyTo?: string;
  /** Absolute epoch ms after which nobody waits for this result any more. */
  deadline: number;
  attempt: number;
  queuedAt: string;
  trigger?: string;
  /** Retries caused by throttling or platform faults (not counted in `attempt`). */
  platformRetries?: number;
  /** Executors lost while running this invocation (see `invocations/retry-policy.ts`). */
  executorLosses?: number;
  /** The namespace's concurrency quota, resolved by the gateway (unset: the scheduler's default). */
  namespaceConcurrency?: number;
}

/** Scheduler → executor: an invocation and why it was placed there. */
export interface Dispatch {
  request: InvocationRequest;
  placement: string;
  /** The scheduler's completion queue: the executor reports the end of the run there. */
  scheduler: string;
}

/** Executor → the scheduler that dispatched: the run ended (frees its reservation and limits). */
export interface Completion {
  activationId: string;
  executorId: string;
  status: ActivationStatus;
  /** True for a platform fault (counts toward the executor's unhealthy state). */
  systemError: boolean;
}

/** Executor → gateway, for sync callers. */
export interface InvocationResult {
  activationId: string;
  status: ActivationStatus;
  /** Function result as JSON text (so it is stringified exactly once). */
  resultJson?: string;
  error?: Activation['error'];
  coldStart: boolean;
  durationMs: number;
}

/** A warm (loaded) instance an executor holds, as reported in its heartbeat. */
export interface WarmInstanceInfo {
  namespace: string;
  function: string;
  version: number;
  state: 'idle' | 'busy';
}

/**
 * Executor → schedulers, every BRISK_HEARTBEAT_MS on the heartbeat topic.
 * `leaving: true` is the last one a draining executor sends.
 */
export interface Heartbeat {
  executorId: string;
  backend: 'process' | 'docker';
  /** Memory budget in MB and how much of it instances use now. */
  memoryMb: number;
  memoryUsedMb: number;
  /** Activations running right now. */
  inFlight: number;
  /** Generic pool instances ready, per memory size. */
  pool: Record<string, number>;
  warm: WarmInstanceInfo[];
  /** Consecutive platform (system) errors, for health. */
  systemErrors: number;
  draining: boolean;
  leaving: boolean;
  sentAt: number;
}

/** An object was written or removed through Brisk's object API (storage triggers listen for these). */
export interface ObjectEvent {
  namespace: string;
  bucket: string;
  key: string;
  size: number;
  type: 'created' | 'deleted';
  at: string;
  /**
   * Unique id of this event, when the publisher sets one: storage triggers
   * lease on it so that one scheduler fires per event (without it they lease
   * on a hash of the other fields).
   */
  eventId?: string;
}

/**
 * Scheduler → one executor (on the control topic): load an instance of `fn`
 * and keep it idle, without running anything. Sent while another executor
 * drains, so its warm functions stay warm elsewhere.
 */
export interface PrewarmRequest {
  kind: 'prewarm';
  executorId: string;
  fn: FunctionVersion;
}
