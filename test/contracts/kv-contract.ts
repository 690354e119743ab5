import { afterEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../storage/types.js';
import { waitFor } from '../helpers/wait.js';

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
      await waitFor(async () => (await s.get('t')) === undefined, 2000, 10);
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
      // Refilled at 10 tokens/s: a token is back within about 100 ms (polling takes at most that one).
      await waitFor(async () => (await s.takeTokens('bucket', 10, 5)).allowed, 2000, 10);
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

    it('deletes a whole collection, and only that one', async () => {
      const s = await store();
      await s.hset('deadletters:ns', 'a', '1');
      await s.hset('deadletters:ns', 'b', '2');
      await s.hset('deadletters:ns2', 'a', 'kept');
      expect(await s.deleteCollection('deadletters:ns')).toBe(true);
      expect(await s.deleteCollection('deadletters:ns')).toBe(false);
      expect(await s.hgetall('deadletters:ns')).toEqual({});
      expect(await s.hget('deadletters:ns', 'a')).toBeUndefined();
      expect(await s.hgetall('deadletters:ns2')).toEqual({ a: 'kept' });
      // Written again after the delete: a fresh collection.
      await s.hset('deadletters:ns', 'c', '3');
      expect(await s.hgetall('deadletters:ns')).toEqual({ c: '3' });
    });

    it('deletes every key and collection under a prefix, and nothing else', async () => {
      const s = await store();
      await s.set('state:ns:a', '1');
      await s.set('state:ns:b/c', '2', { ttlMs: 60_000 });
      await s.incr('state:ns:n');
      await s.hset('state:ns:coll', 'f', 'v');
      // Neighbours that share text with the prefix but not the prefix itself.
      await s.set('state:ns2:a', 'other tenant');
      await s.set('state:n', 'shorter');
      await s.set('xstate:ns:a', 'other key space');
      await s.hset('state:ns2:coll', 'f', 'kept');
      expect(await s.deleteByPrefix('state:ns:')).toBe(4);
      for (const k of ['state:ns:a', 'state:ns:b/c', 'state:ns:n']) expect(await s.get(k)).toBeUndefined();
      expect(await s.hgetall('state:ns:coll')).toEqual({});
      expect(await s.get('state:ns2:a')).toBe('other tenant');
      expect(await s.get('state:n')).toBe('shorter');
      expect(await s.get('xstate:ns:a')).toBe('other key space');
      expect(await s.hgetall('state:ns2:coll')).toEqual({ f: 'kept' });
      // Idempotent: nothing left the second time, and the prefix is usable again.
      expect(await s.deleteByPrefix('state:ns:')).toBe(0);
      expect(await s.incr('state:ns:n')).toBe(1);
    });

    it('deletes a prefix holding more keys than one batch, and takes glob characters literally', async () => {
      const s = await store();
      const n = 2500;
      for (let i = 0; i < n; i += 250) await Promise.all(Array.from({ length: 250 }, (_, j) => s.set(`big:ns:${i + j}`, 'x')));
      await s.set('glob*[x]?:a', 'literal');
      await s.set('globZ[x]?:a', 'not matched by the literal prefix');
      expect(await s.deleteByPrefix('big:ns:')).toBe(n);
      expect(await s.get(`big:ns:${n - 1}`)).toBeUndefined();
      expect(await s.deleteByPrefix('glob*[x]?:')).toBe(1);
      expect(await s.get('globZ[x]?:a')).toBe('not matched by the literal prefix');
    });
  });
}
