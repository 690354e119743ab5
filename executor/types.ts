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
  | { kind: 'garbled'; message: string };

export class InstanceFailure extends Error {
  constructor(readonly fault: InstanceFault, message: string) {
    super(message);
    this.name = 'InstanceFailure';
  }
}

/** What an instance is created for. A generic (pool) instance has no function yet. */
export interface InstanceSpec {
  memoryMb: number;
  /** Docker: allow network egress. Ignored by the process backend. */
  allowEgress: boolean;
}

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
  run(req: RunRequest, timeoutMs: number): Promise<RunResponse>;
  /** Stop and remove. Idempotent. */
  destroy(): Promise<void>;
  /** Docker: freeze an idle instance; process backend: no-op. */
  pause?(): Promise<void>;
  resume?(): Promise<void>;
}

export interface ExecutorBackend {
  readonly name: 'process' | 'docker';
  /** Prepare (build the runtime image, remove leftovers of a previous run). */
  start(): Promise<void>;
  /** Start a generic instance and wait until its runtime is ready. */
  createInstance(spec: InstanceSpec): Promise<Instance>;
  /** Destroy every instance this backend created. Idempotent. */
  close(): Promise<void>;
}
