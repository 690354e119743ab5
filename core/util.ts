import { setTimeout as delay } from 'node:timers/promises';

/**
 * Small helpers every role needs, written once.
 */

/**
 * Wait `ms` milliseconds. With a `signal`, an abort ends the wait at once and
 * rejects with an `AbortError` whose `cause` is the signal's reason.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return signal === undefined ? delay(ms) : delay(ms, undefined, { signal });
}

/** The message of anything thrown: an Error's `message`, else its string form. */
export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `p`, or a rejection with `Error(message)` once `ms` have passed. The timer
 * is cleared either way; `p` itself is not cancelled (the caller disposes of
 * a late result if it must).
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, message = `timed out after ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
