/**
 * Aliases over a real pair of stores: the {@link AliasStore} on a
 * {@link KeyValueStore}, checked by {@link AliasService} against a
 * {@link MetadataStore}, routed by {@link FunctionRouter}. Run once on the
 * file stores (test/unit/releases.test.ts) and once on Redis
 * (test/integration/releases-redis.test.ts), like the stores' own contracts.
 *
 * `make()` returns a fresh, empty pair each time; the suite closes them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BriskError } from '../../core/errors.js';
import type { FunctionVersion } from '../../core/types.js';
import { AliasService } from '../../releases/alias-service.js';
import { ALIAS_HISTORY_MAX, AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import type { KeyValueStore, MetadataStore } from '../../storage/types.js';

export interface ReleaseStores {
  store: MetadataStore;
  kv: KeyValueStore;
}

type Draft = Omit<FunctionVersion, 'version' | 'createdAt'>;

/** A deploy of `name` whose code differs by `n`, so each call makes a new version. */
function draft(name: string, n: number): Draft {
  return {
    namespace: 'default',
    name,
    codeHash: n.toString(16).padStart(64, '0'),
    codeSize: 100 + n,
    exportName: 'handler',
    handler: 'index.handler',
    memoryMb: 128,
    timeoutMs: 3000,
    env: {},
    maxConcurrency: 0,
    retries: 0,
    allowEgress: false,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof BriskError ? err.code : `not a BriskError: ${String(err)}`;
  }
}

export function releasesContract(name: string, make: () => Promise<ReleaseStores>): void {
  describe(`aliases and weighted routing: ${name}`, () => {
    const open: ReleaseStores[] = [];
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).flatMap((s) => [s.store.close(), s.kv.close()]));
    });

    /** Fresh stores with function `fn` deployed `versions` times. */
    async function setup(versions = 3, fn = 'api') {
      const s = await make();
      open.push(s);
      await Promise.all([s.store.waitUntilReady(), s.kv.waitUntilReady()]);
      for (let n = 1; n <= versions; n++) await s.store.putFunctionVersion(draft(fn, n));
      const aliases = new AliasStore(s.kv);
      const changes: string[] = [];
      const service = new AliasService({ store: s.store, aliases, onChange: (ns, f) => changes.push(`${ns}/${f}`) });
      return { ...s, aliases, service, changes };
    }

    it('creates, reads, lists, moves and deletes an alias, telling each change', async () => {
      const { service, changes } = await setup();
      const first = await service.put('default', 'api', 'prod', { version: 1, description: 'live traffic' });
      expect(first.created).toBe(true);
      expect(first.alias).toMatchObject({ name: 'prod', function: 'api', version: 1, description: 'live traffic', history: [] });
      await service.put('default', 'api', 'canary', { version: 3 });
      const moved = await service.put('default', 'api', 'prod', { version: 2 });
      expect(moved.created).toBe(false);
      // The description stays when a move does not give one; the old routing is history.
      expect(moved.alias).toMatchObject({ version: 2, description: 'live traffic', createdAt: first.alias.createdAt });
      expect(moved.alias.history.map((h) => h.version)).toEqual([1]);
      expect((await service.get('default', 'api', 'prod')).version).toBe(2);
      expect((await service.list('default', 'api')).map((a) => `${a.name}=${a.version}`)).toEqual(['canary=3', 'prod=2']);
      await service.delete('default', 'api', 'canary');
      expect(await codeOf(service.get('default', 'api', 'canary'))).toBe('ALIAS_NOT_FOUND');
      expect(await codeOf(service.delete('default', 'api', 'canary'))).toBe('ALIAS_NOT_FOUND');
      expect(changes).toEqual(['default/api', 'default/api', 'default/api', 'default/api']);
    });

    it('refuses what cannot be routed, each with its own code', async () => {
      const { service } = await setup(3);
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 9 }))).toBe('VERSION_NOT_FOUND');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { '9': 0.1 } }))).toBe('VERSION_NOT_FOUND');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { '1': 0.1 } }))).toBe('INVALID_WEIGHTS');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { '2': 0 } }))).toBe('INVALID_WEIGHTS');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { '2': 1 } }))).toBe('INVALID_WEIGHTS');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { '2': 0.6, '3': 0.4 } }))).toBe('INVALID_WEIGHTS');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { two: 0.1 } }))).toBe('INVALID_WEIGHTS');
      expect(await codeOf(service.put('default', 'api', 'prod', { version: 1, weights: { '02': 0.1 } }))).toBe('INVALID_WEIGHTS');
      expect(await codeOf(service.put('default', 'api', '7', { version: 1 }))).toBe('INVALID_ALIAS');
      expect(await codeOf(service.put('default', 'api', 'Prod', { version: 1 }))).toBe('INVALID_ALIAS');
      expect(await codeOf(service.put('default', 'nope', 'prod', { version: 1 }))).toBe('FUNCTION_NOT_FOUND');
      // Nothing was written by any of them.
      expect(await service.list('default', 'api')).toEqual([]);
      // Decimal shares that sum to just under 1 in binary are fine: 0.7 + 0.2 leaves 0.1.
      const ok = await service.put('default', 'api', 'prod', { version: 1, weights: { '2': 0.7, '3': 0.2 } });
      expect(ok.alias.weights).toEqual({ '2': 0.7, '3': 0.2 });
    });

    it('rolls back one step per call, through the history, then says there is nothing before', async () => {
      const { service } = await setup(3);
      await service.put('default', 'api', 'prod', { version: 1 });
      await service.put('default', 'api', 'prod', { version: 2, weights: { '3': 0.1 } });
      await service.put('default', 'api', 'prod', { version: 3 });
      // Setting the same routing again is not a change: no history entry.
      await service.put('default', 'api', 'prod', { version: 3 });
      let a = await service.rollback('default', 'api', 'prod');
      expect([a.version, a.weights]).toEqual([2, { '3': 0.1 }]);
      a = await service.rollback('default', 'api', 'prod');
      expect([a.version, a.weights]).toEqual([1, undefined]);
      expect(a.history).toEqual([]);
      expect(await codeOf(service.rollback('default', 'api', 'prod'))).toBe('NO_ROLLBACK_TARGET');
      expect(await codeOf(service.rollback('default', 'api', 'staging'))).toBe('ALIAS_NOT_FOUND');
    });

    it('promotes: the target alias takes the source alias\'s version, and can be rolled back', async () => {
      const { service } = await setup(3);
      await service.put('default', 'api', 'prod', { version: 1, weights: { '2': 0.2 } });
      await service.put('default', 'api', 'canary', { version: 3 });
      const promoted = await service.promote('default', 'api', 'canary', 'prod');
      expect(promoted.alias).toMatchObject({ version: 3 });
      expect(promoted.alias.weights).toBeUndefined();
      expect((await service.rollback('default', 'api', 'prod')).version).toBe(1);
      // A promotion to an alias that does not exist yet creates it.
      expect((await service.promote('default', 'api', 'canary', 'staging')).created).toBe(true);
      expect(await codeOf(service.promote('default', 'api', 'nothing', 'prod'))).toBe('ALIAS_NOT_FOUND');
    });

    it('keeps a bounded history', async () => {
      const { service } = await setup(2);
      for (let i = 0; i < ALIAS_HISTORY_MAX + 5; i++) await service.put('default', 'api', 'prod', { version: (i % 2) + 1 });
      expect((await service.get('default', 'api', 'prod')).history).toHaveLength(ALIAS_HISTORY_MAX);
    });

    it('loses no history entry to concurrent moves from separate processes', async () => {
      const { kv, store } = await setup(2);
      // Two gateways: two services, one store.
      const a = new AliasService({ store, aliases: new AliasStore(kv) });
      const b = new AliasService({ store, aliases: new AliasStore(kv) });
      await a.put('default', 'api', 'prod', { version: 1 });
      const moves = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).put('default', 'api', 'prod', { version: 1, weights: { '2': (i + 1) / 100 } }));
      await Promise.all(moves);
      const final = await a.get('default', 'api', 'prod');
      // Each move replaced a different routing: 12 entries, none overwritten by a racing write.
      expect(final.history).toHaveLength(12);
      const seen = new Set(final.history.map((h) => h.weights?.['2'] ?? 0));
      expect(seen.size).toBe(12);
    });

    it('deletes a function\'s aliases with it', async () => {
      const { service, aliases, store } = await setup(1);
      await service.put('default', 'api', 'prod', { version: 1 });
      await store.deleteFunction('default', 'api');
      await aliases.deleteFunction('default', 'api');
      expect(await aliases.list('default', 'api')).toEqual([]);
    });

    it('routes 10,000 calls at 90/10 within 2 % of the weights', async () => {
      const { service, store, aliases } = await setup(2);
      await service.put('default', 'api', 'prod', { version: 1, weights: { '2': 0.1 } });
      const router = new FunctionRouter({ store, aliases });
      const counts = new Map<number, number>();
      const N = 10_000;
      for (let i = 0; i < N; i++) {
        const { fn, alias } = await router.resolve('default', { name: 'api', alias: 'prod' });
        expect(alias).toBe('prod');
        counts.set(fn.version, (counts.get(fn.version) ?? 0) + 1);
      }
      const share2 = (counts.get(2) ?? 0) / N;
      const share1 = (counts.get(1) ?? 0) / N;
      expect(share1 + share2).toBe(1);
      expect(Math.abs(share2 - 0.1)).toBeLessThanOrEqual(0.02);
      expect(Math.abs(share1 - 0.9)).toBeLessThanOrEqual(0.02);
    });

    it('routes by name (latest), exact version and alias, and follows a moved alias', async () => {
      const { service, store, aliases } = await setup(3);
      let now = 1_000_000;
      const router = new FunctionRouter({ store, aliases, clock: () => now });
      await service.put('default', 'api', 'prod', { version: 1 });
      expect((await router.resolve('default', { name: 'api' })).fn.version).toBe(3);
      expect((await router.resolve('default', { name: 'api', version: 2 })).fn.version).toBe(2);
      expect(await router.resolve('default', { name: 'api', alias: 'prod' })).toMatchObject({ alias: 'prod', fn: { version: 1 } });
      await service.put('default', 'api', 'prod', { version: 2 });
      // Another process's router: the cached routing holds for a second at most.
      now += 1001;
      expect((await router.resolve('default', { name: 'api', alias: 'prod' })).fn.version).toBe(2);
      // One told of the change forgets at once.
      await service.put('default', 'api', 'prod', { version: 3 });
      router.forget('default', 'api');
      expect((await router.resolve('default', { name: 'api', alias: 'prod' })).fn.version).toBe(3);
      expect(await codeOf(router.resolve('default', { name: 'api', alias: 'nope' }))).toBe('ALIAS_NOT_FOUND');
      expect(await codeOf(router.resolve('default', { name: 'gone', alias: 'prod' }))).toBe('FUNCTION_NOT_FOUND');
      expect(await codeOf(router.resolve('default', { name: 'api', version: 9 }))).toBe('FUNCTION_NOT_FOUND');
    });
  });
}
