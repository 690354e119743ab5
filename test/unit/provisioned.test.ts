import { afterEach, describe, expect, it } from 'vitest';
import { WarmPool } from '../../executor/warm-pool.js';
import { assignProvisioned, capacityFor, type ProvisionHost } from '../../placement/provisioning.js';
import { instancesAt, splitByWeights } from '../../releases/provisioned-plan.js';
import { fakeVersion } from '../fakes/function-version.js';
import { FakeBackend } from '../fakes/backend.js';
import { waitFor } from '../helpers/wait.js';

const fnv = fakeVersion;

const pools: WarmPool[] = [];
function makePool(backend: FakeBackend, idleTtlMs = 60_000, memoryMb = 1024, pauseIdleAfterMs?: number): WarmPool {
  const pool = new WarmPool({
    backend,
    prepareInit: async (fn) => ({ code: `export const handler = () => '${fn.name}'` }),
    memoryMb,
    idleTtlMs,
    ...(pauseIdleAfterMs !== undefined ? { pauseIdleAfterMs } : {}),
    poolSize: 0,
    poolMax: 0,
    sweepIntervalMs: 10,
  });
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close(0)));
});

const until = (cond: () => boolean): Promise<void> => waitFor(cond, 3000, 2);

describe('WarmPool.provision', () => {
  it('loads the share, serves calls warm from it, and keeps it past the idle timeout', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, 30);
    const f = fnv('f');
    pool.provision([{ fn: f, instances: 2 }]);
    await until(() => pool.stats().provisioned['default/f@1'] === 2);
    expect(backend.created).toHaveLength(2);
    // Calls up to the share are warm, on the provisioned instances.
    const [a, b] = await Promise.all([pool.acquire(f), pool.acquire(f)]);
    expect([a.startKind, b.startKind]).toEqual(['warm', 'warm']);
    pool.release(a.instance, { healthy: true });
    pool.release(b.instance, { healthy: true });
    // Many idle timeouts later they are still there (an unprovisioned instance is gone).
    const g = await pool.acquire(fnv('g'));
    pool.release(g.instance, { healthy: true });
    await until(() => !pool.stats().warm.some((w) => w.function === 'g'));
    expect(pool.stats().provisioned['default/f@1']).toBe(2);
    expect(backend.created.filter((i) => i.destroyed)).toHaveLength(1);
    // Provisioned memory is not reported as reclaimable.
    expect(pool.stats().reclaimableMb).toBe(0);
  });

  it('never evicts a provisioned instance to make room, and replaces one that failed', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, 60_000, 768);
    const f = fnv('f');
    pool.provision([{ fn: f, instances: 2 }]);
    await until(() => pool.stats().provisioned['default/f@1'] === 2);
    // 256 MB left: a second 256 MB function cannot take a provisioned instance's memory.
    const g = await pool.acquire(fnv('g'));
    await expect(pool.acquire(fnv('h'), { waitUntil: Date.now() + 50 })).rejects.toMatchObject({ code: 'EXECUTOR_FULL' });
    pool.release(g.instance, { healthy: true });
    expect(pool.stats().provisioned['default/f@1']).toBe(2);
    // A provisioned instance that failed under a call is replaced.
    const a = await pool.acquire(f);
    pool.release(a.instance, { healthy: false });
    await until(() => pool.stats().provisioned['default/f@1'] === 2 && backend.created.filter((i) => !i.destroyed && i.inits.some((x) => x.name === 'f')).length === 2);
  });

  it('resumes an idle instance paused before it was provisioned, and never pauses it again', async () => {
    const backend = new FakeBackend();
    backend.pausable = true;
    const pool = makePool(backend, 60_000, 1024, 20);
    const f = fnv('f');
    const a = await pool.acquire(f);
    pool.release(a.instance, { healthy: true });
    const inst = backend.created[0]!;
    await until(() => inst.paused);
    pool.provision([{ fn: f, instances: 1 }]);
    await until(() => !inst.paused);
    // Many pause delays later (sweeps every 10 ms), still running.
    await new Promise((r) => setTimeout(r, 150));
    expect(inst.paused).toBe(false);
    expect(backend.created).toHaveLength(1);
  });

  it('pauses, growing, between loads of a version that does not load, instead of trying every sweep', async () => {
    const backend = new FakeBackend();
    backend.failInit = true;
    const pool = makePool(backend);
    pool.provision([{ fn: fnv('broken'), instances: 1 }]);
    await until(() => backend.created.length === 1 && backend.created[0]!.destroyed);
    // The pool sweeps every 10 ms; the first pause after a failure is 1 s.
    await new Promise((r) => setTimeout(r, 300));
    expect(backend.created).toHaveLength(1);
    expect(pool.stats().provisioned).toEqual({});
  });

  it('releases a version left out of the share to the idle timeout, and pins loaded instances before loading new ones', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, 40);
    const f = fnv('f');
    const warm = await pool.acquire(f);
    pool.release(warm.instance, { healthy: true });
    pool.provision([{ fn: f, instances: 1 }]);
    // The idle instance of the version became the provisioned one: nothing new was created.
    expect(pool.stats().provisioned['default/f@1']).toBe(1);
    expect(backend.created).toHaveLength(1);
    pool.provision([]);
    expect(pool.stats().provisioned).toEqual({});
    await until(() => pool.stats().warm.length === 0);
  });
});

describe('WarmPool.stats places', () => {
  it('reports the calls a shared instance can still take', async () => {
    const pool = makePool(new FakeBackend());
    const f = { ...fnv('io'), concurrency: 4 };
    const a = await pool.acquire(f);
    const b = await pool.acquire(f);
    expect(a.instance).toBe(b.instance);
    expect(pool.stats().warm).toEqual([{ namespace: 'default', function: 'io', version: 1, state: 'busy', places: 2 }]);
    pool.release(a.instance, { healthy: true });
    pool.release(b.instance, { healthy: true });
    expect(pool.stats().warm).toEqual([{ namespace: 'default', function: 'io', version: 1, state: 'idle', places: 4 }]);
  });
});

describe('assignProvisioned', () => {
  const host = (executorId: string, memoryMb = 1024, provisioned: Record<string, number> = {}): ProvisionHost => ({ executorId, memoryMb, provisioned });

  it('spreads a version over the executors and keeps instances where they are', () => {
    const a = assignProvisioned([{ key: 'ns/f@1', memoryMb: 128, instances: 5 }], [host('e1'), host('e2'), host('e3')], 0.75);
    expect([...a.shares.values()].map((m) => m.get('ns/f@1'))).toEqual([2, 2, 1]);
    // e3 already holds 3: they stay, the other 2 spread over e1 and e2.
    const b = assignProvisioned([{ key: 'ns/f@1', memoryMb: 128, instances: 5 }], [host('e1'), host('e2'), host('e3', 1024, { 'ns/f@1': 3 })], 0.75);
    expect([...b.shares.values()].map((m) => m.get('ns/f@1'))).toEqual([1, 1, 3]);
  });

  it('stays within the provisioned share of each executor and says what did not fit', () => {
    // 0.5 of 1024 MB = 512 MB each: two 256 MB instances per executor.
    const a = assignProvisioned([{ key: 'ns/f@1', memoryMb: 256, instances: 5 }], [host('e1'), host('e2')], 0.5);
    expect([...a.shares.values()].map((m) => m.get('ns/f@1'))).toEqual([2, 2]);
    expect(a.unplaced.get('ns/f@1')).toBe(1);
    // Beside three 256 MB instances (two on one executor, one on the other) one more fits.
    expect(capacityFor(256, [{ key: 'ns/f@1', memoryMb: 256, instances: 3 }], [host('e1'), host('e2')], 0.5)).toBe(1);
    // An executor that left takes its instances with it: the rest land on those that remain.
    const b = assignProvisioned([{ key: 'ns/f@1', memoryMb: 256, instances: 2 }], [host('e2')], 0.5);
    expect(b.shares.get('e2')?.get('ns/f@1')).toBe(2);
  });

  it('adds up configs that want the same version', () => {
    const a = assignProvisioned(
      [
        { key: 'ns/f@1', memoryMb: 128, instances: 1 },
        { key: 'ns/f@1', memoryMb: 128, instances: 2 },
      ],
      [host('e1')],
      0.75,
    );
    expect(a.shares.get('e1')?.get('ns/f@1')).toBe(3);
  });
});

describe('provisioned plans', () => {
  it('splits an alias\'s instances by its weights, the total exact', () => {
    expect(splitByWeights({ version: 3 }, 4)).toEqual([[3, 4]]);
    expect(splitByWeights({ version: 3, weights: { '4': 0.1 } }, 10)).toEqual([
      [3, 9],
      [4, 1],
    ]);
    // A share that rounds to nothing gets nothing.
    expect(splitByWeights({ version: 3, weights: { '4': 0.1 } }, 2)).toEqual([[3, 2]]);
  });

  it('holds a window\'s count while the window is open', () => {
    const config = { instances: 1, windows: [{ cron: '0 8 * * *', timezone: 'UTC', durationMinutes: 60, instances: 5 }] };
    expect(instancesAt(config, new Date('2026-12-02T07:59:00Z'))).toBe(1);
    expect(instancesAt(config, new Date('2026-12-02T08:00:30Z'))).toBe(5);
    expect(instancesAt(config, new Date('2026-12-02T08:59:59Z'))).toBe(5);
    expect(instancesAt(config, new Date('2026-12-02T09:00:00Z'))).toBe(1);
  });
});
