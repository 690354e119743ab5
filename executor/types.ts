import type { ErrorCode } from '../core/error-codes.js';
import type { ExecutorBackendName, FunctionRuntime } from '../core/types.js';
import type { InitRequest, RunRequest, RunResponse } from '../runtime/protocol.js';

/**
 * How an executor obtains and drives instances of the runtime. One file per
 * backend: `process-backend.ts` (child processes; not a sandbox) and
 * `docker-backend.ts` (hardened containers). Chosen once in the composition
 * root. The warm pool (`warm-pool.ts`) sits above a backend and is shared.
 */

/** Why an instance stopped serving an activation, as the backend saw it. */
export type InstanceFault =
  | { kind: 'timeout' }
  | { kind: 'oom' }
  | { kind: 'crash'; exitCode: number | null; signal?: string | null }
  | { kind: 'unreachable'; message: string }
  /**
   * The instance answered, but not in the runtime protocol (not JSON). Only
   * code inside the instance can make the runtime do that, so it is the
   * function's fault and does not count against the executor's health.
   */
  | { kind: 'garbled'; message: string }
  /**
   * The instance's answer grew past what the protocol allows (result, logs and
   * error caps); reading stopped there. Like `garbled`, only the function's own
   * code can make the runtime do that.
   */
  | { kind: 'oversized'; limitBytes: number };

export class InstanceFailure extends Error {
  constructor(readonly fault: InstanceFault, message: string) {
    super(message);
    this.name = 'InstanceFailure';
  }
}

/**
 * A /run answer the runtime client checked: in the protocol, within its size
 * caps, and for a success its `resultJson` parsed once (the activation record
 * needs the value).
 */
export type RunAnswer = (Extract<RunResponse, { ok: true }> & { result: unknown }) | Extract<RunResponse, { ok: false }>;

/** What an instance is created for. A generic (pool) instance has no function yet. */
export interface InstanceSpec {
  memoryMb: number;
  /** Docker: allow network egress. Ignored by the process backend. */
  allowEgress: boolean;
  /** Which runtime server the instance runs (absent: `nodejs`). */
  runtime?: FunctionRuntime;
  /** `runtime: image`: the image (Docker backend only). */
  image?: string;
}

export { runtimeKeyOf } from '../placement/pool-keys.js';

export interface Instance {
  readonly id: string;
  readonly spec: InstanceSpec;
  /**
   * Show this instance the function's package files, read-only, before
   * /init: `fill` writes them into a host directory the backend chose for
   * this instance; resolves with that directory as the runtime sees it.
   * Called at most once, on a generic instance.
   */
  preparePackage(fill: (hostDir: string) => Promise<void>): Promise<string>;
  /** Load one function version (POST /init). */
  init(req: InitRequest): Promise<void>;
  /**
   * Run one event (POST /run). Resolves with the runtime's answer for both
   * success and function error. Rejects with {@link InstanceFailure} when the
   * instance timed out (it is then killed), ran out of memory, crashed or
   * became unreachable; the instance must then be destroyed.
   */
  run(req: RunRequest, timeoutMs: number): Promise<RunAnswer>;
  /** Stop and remove. Idempotent. */
  destroy(): Promise<void>;
  /**
   * Freeze an idle instance (Docker: cgroup freezer; process backend:
   * SIGSTOP), so nothing it left running burns CPU between activations.
   * The warm pool resumes it before the next /run and before destroying it.
   */
  pause?(): Promise<void>;
  resume?(): Promise<void>;
  /**
   * Change the memory limit of a generic instance before its /init (its
   * `spec.memoryMb` follows). Present on the instances of a backend whose
   * {@link ExecutorBackend.resizable} is true; Docker updates the container's
   * cgroup limits. Rejects with a PlatformError when it cannot.
   */
  resize?(memoryMb: number): Promise<void>;
  /**
   * The platform API's own account of a fault it caused this instance's
   * calls since `sinceMs` (epoch ms), or undefined when it failed none. A
   * run whose runtime says "the platform API failed me" only counts as a
   * platform fault when this confirms it: the runtime's word is the
   * function's word, and a function must not be able to blame the platform.
   */
  platformFaultSince?(sinceMs: number): PlatformFaultReport | undefined;
}

/** A platform API failure an executor confirmed for one instance (see {@link Instance.platformFaultSince}). */
export interface PlatformFaultReport {
  /** Stable code for the activation record, e.g. `PLATFORM_API_UNAVAILABLE`. */
  code: ErrorCode;
  message: string;
  /**
   * True when the executor itself is at fault (e.g. out of file descriptors)
   * and should count towards its health; false for a store outage or a
   * load spike, which are not this executor's fault.
   */
  systemError: boolean;
}

/** How {@link ExecutorBackend.createInstance} starts an instance. */
export interface CreateOptions {
  /**
   * A pre-start for the generic pool: nobody waits for it, so its runtime
   * spends its start on a warm-up (`BRISK_RUNTIME_WARM_UP=1`, see
   * runtime/server.ts) that makes its first /init faster once it is taken.
   * An instance started for a waiting call skips it.
   */
  prestart?: boolean;
}

export interface ExecutorBackend {
  readonly name: ExecutorBackendName;
  /**
   * Its instances can change their memory limit after start
   * ({@link Instance.resize}), so one generic pool serves every memory size.
   * The process backend cannot: a V8 heap limit is fixed when the process starts.
   */
  readonly resizable?: boolean;
  /** Prepare (build the runtime image, remove leftovers of a previous run). */
  start(): Promise<void>;
  /** Start a generic instance and wait until its runtime is ready. */
  createInstance(spec: InstanceSpec, opts?: CreateOptions): Promise<Instance>;
  /** Destroy every instance this backend created. Idempotent. */
  close(): Promise<void>;
}
