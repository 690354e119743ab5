import type { Activation, ActivationStatus, FunctionErrorBody, InvocationRequest, PlatformErrorBody, StartKind } from '../core/types.js';

/**
 * The activation record, built here and nowhere else. An activation is
 * written `queued` when it is submitted (async), re-written `queued` with its
 * last attempt's outcome while it waits for a retry, and finished once with
 * the outcome of its last run, or refused by the platform before any run.
 * The roles decide *when* to write; these builders decide *what*.
 */

/** What a run produced, as far as its record keeps it. */
export interface RunRecordParts {
  status: ActivationStatus;
  /** The function's result as JSON text; when set, `result` is it parsed. */
  resultJson?: string;
  result?: unknown;
  error?: Activation['error'];
  logs: string[];
  logsTruncated: boolean;
  coldStart: boolean;
  startKind?: StartKind;
  startMs?: number;
  startedAt: string;
  durationMs: number;
}

/** Where a run happened: the executor and why the scheduler placed it there. */
export interface RunPlace {
  executor: string;
  placement: string;
}

/** An async invocation accepted and on its way to a scheduler: nothing has run yet. */
export function queuedRecord(req: InvocationRequest): Activation {
  return {
    activationId: req.activationId,
    namespace: req.fn.namespace,
    function: req.fn.name,
    version: req.fn.version,
    ...(req.alias !== undefined ? { alias: req.alias } : {}),
    status: 'queued',
    mode: req.mode,
    logs: [],
    coldStart: false,
    attempts: 0,
    queuedAt: req.queuedAt,
    ...(req.trigger !== undefined ? { trigger: req.trigger } : {}),
  };
}

/** The record of a run of `req` that ended with `outcome` (final unless the caller retries it). */
export function finalRecord(req: InvocationRequest, outcome: RunRecordParts, where: RunPlace, endedAt = new Date()): Activation {
  return {
    activationId: req.activationId,
    namespace: req.fn.namespace,
    function: req.fn.name,
    version: req.fn.version,
    ...(req.alias !== undefined ? { alias: req.alias } : {}),
    status: outcome.status,
    mode: req.mode,
    ...(outcome.resultJson !== undefined ? { result: outcome.result } : {}),
    ...(outcome.error !== undefined ? { error: outcome.error } : {}),
    logs: outcome.logs,
    ...(outcome.logsTruncated ? { logsTruncated: true } : {}),
    coldStart: outcome.coldStart,
    ...(outcome.startKind !== undefined ? { startKind: outcome.startKind, startMs: outcome.startMs } : {}),
    executor: where.executor,
    placement: where.placement,
    attempts: req.attempt,
    ...(req.trigger !== undefined ? { trigger: req.trigger } : {}),
    queuedAt: req.queuedAt,
    startedAt: outcome.startedAt,
    endedAt: endedAt.toISOString(),
    durationMs: outcome.durationMs,
  };
}

/**
 * The record of an async invocation whose run failed and that waits for its
 * next attempt: `queued`, with the failed attempt's outcome kept (its error is
 * what a dead letter reports if no later attempt runs).
 */
export function retryRecord(req: InvocationRequest, outcome: RunRecordParts, where: RunPlace): Activation {
  return { ...finalRecord(req, outcome, where), status: 'queued' };
}

/** The final record of an invocation the platform gave up on without (another) run. */
export function refusedRecord(req: InvocationRequest, error: PlatformErrorBody, endedAt = new Date()): Activation {
  return {
    activationId: req.activationId,
    namespace: req.fn.namespace,
    function: req.fn.name,
    version: req.fn.version,
    ...(req.alias !== undefined ? { alias: req.alias } : {}),
    status: 'platform_error',
    mode: req.mode,
    error,
    logs: [],
    coldStart: false,
    attempts: req.attempt,
    ...(req.trigger !== undefined ? { trigger: req.trigger } : {}),
    queuedAt: req.queuedAt,
    endedAt: endedAt.toISOString(),
  };
}

/** The function's own error (it threw, timed out, ran out of memory, answered wrongly). */
export function functionError(errorType: string, errorMessage: string, stack?: string): FunctionErrorBody {
  return { kind: 'function', errorType, errorMessage, ...(stack !== undefined ? { stack } : {}) };
}

/** The platform's error, with its stable code. */
export function platformError(code: string, message: string): PlatformErrorBody {
  return { kind: 'platform', code, message };
}
