import { sleep } from './util.js';

/**
 * Every retry delay of the platform, in one place (after bullmq's `Backoffs`):
 * a {@link Backoff} says how the pause grows from one attempt to the next,
 * {@link backoffDelay} computes one pause, and {@link retry} runs an
 * operation until it succeeds, its result is good enough, or it is aborted.
 */

export interface Backoff {
  /**
   * How the pause grows with the attempt number `n` (0 for the pause after
   * the first attempt): `exponential` = initialMs · factorⁿ, `linear` =
   * initialMs · (n + 1), `fixed` = initialMs.
   */
  type: 'exponential' | 'linear' | 'fixed';
  initialMs: number;
  /** Cap on one pause (before jitter). */
  maxMs?: number;
  /** Growth per attempt of an exponential backoff. Default 2. */
  factor?: number;
  /**
   * Spread each pause by ± this fraction (0.2: between 80 % and 120 %), so
   * a fleet of processes does not retry in lock-step. Default 0.
   */
  jitter?: number;
}

/** Exponents past this change nothing once capped, and would overflow to Infinity uncapped. */
const MAX_EXPONENT = 64;

/** The pause after attempt `attempt` (0-based), in whole milliseconds. */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  const n = Math.max(0, attempt);
  let ms: number;
  if (b.type === 'fixed') ms = b.initialMs;
  else if (b.type === 'linear') ms = b.initialMs * (n + 1);
  else ms = b.initialMs * (b.factor ?? 2) ** Math.min(n, MAX_EXPONENT);
  if (b.maxMs !== undefined) ms = Math.min(ms, b.maxMs);
  const jitter = b.jitter ?? 0;
  if (jitter > 0) ms *= 1 - jitter + random() * 2 * jitter;
  return Math.max(0, Math.round(ms));
}

export interface RetryOptions<T> {
  backoff: Backoff;
  /** A result that fails this is not final: wait and call again. Default: any result is final. */
  until?: (result: T) => boolean;
  /** Whether a thrown error is worth another attempt. Default: none is; the error is rethrown. */
  isRetryable?: (err: unknown) => boolean;
  /** Ends the waiting at once: `retry` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Pause one backoff step before the first attempt too (a reconnect right after a loss). */
  delayFirst?: boolean;
  /** Told before each pause (to log it). `error` is set when the attempt threw. */
  onRetry?: (event: { attempt: number; delayMs: number; error?: unknown }) => void;
}

/**
 * Call `fn` until it resolves with a final result (see `until`), pausing
 * between attempts as `backoff` says. A non-retryable error is rethrown at
 * once. Unbounded by design: bound it with `signal` (a deadline is
 * `AbortSignal.timeout(ms)`).
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions<T>): Promise<T> {
  const { signal } = opts;
  let step = 0;
  if (opts.delayFirst === true) await pauseFor(backoffDelay(opts.backoff, step++), signal);
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    let failure: { error: unknown } | undefined;
    try {
      const result = await fn(attempt);
      if (opts.until === undefined || opts.until(result)) return result;
    } catch (err) {
      if (opts.isRetryable?.(err) !== true) throw err;
      failure = { error: err };
    }
    const delayMs = backoffDelay(opts.backoff, step++);
    opts.onRetry?.({ attempt, delayMs, ...failure });
    await pauseFor(delayMs, signal);
  }
}

/** A pause that an abort ends with the signal's own reason (not a generic AbortError). */
async function pauseFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, signal);
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
}
