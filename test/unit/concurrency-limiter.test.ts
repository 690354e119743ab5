import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter, type ConcurrencyCounter } from '../../placement/concurrency-limiter.js';

describe('ConcurrencyLimiter', () => {
  it('caps in-flight calls per function and frees a slot on release', () => {
    const limiter = new ConcurrencyLimiter();
    expect(limiter.tryAcquire('ns', 'f', 2, 100)).toBe(true);
    expect(limiter.tryAcquire('ns', 'f', 2, 100)).toBe(true);
    expect(limiter.tryAcquire('ns', 'f', 2, 100)).toBe(false);
    expect(limiter.inFlight('ns', 'f')).toBe(2);
    // Another function of the namespace has its own cap.
    expect(limiter.tryAcquire('ns', 'g', 2, 100)).toBe(true);

    limiter.release('ns', 'f');
    expect(limiter.inFlight('ns', 'f')).toBe(1);
    expect(limiter.tryAcquire('ns', 'f', 2, 100)).toBe(true);
    expect(limiter.tryAcquire('ns', 'f', 2, 100)).toBe(false);
  });

  it('caps in-flight calls per namespace across its functions, without touching other namespaces', () => {
    const limiter = new ConcurrencyLimiter();
    expect(limiter.tryAcquire('ns', 'f', 0, 3)).toBe(true);
    expect(limiter.tryAcquire('ns', 'g', 0, 3)).toBe(true);
    expect(limiter.tryAcquire('ns', 'h', 0, 3)).toBe(true);
    expect(limiter.tryAcquire('ns', 'i', 0, 3)).toBe(false);
    expect(limiter.inFlight('ns')).toBe(3);
    expect(limiter.tryAcquire('other', 'f', 0, 3)).toBe(true);
    expect(limiter.inFlight('other', 'f')).toBe(1);

    limiter.release('ns', 'g');
    expect(limiter.inFlight('ns')).toBe(2);
    expect(limiter.inFlight('ns', 'g')).toBe(0);
    expect(limiter.tryAcquire('ns', 'i', 0, 3)).toBe(true);
  });

  it('treats a cap of 0 as unlimited', () => {
    const limiter = new ConcurrencyLimiter();
    for (let i = 0; i < 500; i++) expect(limiter.tryAcquire('ns', 'f', 0, 0)).toBe(true);
    expect(limiter.inFlight('ns', 'f')).toBe(500);
    expect(limiter.inFlight('ns')).toBe(500);
  });

  it('takes nothing when a refused acquire hits either cap', () => {
    const limiter = new ConcurrencyLimiter();
    limiter.tryAcquire('ns', 'f', 1, 10);
    expect(limiter.tryAcquire('ns', 'f', 1, 10)).toBe(false); // function cap
    expect(limiter.inFlight('ns')).toBe(1);
    limiter.tryAcquire('ns', 'g', 0, 2);
    expect(limiter.tryAcquire('ns', 'h', 5, 2)).toBe(false); // namespace cap
    expect(limiter.inFlight('ns', 'h')).toBe(0);
    expect(limiter.inFlight('ns')).toBe(2);
  });

  it('ignores releases that were never acquired instead of raising the effective limit', () => {
    const limiter = new ConcurrencyLimiter();
    limiter.release('ns', 'f');
    limiter.tryAcquire('ns', 'g', 0, 1);
    limiter.release('ns', 'f'); // must not free g's namespace slot
    expect(limiter.inFlight('ns')).toBe(1);
    expect(limiter.tryAcquire('ns', 'f', 1, 1)).toBe(false);
    limiter.release('ns', 'g');
    limiter.release('ns', 'g');
    expect(limiter.inFlight('ns')).toBe(0);
    expect(limiter.tryAcquire('ns', 'f', 1, 1)).toBe(true);
    expect(limiter.tryAcquire('ns', 'f', 1, 1)).toBe(false);
  });

  it('keeps equal function keys in different namespaces apart', () => {
    const limiter = new ConcurrencyLimiter();
    expect(limiter.tryAcquire('a', 'f', 1, 10)).toBe(true);
    expect(limiter.tryAcquire('b', 'f', 1, 10)).toBe(true);
    limiter.release('a', 'f');
    expect(limiter.inFlight('b', 'f')).toBe(1);
  });

  it('fits the ConcurrencyCounter contract the scheduler depends on', async () => {
    const counter: ConcurrencyCounter = new ConcurrencyLimiter();
    expect(await counter.tryAcquire('ns', 'f', 1, 10)).toBe(true);
    expect(await counter.tryAcquire('ns', 'f', 1, 10)).toBe(false);
    await counter.release('ns', 'f');
    expect(await counter.tryAcquire('ns', 'f', 1, 10)).toBe(true);
  });
});
