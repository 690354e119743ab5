import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { busContract } from '../contracts/bus-contract.js';

busContract('MemoryBus', (prefix) => new MemoryBus({ prefix }));

describe('MemoryBus delayed sends', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds a delayed message in a timer that close() cancels, and delivers it when due', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const bus = new MemoryBus({ prefix: 'mb-delay' });
    await bus.assertQueue('mb-delay.q', { durable: true });
    const got: unknown[] = [];
    await bus.consume('mb-delay.q', async (b) => void got.push(b), { prefetch: 1 });
    await bus.send('mb-delay.q', { n: 1 }, { delayMs: 60_000 });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(await bus.queueDepth('mb-delay.q')).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(got).toEqual([{ n: 1 }]));
    // One still pending when the bus closes: its timer goes with it (nothing fires into a closed bus).
    await bus.send('mb-delay.q', { n: 2 }, { delayMs: 60_000 });
    expect(vi.getTimerCount()).toBe(1);
    await bus.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
