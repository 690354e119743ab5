import { describe, expect, it } from 'vitest';
import { bucketize, percentile, poolSize, recent, startKindOf, summarize, type ActivationSample } from '../../console/src/metrics.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

function act(endMs: number, over: Partial<ActivationSample> = {}): ActivationSample {
  return { status: 'success', queuedAt: at(endMs - 5), endedAt: at(endMs), durationMs: 5, startKind: 'warm', coldStart: false, ...over };
}

describe('console metrics', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 90)).toBe(90);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2], 0)).toBe(1);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('summarizes rate, errors, latency and start kinds, ignoring open activations for outcomes', () => {
    const group = [
      act(0, { durationMs: 10 }),
      act(0, { durationMs: 20, startKind: 'cold', coldStart: true }),
      act(0, { durationMs: 30, status: 'error' }),
      act(0, { durationMs: 40, status: 'timeout', startKind: 'pool' }),
      { status: 'running', queuedAt: at(0) },
    ];
    const s = summarize(group, 5000);
    expect(s.invocations).toBe(5);
    expect(s.perSecond).toBe(1);
    expect(s.errors).toBe(2);
    expect(s.errorRate).toBe(0.5);
    expect([s.p50, s.p90, s.p99]).toEqual([20, 40, 40]);
    expect({ cold: s.cold, pool: s.pool, warm: s.warm }).toEqual({ cold: 1, pool: 1, warm: 2 });
    expect(summarize([], 1000).errorRate).toBeUndefined();
  });

  it('tells the start kind from startKind, or from coldStart on older records', () => {
    expect(startKindOf({ status: 'success', queuedAt: at(0), startKind: 'pool', coldStart: true })).toBe('pool');
    expect(startKindOf({ status: 'success', queuedAt: at(0), coldStart: true })).toBe('cold');
    expect(startKindOf({ status: 'success', queuedAt: at(0) })).toBe('warm');
  });

  it('buckets by end time into aligned, complete buckets and leaves out the one still filling', () => {
    const now = 20_500; // buckets of 5 s: [0,5) [5,10) [10,15) [15,20); [20,25) is still filling
    const samples = [act(1000), act(4999), act(5000), act(17_000, { status: 'error', durationMs: 100 }), act(20_100), act(-1)];
    const buckets = bucketize(samples, { now: T0 + now, windowMs: 20_000, bucketMs: 5000 });
    expect(buckets.map((b) => b.start - T0)).toEqual([0, 5000, 10_000, 15_000]);
    expect(buckets.map((b) => b.invocations)).toEqual([2, 1, 0, 1]);
    expect(buckets[0]?.perSecond).toBeCloseTo(0.4);
    expect(buckets[3]?.errors).toBe(1);
    expect(buckets[3]?.p99).toBe(100);
    expect(buckets[2]?.p50).toBeUndefined();
    expect(buckets.every((b) => b.complete)).toBe(true);
  });

  it('marks buckets older than a cut-off sample as incomplete', () => {
    // The list hit its limit (3) and reaches back only to t=12 s: earlier buckets may be missing records.
    const samples = [act(12_000), act(13_000), act(16_000)];
    const buckets = bucketize(samples, { now: T0 + 20_000, windowMs: 20_000, bucketMs: 5000, limit: 3 });
    expect(buckets.map((b) => b.complete)).toEqual([false, false, false, true]);
    const uncut = bucketize(samples, { now: T0 + 20_000, windowMs: 20_000, bucketMs: 5000, limit: 1000 });
    expect(uncut.every((b) => b.complete)).toBe(true);
  });

  it('keeps only recent activations and sums the pool of live executors', () => {
    expect(recent([act(1000), act(9000), act(11_000)], T0 + 10_000, 5000)).toHaveLength(1);
    expect(
      poolSize([
        { pool: { '256': 2, '512': 1 }, state: 'healthy' },
        { pool: { '256': 4 }, state: 'offline' },
        { pool: {} },
      ]),
    ).toBe(3);
  });
});
