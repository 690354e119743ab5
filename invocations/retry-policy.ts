import type { BriskConfig } from '../core/config.js';
import type { ActivationStatus, InvocationRequest } from '../core/types.js';
import type { DeadLetterReason } from './dead-letters.js';

/**
 * When an async invocation is tried again, after how long, and when it is
 * given up on: one place for the executor (a run failed), the scheduler (a
 * run's executor was lost; the event is too old) and the submitters (how long
 * an async invocation may live). Three knobs:
 *
 * | knob | where it is set | what it bounds |
 * |---|---|---|
 * | function attempts | the function's `retries` (deploy setting) | runs that failed by the function's fault (error, timeout, oom) |
 * | platform retries | `BRISK_MAX_PLATFORM_RETRIES` | throttles, platform faults and lost executors (not counted in `attempt`) |
 * | event age | `BRISK_MAX_EVENT_AGE_S` | everything: past it, nothing waits or retries (dead letter `EVENT_TOO_OLD`) |
 *
 * A retry waits in the bus (`Bus.send` with `delayMs`), never in a consumer.
 */

export interface RetryLimits {
  /** Throttles and platform faults retried this many times before the activation fails. */
  maxPlatformRetries: number;
  /** Age (since it was accepted) past which an async invocation is not run or retried any more. */
  maxEventAgeMs: number;
  /**
   * First retry delay: a function's failed attempt `n` waits `base × 2^(n-1)`
   * (1 s, 2 s, 4 s …), platform retry `n` waits `base × n` (1 s, 2 s, 3 s …).
   */
  baseDelayMs: number;
}

/** First retry delay; doubles per function attempt. */
export const RETRY_BASE_MS = 1000;
/** Default of `BRISK_MAX_PLATFORM_RETRIES`. */
export const MAX_PLATFORM_RETRIES = 10;
/** Default of `BRISK_MAX_EVENT_AGE_S`, in ms. */
export const MAX_EVENT_AGE_MS = 6 * 3600 * 1000;

/**
 * Executor losses after which an async invocation is a dead letter
 * (`EXECUTOR_LOST`) instead of being run again: 2. One loss happens to
 * innocent work (a host dies, an operator kills a process) and earns a re-run
 * elsewhere; a second loss of the same run is no coincidence: a message that
 * takes down whatever runs it (a poison message) would otherwise take down
 * every executor in turn, for as long as its event may live (6 h). Brokers
 * bound redelivery the same way (RabbitMQ quorum queues' delivery-limit, SQS's
 * maxReceiveCount).
 */
export const MAX_EXECUTOR_LOSSES = 2;

/** The next attempt of an invocation and how long it waits in the bus before a scheduler sees it. */
export interface Retry {
  request: InvocationRequest;
  delayMs: number;
}

/** What becomes of an async invocation whose executor was lost while it held it. */
export type AfterLoss = { retry: InvocationRequest } | { deadLetter: DeadLetterReason; message: string };

export class RetryPolicy {
  readonly limits: RetryLimits;

  constructor(limits: Partial<RetryLimits> = {}) {
    this.limits = {
      maxPlatformRetries: limits.maxPlatformRetries ?? MAX_PLATFORM_RETRIES,
      maxEventAgeMs: limits.maxEventAgeMs ?? MAX_EVENT_AGE_MS,
      baseDelayMs: limits.baseDelayMs ?? RETRY_BASE_MS,
    };
  }

  /** The policy the configuration asks for (every role builds it the same way). */
  static fromConfig(cfg: Pick<BriskConfig, 'BRISK_MAX_EVENT_AGE_S' | 'BRISK_MAX_PLATFORM_RETRIES'>): RetryPolicy {
    return new RetryPolicy({ maxEventAgeMs: cfg.BRISK_MAX_EVENT_AGE_S * 1000, maxPlatformRetries: cfg.BRISK_MAX_PLATFORM_RETRIES });
  }

  /**
   * The deadline of an async invocation accepted at `now`: it may wait for
   * capacity and be retried until it is as old as the maximum event age.
   */
  asyncDeadline(now: number): number {
    return now + this.limits.maxEventAgeMs;
  }

  /** Past the maximum event age (async only: a sync caller's deadline is shorter). */
  tooOld(req: InvocationRequest, now = Date.now()): boolean {
    return req.mode === 'async' && now - Date.parse(req.queuedAt) > this.limits.maxEventAgeMs;
  }

  /**
   * The next attempt of an async invocation whose run ended with `status`,
   * or undefined when this outcome is final. Function errors, timeouts and
   * ooms use the function's `retries` with exponential backoff; throttles and
   * platform faults are retried separately (they are not the function's
   * fault) up to `maxPlatformRetries`.
   */
  retryOf(req: InvocationRequest, status: ActivationStatus, now = Date.now()): Retry | undefined {
    if (req.mode !== 'async' || now > req.deadline) return undefined;
    const base = this.limits.baseDelayMs;
    if (status === 'error' || status === 'timeout' || status === 'oom') {
      if (req.attempt > req.fn.retries) return undefined;
      return { request: { ...req, attempt: req.attempt + 1 }, delayMs: base * 2 ** (req.attempt - 1) };
    }
    if (status === 'throttled' || status === 'platform_error') {
      const n = (req.platformRetries ?? 0) + 1;
      if (n > this.limits.maxPlatformRetries) return undefined;
      return { request: { ...req, platformRetries: n }, delayMs: base * n };
    }
    return undefined;
  }

  /** Why an async invocation whose run ended with `status`, and got no retry, is dead-lettered. */
  finalReason(req: InvocationRequest, status: ActivationStatus, now = Date.now()): DeadLetterReason {
    if (now > req.deadline) return 'EVENT_TOO_OLD';
    return status === 'throttled' || status === 'platform_error' ? 'PLATFORM_RETRIES_EXHAUSTED' : 'RETRIES_EXHAUSTED';
  }

  /**
   * Decide on a run lost with `executorId`: run it again elsewhere at once
   * (counting the loss, and a platform retry, which also gives the new run a
   * claim of its own), or give up on it.
   */
  afterExecutorLoss(req: InvocationRequest, executorId: string): AfterLoss {
    const losses = (req.executorLosses ?? 0) + 1;
    const platformRetries = (req.platformRetries ?? 0) + 1;
    if (losses >= MAX_EXECUTOR_LOSSES) {
      return {
        deadLetter: 'EXECUTOR_LOST',
        message: `${losses} executors were lost while running this invocation (the last: ${executorId}); it is not run again`,
      };
    }
    const max = this.limits.maxPlatformRetries;
    if (platformRetries > max) {
      return { deadLetter: 'PLATFORM_RETRIES_EXHAUSTED', message: `its executor ${executorId} was lost after ${max} platform retries` };
    }
    return { retry: { ...req, executorLosses: losses, platformRetries } };
  }
}
