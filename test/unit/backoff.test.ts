import { describe, expect, it } from 'vitest';
import { backoffDelay, retry, type Backoff } from '../../core/backoff.js';
import { errMessage, sleep, withTimeout } from '../../core/util.js';

describe('backoffDelay', () => {
  it('exponential, linear and fixed, each capped', () => {
    const exp: Backoff = { type: 'exponential', initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(exp, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3].map((n) => backoffDelay({ type: 'exponential', initialMs: 100, factor: 1.5, maxMs: 1000 }, n))).toEqual([100, 150, 225, 338]);
    expect([0, 1, 2, 3].map((n) => backoffDelay({ type: 'linear', initialMs: 50, maxMs: 120 }, n))).toEqual([50, 100, 120, 120]);
    expect([0, 7].map((n) => backoffDelay({ type: 'fixed', initialMs: 3 }, n))).toEqual([3, 3]);
  });

  it('never overflows, even uncapped and far along', () => {
    expect(Number.isFinite(backoffDelay({ type: 'exponential', initialMs: 1 }, 10_000))).toBe(true);
    expect(backoffDelay({ type: 'exponential', initialMs: 50, maxMs: 2000 }, 10_000)).toBe(2000);
  });

  it('jitter spreads a delay by ± the fraction, around the capped value', () => {
    const b: Backoff = { type: 'exponential', initialMs: 100, maxMs: 5000, jitter: 0.2 };
    expect(backoffDelay(b, 0, () => 0)).toBe(80);
    expect(backoffDelay(b, 0, () => 0.5)).toBe(100);
    expect(backoffDelay(b, 0, () => 0.999999)).toBe(120);
    expect(backoffDelay(b, 10, () => 0)).toBe(4000);
  });
});

describe('retry', () => {
  const fast: Backoff = { type: 'fixed', initialMs: 1 };

  it('calls again until the result is final, pausing between calls', async () => {
    let n = 0;
    const events: { attempt: number; delayMs: number }[] = [];
    const v = await retry(async () => ++n, { backoff: fast, until: (x) => x >= 3, onRetry: (e) => void events.push(e) });
    expect(v).toBe(3);
    expect(events).toEqual([{ attempt: 0, delayMs: 1 }, { attempt: 1, delayMs: 1 }]);
  });

  it('retries only errors it is told are retryable, and rethrows the others at once', async () => {
    let n = 0;
    const v = await retry(async () => {
      if (++n < 3) throw new Error('flaky');
      return 'ok';
    }, { backoff: fast, isRetryable: (e) => errMessage(e) === 'flaky' });
    expect([v, n]).toEqual(['ok', 3]);
    let m = 0;
    await expect(retry(async () => {
      m++;
      throw new Error('fatal');
    }, { backoff: fast, isRetryable: (e) => errMessage(e) === 'flaky' })).rejects.toThrow('fatal');
    expect(m).toBe(1);
  });

  it('an abort ends the waiting at once with the signal\'s reason', async () => {
    const ctl = new AbortController();
    const t0 = Date.now();
    const p = retry(async () => false, { backoff: { type: 'fixed', initialMs: 60_000 }, until: (x) => x, signal: ctl.signal });
    setTimeout(() => ctl.abort(new Error('stopped')), 10);
    await expect(p).rejects.toThrow('stopped');
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(retry(async () => 1, { backoff: fast, signal: AbortSignal.abort(new Error('before')) })).rejects.toThrow('before');
  });

  it('delayFirst pauses before the first attempt too', async () => {
    const t0 = Date.now();
    let at = 0;
    const attempt = async (): Promise<void> => {
      at = Date.now();
    };
    await retry(attempt, { backoff: { type: 'fixed', initialMs: 30 }, delayFirst: true });
    expect(at - t0).toBeGreaterThanOrEqual(29);
  });
});

describe('util', () => {
  it('sleep waits, and an abort rejects it', async () => {
    const t0 = Date.now();
    await sleep(20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(19);
    await expect(sleep(60_000, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('withTimeout rejects a late promise with its message, and passes a prompt one through', async () => {
    await expect(withTimeout(new Promise(() => undefined), 10, 'drain')).rejects.toThrow('drain');
    await expect(withTimeout(new Promise(() => undefined), 10)).rejects.toThrow('timed out after 10 ms');
    await expect(withTimeout(Promise.resolve(7), 1000)).resolves.toBe(7);
  });

  it('errMessage reads an Error or anything thrown', () => {
    expect(errMessage(new Error('x'))).toBe('x');
    expect(errMessage('plain')).toBe('plain');
    expect(errMessage(42)).toBe('42');
  });
});
