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

describe('MemoryBus with trustedSenders (standalone mode)', () => {
  it("hands a consumer the body as sent, without running its parse; the default bus runs it", async () => {
    const seen: Array<{ trusted: boolean; body: unknown }> = [];
    let parses = 0;
    const sent = { activationId: 'a1', nested: { n: 1 } };
    for (const trusted of [true, false]) {
      const bus = new MemoryBus({ prefix: `mb-trust-${trusted}`, trustedSenders: trusted });
      const q = `mb-trust-${trusted}.q`;
      await bus.assertQueue(q, { durable: true });
      await bus.consume(q, async (body) => void seen.push({ trusted, body }), {
        prefetch: 1,
        parse: (raw) => {
          parses++;
          return structuredClone(raw);
        },
      });
      await bus.send(q, sent);
      await vi.waitFor(() => expect(seen.filter((s) => s.trusted === trusted)).toHaveLength(1));
      await bus.close();
    }
    // Trusted: the very object sent, parse never called. Default: parse ran once and its copy arrived.
    expect(seen[0]?.body).toBe(sent);
    expect(seen[1]?.body).not.toBe(sent);
    expect(seen[1]?.body).toEqual(sent);
    expect(parses).toBe(1);
  });
});
