import { describe, expect, it } from 'vitest';
import { CapacitySignal } from '../../placement/capacity-signal.js';

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

  it('a waiter that waits again with its ticket keeps its place ahead of later arrivals', async () => {
    const s = new CapacitySignal();
    const woke: string[] = [];
    const first = s.ticket();
    const a = s.wait(10_000, first).then(() => woke.push('first'));
    const b = s.wait(10_000).then(() => woke.push('second'));
    s.notify(1);
    await a;
    // Woken, found nothing, waits again: still ahead of 'second'.
    const again = s.wait(10_000, first).then(() => woke.push('first again'));
    const c = s.wait(10_000).then(() => woke.push('third'));
    s.notify(1);
    await again;
    s.notifyAll();
    await Promise.all([b, c]);
    expect(woke).toEqual(['first', 'first again', 'second', 'third']);
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
