import { describe, expect, it } from 'vitest';
import { CapacitySignal } from '../../scheduler/capacity-signal.js';

describe('CapacitySignal', () => {
  it('wakes the longest-waiting first, as many as asked', async () => {
    const s = new CapacitySignal();
    const woke: number[] = [];
    const waits = [0, 1, 2].map((i) => s.wait(10_000).then(() => woke.push(i)));
    s.notify(2);
    await Promise.all(waits.slice(0, 2));
    expect(woke).toEqual([0, 1]);
    expect(s.waiting).toBe(1);
    s.notifyAll();
    await waits[2];
    expect(woke).toEqual([0, 1, 2]);
    expect(s.waiting).toBe(0);
  });

  it('lets a waiter go by itself after maxMs and forgets it', async () => {
    const s = new CapacitySignal();
    const t0 = Date.now();
    await s.wait(30);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(s.waiting).toBe(0);
    s.notify(); // nobody left to wake: a no-op
  });
});
