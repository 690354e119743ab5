import { afterEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../storage/types.js';

/** What every {@link KeyValueStore} must do. `make()` returns a fresh, empty store. */
export function keyValueStoreContract(name: string, make: () => KeyValueStore | Promise<KeyValueStore>): void {
  describe(`KeyValueStore contract: ${name}`, () => {
    const open: KeyValueStore[] = [];
    async function store(): Promise<KeyValueStore> {
      const s = await make();
      open.push(s);
      await s.waitUntilReady();
      return s;
    }
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((s) => s.close()));
    });

    it('gets, sets, overwrites and deletes', async () => {
      const s = await store();
      expect(await s.get('a')).toBeUndefined();
      expect(await s.set('a', '1')).toBe(true);
      expect(await s.set('a', 'two')).toBe(true);
      expect(await s.get('a')).toBe('two');
      expect(await s.delete('a')).toBe(true);
      expect(await s.delete('a')).toBe(false);
      expect(await s.get('a')).toBeUndefined();
    });

    it('set ifAbsent writes only once (a lock)', async () => {
      const s = await store();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.set('lock', String(i), { ifAbsent: true, ttlMs: 5000 })));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('expires keys after their TTL', async () => {
      const s = await store();
      await s.set('t', 'x', { ttlMs: 60 });
      expect(await s.get('t')).toBe('x');
      await new Promise((r) => setTimeout(r, 120));
      expect(await s.get('t')).toBeUndefined();
      expect(await s.set('t', 'y', { ifAbsent: true })).toBe(true);
    });

    it('increments atomically', async () => {
      const s = await store();
      const values = await Promise.all(Array.from({ length: 20 }, () => s.incr('n')));
      expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await s.incr('n', 5)).toBe(25);
      expect(await s.incr('n', -30)).toBe(-5);
      expect(await s.get('n')).toBe('-5');
    });

    it('limits with a token bucket and says when to retry', async () => {
      const s = await store();
      const results = [];
      for (let i = 0; i < 7; i++) results.push(await s.takeTokens('bucket', 10, 5));
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
      const refused = results.at(-1)!;
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(100);
      await new Promise((r) => setTimeout(r, 250));
      expect((await s.takeTokens('bucket', 10, 5)).allowed).toBe(true);
      expect((await s.takeTokens('other', 10, 5)).allowed).toBe(true);
    });

    it('keeps collections apart and lists them', async () => {
      const s = await store();
      await s.hset('c1', 'x', '1');
      await s.hset('c1', 'y', '2');
      await s.hset('c2', 'x', 'other');
      expect(await s.hget('c1', 'x')).toBe('1');
      expect(await s.hgetall('c1')).toEqual({ x: '1', y: '2' });
      expect(await s.hdel('c1', 'x')).toBe(true);
      expect(await s.hdel('c1', 'x')).toBe(false);
      expect(await s.hgetall('c1')).toEqual({ y: '2' });
      expect(await s.hgetall('nothing')).toEqual({});
      expect(await s.hget('c2', 'x')).toBe('other');
    });
  });
}
