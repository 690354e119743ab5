import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../../core/errors.js';
import type { Activation, FunctionVersion } from '../../core/types.js';
import { RedisStore } from '../../storage/redis-store.js';
import { metadataStoreContract } from '../contracts/store-contract.js';
import { redisTest } from '../helpers/fixtures.js';
import { freePort, redisAvailable, requireService, uniquePrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const available = requireService('redis', await redisAvailable());

function draft(name: string, overrides: Partial<FunctionVersion> = {}): Omit<FunctionVersion, 'version' | 'createdAt'> {
  return {
    namespace: 'default',
    name,
    codeHash: 'c'.repeat(64),
    codeSize: 10,
    exportName: 'handler',
    handler: 'index.handler',
    memoryMb: 128,
    timeoutMs: 1000,
    env: {},
    maxConcurrency: 0,
    retries: 0,
    allowEgress: false,
    ...overrides,
  };
}

function activation(overrides: Partial<Activation> = {}): Activation {
  return {
    activationId: uniquePrefix('act'),
    namespace: 'default',
    function: 'f',
    version: 1,
    status: 'queued',
    mode: 'sync',
    logs: [],
    coldStart: true,
    attempts: 0,
    queuedAt: new Date().toISOString(),
    ...overrides,
  };
}

describe.skipIf(!available)('RedisStore (redis-server)', () => {
  /** The file's redis-server (the fixture stops it after the last test). */
  let url: string;
  const stores: RedisStore[] = [];

  redisTest.beforeAll(({ redisServer }) => {
    url = redisServer.url;
  });
  afterAll(async () => {
    await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  });

  function makeStore(opts: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}): RedisStore {
    const s = new RedisStore({ url, prefix: `${uniquePrefix('rs')}:`, activationTtlS: 3600, ...opts });
    stores.push(s);
    return s;
  }

  metadataStoreContract('RedisStore', () => makeStore());

  describe('Redis specifics', () => {
    afterEach(async () => {
      await Promise.allSettled(stores.splice(0).map((s) => s.close()));
    });

    it('waitUntilReady rejects with ServiceUnavailableError when Redis is unreachable', async () => {
      const port = await freePort();
      const s = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'x:', activationTtlS: 60 });
      const t0 = Date.now();
      await expect(s.waitUntilReady()).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(Date.now() - t0).toBeLessThan(3500);
      await s.close();
    });

    it('concurrent deploys of different code get distinct consecutive versions', async () => {
      // Several stores (separate connections) on one prefix, like several gateways.
      const prefix = `${uniquePrefix('deploy')}:`;
      const fleet = Array.from({ length: 4 }, () => makeStore({ prefix }));
      await Promise.all(fleet.map((s) => s.waitUntilReady()));
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (fleet[i % fleet.length] as RedisStore).putFunctionVersion(draft('race', { codeHash: String(i).padStart(64, '0') })),
        ),
      );
      expect(results.every((r) => r.created)).toBe(true);
      expect(results.map((r) => r.version.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const rec = await (fleet[0] as RedisStore).getFunction('default', 'race');
      expect(rec?.versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it('concurrent identical deploys make exactly one version', async () => {
      const prefix = `${uniquePrefix('same')}:`;
      const fleet = Array.from({ length: 4 }, () => makeStore({ prefix }));
      await Promise.all(fleet.map((s) => s.waitUntilReady()));
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (fleet[i % 4] as RedisStore).putFunctionVersion(draft('same'))));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.version.version))).toEqual(new Set([1]));
    });

    it('finishActivation is exactly once across connections', async () => {
      const prefix = `${uniquePrefix('fin')}:`;
      const fleet = Array.from({ length: 4 }, () => makeStore({ prefix }));
      await Promise.all(fleet.map((s) => s.waitUntilReady()));
      const a = activation({ status: 'running' });
      await (fleet[0] as RedisStore).putActivation(a);
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => (fleet[i % 4] as RedisStore).finishActivation({ ...a, status: 'success', durationMs: i })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const stored = await (fleet[1] as RedisStore).getActivation('default', a.activationId);
      expect(stored?.status).toBe('success');
      expect(stored?.durationMs).toBe(results.indexOf(true));
    });

    it('activation records expire after activationTtlS, and lists skip expired ids', async () => {
      const prefix = `${uniquePrefix('ttl')}:`;
      const s = makeStore({ prefix, activationTtlS: 1 });
      await s.waitUntilReady();
      const a = activation();
      await s.putActivation(a);
      const raw = new Redis(url);
      try {
        const ttl = await raw.ttl(`${prefix}act:default:${a.activationId}`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(1);
      } finally {
        raw.disconnect();
      }
      const long = makeStore({ prefix, activationTtlS: 3600 });
      await long.waitUntilReady();
      const b = activation({ queuedAt: new Date(Date.now() - 60_000).toISOString() });
      await long.putActivation(b);
      expect((await s.listActivations('default', { limit: 10 })).map((x) => x.activationId)).toEqual([a.activationId, b.activationId]);
      // Redis expires the record on its own clock, a second after it was written.
      await waitFor(async () => (await s.getActivation('default', a.activationId)) === undefined, 5000, 50);
      expect((await s.listActivations('default', { limit: 1 })).map((x) => x.activationId)).toEqual([b.activationId]);
    });

    it('caps the activation list index', async () => {
      const s = makeStore({ maxActivationsListed: 5 });
      await s.waitUntilReady();
      const base = Date.now();
      const all: Activation[] = [];
      for (let i = 0; i < 8; i++) {
        const a = activation({ queuedAt: new Date(base + i * 1000).toISOString() });
        all.push(a);
        await s.putActivation(a);
      }
      const listed = await s.listActivations('default', { limit: 100 });
      expect(listed.map((a) => a.activationId)).toEqual(all.slice(3).reverse().map((a) => a.activationId));
      // Trimmed from the list, still readable by id until it expires.
      expect(await s.getActivation('default', all[0]?.activationId ?? '')).toBeDefined();
    });

    it('never closes an injected client', async () => {
      const client = new Redis(url, { lazyConnect: true });
      try {
        const s = new RedisStore({ url: 'unused', prefix: `${uniquePrefix('inj')}:`, activationTtlS: 60, redis: client });
        await s.waitUntilReady();
        await s.putFunctionVersion(draft('inj'));
        await s.close();
        expect(s.status).toBe('closed');
        expect(await client.ping()).toBe('PONG');
      } finally {
        client.disconnect();
      }
    });

    describe('outages (own redis-server per test)', () => {
      redisTest('a stopped Redis yields ServiceUnavailableError within 2.5 s, and the store recovers when it is back', async ({ ownRedis: own }) => {
        const s = makeStore({ url: own.url });
        await s.waitUntilReady();
        await s.putFunctionVersion(draft('before'));
        await own.kill();
        const t0 = Date.now();
        const err = await s.getFunction('default', 'before').then(() => undefined, (e: unknown) => e);
        const elapsed = Date.now() - t0;
        expect(err).toBeInstanceOf(ServiceUnavailableError);
        expect(elapsed).toBeLessThan(2500);
        // Every call keeps failing fast while Redis is down.
        const t1 = Date.now();
        await expect(s.putActivation(activation())).rejects.toBeInstanceOf(ServiceUnavailableError);
        expect(Date.now() - t1).toBeLessThan(2500);

        await own.restart();
        await waitFor(() => s.putFunctionVersion(draft('after')).then(() => true, () => false), 10_000, 100);
        expect((await s.getFunction('default', 'after'))?.latest.version).toBe(1);
      }, 30_000);

      redisTest('a hung Redis (SIGSTOP) yields ServiceUnavailableError after the command timeout', async ({ ownRedis: own }) => {
        const s = makeStore({ url: own.url, commandTimeoutMs: 1000 });
        await s.waitUntilReady();
        own.pause();
        try {
          const t0 = Date.now();
          await expect(s.getActivation('default', 'x')).rejects.toBeInstanceOf(ServiceUnavailableError);
          const elapsed = Date.now() - t0;
          expect(elapsed).toBeGreaterThanOrEqual(900);
          expect(elapsed).toBeLessThan(2500);
        } finally {
          own.resume();
        }
      }, 30_000);
    });
  });
});
