import type { ActivationStatus, FunctionVersion } from './schemas.js';

/**
 * Domain types shared by every role. These are the shapes that live in the
 * store and travel on the bus. The messages' types are defined once, by their
 * schemas in `core/schemas.ts` (`z.infer`), and re-exported here so that code
 * which needs only the types imports no zod (type-only exports are erased).
 */
export type {
  ActivationStatus,
  Completion,
  ControlMessage,
  Dispatch,
  FunctionChangedNotice,
  FunctionSettings,
  FunctionVersion,
  Heartbeat,
  InvocationRequest,
  InvocationResult,
  KeysRevokedNotice,
  ObjectEvent,
  PrewarmRequest,
  ProvisionMessage,
  TriggersChangedNotice,
  WarmInstanceInfo,
} from './schemas.js';

/** The default namespace every object lives under until tenancy arrives. */
export const DEFAULT_NAMESPACE = 'default';

/** The executor backends: the one list config, heartbeats and executors take their names from. */
export const EXECUTOR_BACKENDS = ['process', 'docker'] as const;
export type ExecutorBackendName = (typeof EXECUTOR_BACKENDS)[number];

/**
 * What runs a function: `nodejs` (the default, and what a version stored
 * without a runtime ran), `python` (Python 3.11+, runtime/python/) or `image`
 * (any container image that speaks the runtime protocol, Docker backend only).
 */
export const FUNCTION_RUNTIMES = ['nodejs', 'python', 'image'] as const;
export type FunctionRuntime = (typeof FUNCTION_RUNTIMES)[number];

/** What a version runs on: its runtime, `nodejs` when it was stored without one. */
export function runtimeOf(fn: { runtime?: FunctionRuntime | undefined }): FunctionRuntime {
  return fn.runtime ?? 'nodejs';
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
  /** The alias the caller named (the version is the one it routed to); unset when called by name or version. */
  alias?: string;
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
