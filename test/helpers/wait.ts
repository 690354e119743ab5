/**
 * Waiting in tests. A test waits for the condition it means (`waitFor`,
 * `expect.poll`, an event, a promise), never for a guessed number of
 * milliseconds: a guess is either too short on a busy CI machine (flaky) or
 * too long everywhere else (slow).
 *
 * The one exception is {@link quietWindow}: proving that something does NOT
 * happen needs a window of time. Every caller passes a named constant whose
 * comment says why that length is right, so the fixed waits of the suite are
 * few and can be found with `grep -rn "quietWindow(" test`.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Poll `check` every `stepMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(stepMs);
  }
  if (await check()) return;
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/**
 * Poll `probe` until it returns a value other than `undefined`, and return
 * that value; throws (naming `what`) after `timeoutMs`.
 */
export async function waitForValue<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition', stepMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await delay(stepMs);
  }
}

/**
 * Let `ms` pass on the real clock, during which the test expects something
 * NOT to happen (a duplicate run, a stray tick, a redelivery). The only fixed
 * wait the suite allows: pass a named constant that says why it is long enough.
 */
export async function quietWindow(ms: number): Promise<void> {
  await delay(ms);
}
