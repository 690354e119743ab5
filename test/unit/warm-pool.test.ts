import { afterEach, describe, expect, it, vi } from 'vitest';
import { ThrottledError } from '../../core/errors.js';
import { FunctionLoadError, WarmPool, type AcquiredInstance, type WarmPoolOptions } from '../../executor/warm-pool.js';
import { poolKeyOf } from '../../placement/pool-keys.js';
import { fakeVersion } from '../fakes/function-version.js';
import { FakeBackend, type FakeInstance } from '../fakes/backend.js';
import { waitFor } from '../helpers/wait.js';

const fnv = fakeVersion;

const pools: WarmPool[] = [];
function makePool(backend: FakeBackend, over: Partial<WarmPoolOptions> = {}): WarmPool {
  const pool = new WarmPool({
    backend,
    prepareInit: async (fn) => ({ code: `export const handler = () => '${fn.name}'` }),
    memoryMb: 1024,
    idleTtlMs: 60_000,
    poolSize: 0,
    // No adaptive growth unless a test asks for it: keeps start kinds predictable.
    poolMax: 0,
    ...over,
  });
  pools.push(pool);
  return pool;
}

const until = (cond: () => boolean, timeoutMs = 2000): Promise<void> => waitFor(cond, timeoutMs, 2);

/** A pool of one pre-started 256 MB instance, once that instance is ready. */
async function withOneStem(): Promise<{ backend: FakeBackend; pool: WarmPool }> {
  const backend = new FakeBackend();
  const pool = makePool(backend, { poolSize: 1, poolMemorySizes: [256] });
  pool.start();
  await until(() => pool.stats().pool['256'] === 1);
  return { backend, pool };
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(pools.splice(0).map((p) => p.close(0)));
});

describe('WarmPool', () => {
  it('cold-starts, then reuses the same loaded instance warm', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend);
    const a = await pool.acquire(fnv('f'));
    expect(a.startKind).toBe('cold');
    expect(a.startMs).toBeGreaterThanOrEqual(0);
    const inst = a.instance as FakeInstance;
    expect(inst.inits).toHaveLength(1);
    expect(inst.inits[0]).toMatchObject({ namespace: 'default', name: 'f', version: 1, exportName: 'handler', env: { NAME: 'f' }, memoryMb: 256 });
    expect(inst.inits[0]!.code).toContain("'f'");
    expect(pool.stats().warm).toEqual([{ namespace: 'default', function: 'f', version: 1, state: 'busy' }]);
    pool.release(a.instance, { healthy: true });
    expect(pool.stats().warm[0]!.state).toBe('idle');

    const b = await pool.acquire(fnv('f'));
    expect(b.startKind).toBe('warm');
    expect(b.instance).toBe(a.instance);
    expect(inst.inits).toHaveLength(1);
    // Another version of the same function is not the same thing.
    const c = await pool.acquire(fnv('f', 256, 2));
    expect(c.startKind).toBe('cold');
    expect(c.instance).not.toBe(a.instance);
  });

  it('takes a pre-started generic instance when one fits (pool), else cold; refills after a take', async () => {
    const { backend, pool } = await withOneStem();
    expect(backend.created).toHaveLength(1);

    const a = await pool.acquire(fnv('f', 256));
    expect(a.startKind).toBe('pool');
    expect(a.instance).toBe(backend.created[0]);
    // The pool refills in the background.
    await until(() => pool.stats().pool['256'] === 1);

    const b = await pool.acquire(fnv('big', 512));
    expect(b.startKind).toBe('cold');
    expect(b.instance.spec.memoryMb).toBe(512);
    expect(pool.stats()).toMatchObject({ memoryMb: 1024, memoryUsedMb: 256 + 256 + 512, inFlight: 2 });
  });

  it('starts the replacement of a taken instance once it answered its first call, not beside its load and run', async () => {
    const { backend, pool } = await withOneStem();
    const a = await pool.acquire(fnv('f', 256));
    expect(a.startKind).toBe('pool');
    // Loaded and running: nothing is being created next to it.
    expect(backend.created).toHaveLength(1);
    expect(pool.queueStats().creating).toBe(0);
    pool.release(a.instance, { healthy: true });
    await until(() => pool.stats().pool['256'] === 1);
    expect(backend.created).toHaveLength(2);
    // Pre-starts may warm up; an instance a call waits for may not.
    await pool.acquire(fnv('big', 512));
    expect(backend.prestarts).toEqual([true, true, false]);
  });

  it('a taken instance whose first call runs long does not hold the refill back for more than a moment', async () => {
    const { pool } = await withOneStem();
    const a = await pool.acquire(fnv('f', 256));
    expect(a.startKind).toBe('pool');
    // Still held by its call: the refill starts after at most REFILL_AFTER_TAKE_MS (100 ms).
    await until(() => pool.stats().pool['256'] === 1, 1000);
    expect(pool.stats().inFlight).toBe(1);
  });

  it('never hands one instance to two concurrent acquires', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend);
    const first = await pool.acquire(fnv('f'));
    pool.release(first.instance, { healthy: true });
    const [x, y] = await Promise.all([pool.acquire(fnv('f')), pool.acquire(fnv('f'))]);
    expect(x.instance).not.toBe(y.instance);
    expect([x.startKind, y.startKind].sort()).toEqual(['cold', 'warm']);
    expect(pool.stats().inFlight).toBe(2);
  });

  it('evicts the least recently used idle instance to stay within the memory budget', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 512 });
    const a = await pool.acquire(fnv('a'));
    pool.release(a.instance, { healthy: true });
    const b = await pool.acquire(fnv('b'));
    pool.release(b.instance, { healthy: true });
    // Touch `a` a moment later, so `b` becomes the least recently used.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.advanceTimersByTime(5);
    const a2 = await pool.acquire(fnv('a'));
    expect(a2.startKind).toBe('warm');
    pool.release(a2.instance, { healthy: true });

    const c = await pool.acquire(fnv('c'));
    expect(c.startKind).toBe('cold');
    expect((b.instance as FakeInstance).destroyed).toBe(true);
    expect((a.instance as FakeInstance).destroyed).toBe(false);
    expect(backend.maxLiveMb).toBeLessThanOrEqual(512);
    expect(pool.stats().memoryUsedMb).toBe(512);
    expect(pool.stats().warm.map((w) => w.function).sort()).toEqual(['a', 'c']);
  });

  it('evicts generic instances of other sizes before loaded ones', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 768, poolSize: 1, poolMemorySizes: [256], poolMax: 1 });
    const a = await pool.acquire(fnv('a', 256));
    pool.release(a.instance, { healthy: true });
    pool.start();
    await until(() => pool.stats().pool['256'] === 1);
    const stem = backend.created.find((i) => i !== a.instance)!;

    const big = await pool.acquire(fnv('big', 512));
    expect(big.startKind).toBe('cold');
    expect(stem.destroyed).toBe(true);
    expect((a.instance as FakeInstance).destroyed).toBe(false);
    expect(backend.maxLiveMb).toBeLessThanOrEqual(768);
  });

  it('throws EXECUTOR_FULL when nothing can be evicted by the time the caller stops waiting', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 512 });
    await pool.acquire(fnv('a'));
    await pool.acquire(fnv('b'));
    const err = await pool.acquire(fnv('c'), { waitUntil: Date.now() + 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThrottledError);
    expect((err as ThrottledError).code).toBe('EXECUTOR_FULL');
    expect((err as ThrottledError).status).toBe(429);
    // A function larger than the whole budget can never fit.
    await expect(pool.acquire(fnv('huge', 4096))).rejects.toMatchObject({ code: 'EXECUTOR_FULL' });
    expect(backend.created).toHaveLength(2);
  });

  it('destroys idle loaded instances after idleTtlMs', async () => {
    vi.useFakeTimers();
    const backend = new FakeBackend();
    const pool = makePool(backend, { idleTtlMs: 1000, sweepIntervalMs: 100 });
    const a = await pool.acquire(fnv('f'));
    pool.release(a.instance, { healthy: true });
    await vi.advanceTimersByTimeAsync(500);
    expect((a.instance as FakeInstance).destroyed).toBe(false);
    // Use it again: the TTL counts from the last release.
    const again = await pool.acquire(fnv('f'));
    expect(again.startKind).toBe('warm');
    pool.release(again.instance, { healthy: true });
    await vi.advanceTimersByTimeAsync(900);
    expect((a.instance as FakeInstance).destroyed).toBe(false);
    await vi.advanceTimersByTimeAsync(300);
    expect((a.instance as FakeInstance).destroyed).toBe(true);
    expect(pool.stats()).toMatchObject({ memoryUsedMb: 0, warm: [] });
  });

  it('keeps its configured pool when idle instances fill the budget: the least recently used one idle for a second gives way', async () => {
    vi.useFakeTimers();
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 1024, poolSize: 1, poolMemorySizes: [256], sweepIntervalMs: 50 });
    const advanceUntil = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 500 && !cond(); i++) await vi.advanceTimersByTimeAsync(10);
      expect(cond()).toBe(true);
    };
    pool.start();
    await advanceUntil(() => pool.stats().pool['256'] === 1);
    // Four functions take the whole budget (the pre-started instance among them).
    const held: AcquiredInstance[] = [];
    for (const name of ['f1', 'f2', 'f3', 'f4']) held.push(await pool.acquire(fnv(name)));
    expect(pool.stats().memoryUsedMb).toBe(1024);
    expect(pool.stats().pool['256'] ?? 0).toBe(0);
    // Released 10 ms apart, f1 first: the least recently used.
    for (const h of held) {
      pool.release(h.instance, { healthy: true });
      await vi.advanceTimersByTimeAsync(10);
    }
    const destroyed = (): string[] => held.filter((h) => (h.instance as FakeInstance).destroyed).map((h) => (h.instance as FakeInstance).inits[0]!.name);
    // Idle for less than a second: every instance stays, the pool waits.
    await vi.advanceTimersByTimeAsync(500);
    expect(destroyed()).toEqual([]);
    expect(pool.stats().pool['256'] ?? 0).toBe(0);
    // f4 is used again; then f1 passes a second idle and gives way to one pre-started instance, no more.
    const again = await pool.acquire(fnv('f4'));
    expect(again.startKind).toBe('warm');
    pool.release(again.instance, { healthy: true });
    await advanceUntil(() => pool.stats().pool['256'] === 1);
    expect(destroyed()).toEqual(['f1']);
    expect(pool.stats().memoryUsedMb).toBe(1024);
    const next = await pool.acquire(fnv('new'));
    expect(next.startKind).toBe('pool');
  });

  it('in an executor the configured pool would take more than a quarter of, idle instances do not give way to it', async () => {
    vi.useFakeTimers();
    const backend = new FakeBackend();
    // 2 × 256 MB of pool in 512 MB: the pool fills the budget at start, and the warm instance stays.
    const pool = makePool(backend, { memoryMb: 512, poolSize: 2, poolMemorySizes: [256], sweepIntervalMs: 50 });
    pool.start();
    for (let i = 0; i < 100 && pool.stats().pool['256'] !== 2; i++) await vi.advanceTimersByTimeAsync(10);
    const a = await pool.acquire(fnv('f'));
    expect(a.startKind).toBe('pool');
    pool.release(a.instance, { healthy: true });
    // Sweeps run for five idle seconds: the pool stays one short, the instance warm.
    await vi.advanceTimersByTimeAsync(5000);
    expect((a.instance as FakeInstance).destroyed).toBe(false);
    expect(pool.stats().pool['256']).toBe(1);
    expect((await pool.acquire(fnv('f'))).startKind).toBe('warm');
  });

  it('destroys an instance released as unhealthy', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend);
    const a = await pool.acquire(fnv('f'));
    pool.release(a.instance, { healthy: false });
    await until(() => (a.instance as FakeInstance).destroyed && pool.stats().memoryUsedMb === 0);
    expect((await pool.acquire(fnv('f'))).startKind).toBe('cold');
  });

  it('destroys the instance when init fails and rethrows the function error', async () => {
    const backend = new FakeBackend();
    backend.failInit = true;
    const pool = makePool(backend);
    await expect(pool.acquire(fnv('broken'))).rejects.toMatchObject({ code: 'INIT_FAILED' });
    await until(() => backend.live().length === 0);
    expect(pool.stats()).toMatchObject({ memoryUsedMb: 0, inFlight: 0, warm: [] });
  });

  it('says how the instance of a failed load was obtained (pool or cold), for its activation record', async () => {
    const backend = new FakeBackend();
    backend.failInit = true;
    const pool = makePool(backend, { poolSize: 1 });
    pool.start();
    await until(() => pool.stats().pool['256'] === 1);
    const fromPool = await pool.acquire(fnv('broken')).catch((e: unknown) => e);
    expect(fromPool).toBeInstanceOf(FunctionLoadError);
    expect(fromPool).toMatchObject({ code: 'INIT_FAILED', startKind: 'pool', startMs: expect.any(Number) });
    const cold = await pool.acquire({ ...fnv('broken'), memoryMb: 128 }).catch((e: unknown) => e);
    expect(cold).toMatchObject({ code: 'INIT_FAILED', startKind: 'cold' });
  });

  it("shows the instance its function's package files before /init, and tells the runtime where", async () => {
    const backend = new FakeBackend();
    const filled: string[] = [];
    const pool = makePool(backend, {
      prepareInit: async (fn) => ({ code: 'x', ...(fn.name === 'pkg' ? { fillPackage: async (dest: string) => void filled.push(dest) } : {}) }),
    });
    const { instance } = await pool.acquire(fnv('pkg'));
    const fake = instance as FakeInstance;
    expect(filled).toEqual(fake.packageDirs);
    expect(fake.inits[0]?.packageDir).toBe(fake.packageDirs[0]);
    // A function without package files gets no package directory.
    const plain = (await pool.acquire(fnv('plain'))).instance as FakeInstance;
    expect(plain.packageDirs).toEqual([]);
    expect(plain.inits[0]?.packageDir).toBeUndefined();
  });

  it('gives a generic instance back to the pool when the code cannot be loaded', async () => {
    const backend = new FakeBackend();
    let fail = true;
    const pool = makePool(backend, {
      poolSize: 1,
      prepareInit: async () => {
        if (fail) throw new Error('object store down');
        return { code: 'export const handler = () => 1' };
      },
    });
    pool.start();
    await until(() => pool.stats().pool['256'] === 1);
    await expect(pool.acquire(fnv('f'))).rejects.toThrow('object store down');
    expect(pool.stats().pool['256']).toBe(1);
    expect(backend.created).toHaveLength(1);
    fail = false;
    expect((await pool.acquire(fnv('f'))).startKind).toBe('pool');
  });

  it('grows the pool target on cold starts and shrinks it back when quiet', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { poolSize: 1, poolMax: 3, poolQuietMs: 150, sweepIntervalMs: 10 });
    pool.start();
    await until(() => pool.stats().pool['256'] === 1);
    // Hold new instances back so the refill after the take cannot keep up.
    let open!: () => void;
    backend.createGate = new Promise<void>((r) => (open = r));
    const a = await pool.acquire(fnv('a'));
    expect(a.startKind).toBe('pool');
    const b = pool.acquire(fnv('b'));
    open();
    backend.createGate = undefined;
    expect((await b).startKind).toBe('cold');
    expect(pool.poolTargets()['256']).toBe(2);
    await until(() => pool.stats().pool['256'] === 2);

    await until(() => pool.poolTargets()['256'] === 1, 2000);
    await until(() => pool.stats().pool['256'] === 1);
  });

  it('pauses long-idle instances and resumes them on a warm hit', async () => {
    const backend = new FakeBackend();
    backend.pausable = true;
    const pool = makePool(backend, { pauseIdleAfterMs: 20, sweepIntervalMs: 5 });
    const a = await pool.acquire(fnv('f'));
    pool.release(a.instance, { healthy: true });
    const inst = a.instance as FakeInstance;
    await until(() => inst.paused);
    const again = await pool.acquire(fnv('f'));
    expect(again).toMatchObject({ instance: inst, startKind: 'warm' });
    expect(inst.paused).toBe(false);
    expect(inst.resumes).toBe(1);
  });

  it('pauses within the pause delay without a hand-set sweep interval', async () => {
    const backend = new FakeBackend();
    backend.pausable = true;
    // idleTtlMs 60 s alone would sweep once a second; the pause delay sets the pace.
    const pool = makePool(backend, { pauseIdleAfterMs: 40 });
    const a = await pool.acquire(fnv('f'));
    const released = Date.now();
    pool.release(a.instance, { healthy: true });
    await until(() => (a.instance as FakeInstance).paused, 400);
    expect(Date.now() - released).toBeGreaterThanOrEqual(40);
  });

  it('a paused instance is still an idle warm instance to the scheduler', async () => {
    const backend = new FakeBackend();
    backend.pausable = true;
    const pool = makePool(backend, { pauseIdleAfterMs: 10, sweepIntervalMs: 5 });
    const a = await pool.acquire(fnv('f'));
    pool.release(a.instance, { healthy: true });
    const view = (): unknown => {
      const { memoryUsedMb, inFlight, warm } = pool.stats();
      return { memoryUsedMb, inFlight, warm };
    };
    const before = view();
    await until(() => (a.instance as FakeInstance).paused);
    expect(view()).toEqual(before);
    expect(pool.stats().warm).toEqual([{ namespace: 'default', function: 'f', version: 1, state: 'idle' }]);
  });

  it('resumes a paused instance before destroying it (idle expiry, eviction, drain)', async () => {
    const backend = new FakeBackend();
    backend.pausable = true;
    const pool = makePool(backend, { pauseIdleAfterMs: 10, sweepIntervalMs: 5, idleTtlMs: 150, memoryMb: 512 });
    const expiring = await pool.acquire(fnv('expiring'));
    pool.release(expiring.instance, { healthy: true });
    await until(() => (expiring.instance as FakeInstance).paused);
    await until(() => (expiring.instance as FakeInstance).destroyed);
    const evicted = await pool.acquire(fnv('evicted'));
    pool.release(evicted.instance, { healthy: true });
    const drained = await pool.acquire(fnv('drained'));
    pool.release(drained.instance, { healthy: true });
    await until(() => (evicted.instance as FakeInstance).paused && (drained.instance as FakeInstance).paused);
    // 512 MB budget, two idle 256 MB instances: a third function evicts the older one.
    const third = await pool.acquire(fnv('third'));
    expect((evicted.instance as FakeInstance).destroyed).toBe(true);
    pool.release(third.instance, { healthy: true });
    await pool.drain();
    const all = [expiring, evicted, drained].map((x) => x.instance as FakeInstance);
    expect(all.map((i) => [i.destroyed, i.destroyedPaused])).toEqual([[true, false], [true, false], [true, false]]);
    expect(all.map((i) => i.resumes)).toEqual([1, 1, 1]);
  });

  it('retries pre-starting after a backend failure', async () => {
    const backend = new FakeBackend();
    backend.failCreate = true;
    const pool = makePool(backend, { poolSize: 1, refillBackoffMs: 20 });
    pool.start();
    // A second attempt means the first one failed and was retried after the backoff.
    await until(() => backend.createAttempts >= 2);
    expect(pool.stats().pool['256']).toBe(0);
    backend.failCreate = false;
    await until(() => pool.stats().pool['256'] === 1);
  });

  it('pre-start failures in a row back off further each round (the backoff doubles)', async () => {
    const backend = new FakeBackend();
    backend.failCreate = true;
    const attempts: number[] = [];
    const create = backend.createInstance.bind(backend);
    backend.createInstance = async (spec) => {
      attempts.push(Date.now());
      return create(spec);
    };
    const pool = makePool(backend, { poolSize: 1, refillBackoffMs: 20 });
    pool.start();
    await until(() => attempts.length === 4);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? t));
    // 20, 40, 80 ms (a timer may fire a millisecond early); a fixed backoff would give 20, 20, 20.
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    backend.failCreate = false;
    await until(() => pool.stats().pool['256'] === 1);
  });

  it('serves a burst onto one warm instance from that instance, in order, while creations stay within the budget', async () => {
    const backend = new FakeBackend();
    // No pool: the burst finds nothing pre-started.
    const pool = makePool(backend, { maxCreating: 2, poolSize: 0, poolMax: 0 });
    const first = await pool.acquire(fnv('f'));
    pool.release(first.instance, { healthy: true });
    // New instances never finish starting in this test: every call is served by the warm one.
    let open!: () => void;
    backend.createGate = new Promise<void>((r) => (open = r));
    const order: number[] = [];
    const calls = Array.from({ length: 8 }, (_, i) =>
      pool.acquire(fnv('f')).then((a) => {
        order.push(i);
        expect(a.startKind).toBe('warm');
        expect(a.instance).toBe(first.instance);
        // Run done: hand it back, to the next queued call.
        queueMicrotask(() => pool.release(a.instance, { healthy: true }));
        return a;
      }),
    );
    await Promise.all(calls).finally(() => open());
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(backend.maxCreatingNow).toBeLessThanOrEqual(2);
    expect(pool.queueStats().queued).toBe(0);
    backend.createGate = undefined;
    // What the burst started (at most the budget) is not kept beyond the pool's target (0 here).
    await until(() => pool.queueStats().creating === 0);
    await until(() => backend.live().filter((i) => i.fn === '').length === 0);
    expect(backend.live()).toEqual([first.instance]);
  });

  it('under a sustained load every call is served, and instances grow to the memory budget a few at a time', async () => {
    const backend = new FakeBackend();
    // Creation takes 20 ms, a run ~1 ms: queueing wins per call, yet a load this size needs more instances.
    const created = () => new Promise<void>((r) => setTimeout(r, 20));
    backend.createGate = undefined;
    const create = backend.createInstance.bind(backend);
    backend.createInstance = async (spec) => {
      await created();
      return create(spec);
    };
    const pool = makePool(backend, { memoryMb: 8 * 256, maxCreating: 2 });
    const worker = async (): Promise<number> => {
      let done = 0;
      for (let i = 0; i < 25; i++) {
        const a = await pool.acquire(fnv('f'));
        await new Promise((r) => setTimeout(r, 1));
        pool.release(a.instance, { healthy: true });
        done++;
      }
      return done;
    };
    const counts = await Promise.all(Array.from({ length: 32 }, worker));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(32 * 25);
    expect(backend.created.length).toBeGreaterThan(2);
    expect(backend.created.length).toBeLessThanOrEqual(8);
    expect(backend.maxCreatingNow).toBeLessThanOrEqual(2);
    expect(pool.queueStats().queued).toBe(0);
  });

  it('creates at most maxCreating instances at once, cold starts before pre-starts', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { maxCreating: 2, poolSize: 2, poolMax: 2, memoryMb: 4096 });
    let open!: () => void;
    backend.createGate = new Promise<void>((r) => (open = r));
    const calls = ['a', 'b', 'c', 'd', 'e'].map((n) => pool.acquire(fnv(n)));
    pool.start();
    await until(() => backend.createAttempts === 2);
    // The budget is full: neither the other cold starts nor the pool's pre-starts begin.
    await new Promise((r) => setImmediate(r));
    expect(backend.createAttempts).toBe(2);
    expect(pool.queueStats()).toEqual({ queued: 5, creating: 2 });
    open();
    backend.createGate = undefined;
    const got = await Promise.all(calls);
    expect(got.map((a) => a.startKind)).toEqual(['cold', 'cold', 'cold', 'cold', 'cold']);
    expect(new Set(got.map((a) => a.instance)).size).toBe(5);
    expect(backend.maxCreatingNow).toBe(2);
    // Then the pool refills, still within the budget.
    await until(() => pool.stats().pool['256'] === 2);
    expect(backend.maxCreatingNow).toBe(2);
  });

  it('queues a call for a busy instance of its version instead of failing when the budget is full', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 256 });
    const a = await pool.acquire(fnv('f'));
    const queued = pool.acquire(fnv('f'));
    await until(() => pool.queueStats().queued === 1);
    // Another function has nothing of its own that will free up: throttled once its caller stops waiting.
    await expect(pool.acquire(fnv('g'), { waitUntil: Date.now() + 20 })).rejects.toMatchObject({ code: 'EXECUTOR_FULL' });
    pool.release(a.instance, { healthy: true });
    const b = await queued;
    expect(b.startKind).toBe('warm');
    expect(b.instance).toBe(a.instance);
    expect(backend.created).toHaveLength(1);
    // A caller that cannot wait longer: throttled when nothing frees up by then.
    const t0 = Date.now();
    await expect(pool.acquire(fnv('f'), { waitUntil: Date.now() + 30 })).rejects.toMatchObject({ code: 'EXECUTOR_FULL' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(pool.queueStats().queued).toBe(0);
  });

  it('is fair across functions: a released instance makes room for an older call of a function that has none', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 512, coldStartHintMs: 60_000 });
    const a1 = await pool.acquire(fnv('a'));
    const a2 = await pool.acquire(fnv('a'));
    // b has no instance and no room; a's own queue forms behind it.
    const b = pool.acquire(fnv('b'));
    await until(() => pool.queueStats().queued === 1);
    const a3 = pool.acquire(fnv('a'));
    await until(() => pool.queueStats().queued === 2);
    // a1 comes back: it is destroyed to make room for b (the oldest call), not handed to a3.
    pool.release(a1.instance, { healthy: true });
    const gotB = await b;
    expect(gotB.startKind).toBe('cold');
    expect((a1.instance as FakeInstance).destroyed).toBe(true);
    // a3 is served by a's other instance.
    pool.release(a2.instance, { healthy: true });
    expect((await a3).instance).toBe(a2.instance);
    expect(backend.maxLiveMb).toBeLessThanOrEqual(512);
  });

  it('a queued call gets a new instance when the busy one is lost', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 512, coldStartHintMs: 60_000 });
    const a = await pool.acquire(fnv('f'));
    pool.release(a.instance, { healthy: true });
    const b = await pool.acquire(fnv('f'));
    const queued = pool.acquire(fnv('f'));
    await until(() => pool.queueStats().queued === 1);
    pool.release(b.instance, { healthy: false });
    const c = await queued;
    expect(c.startKind).toBe('cold');
    expect(c.instance).not.toBe(b.instance);
  });

  it('concurrency > 1: calls share a busy instance, queued calls take its free places, a retiring one takes none', async () => {
    const backend = new FakeBackend();
    // Room for one 256 MB instance only: every call of f must share it.
    const pool = makePool(backend, { memoryMb: 256 });
    const f = { ...fnv('f'), concurrency: 2 };
    const a = await pool.acquire(f);
    expect(a.startKind).toBe('cold');
    expect((a.instance as FakeInstance).inits[0]).toMatchObject({ concurrency: 2 });
    const b = await pool.acquire(f);
    expect([b.startKind, b.instance]).toEqual(['warm', a.instance]);
    expect(pool.stats().inFlight).toBe(2);
    // Both places taken: the third call queues, and gets the place the first call frees.
    const queued = pool.acquire(f);
    await until(() => pool.queueStats().queued === 1);
    pool.release(a.instance, { healthy: true });
    const c = await queued;
    expect([c.startKind, c.instance]).toEqual(['warm', a.instance]);
    expect(pool.stats().inFlight).toBe(2);
    // One call finds it unhealthy: it takes no new call and goes with its last one.
    pool.release(b.instance, { healthy: false });
    expect((a.instance as FakeInstance).destroyed).toBe(false);
    const next = pool.acquire(f);
    await until(() => pool.queueStats().queued === 1);
    pool.release(c.instance, { healthy: true });
    const d = await next;
    expect(d.startKind).toBe('cold');
    expect(d.instance).not.toBe(a.instance);
    expect((a.instance as FakeInstance).destroyed).toBe(true);
    expect(backend.maxLiveMb).toBeLessThanOrEqual(256);
  });

  it('concurrency > 1: calls queued during a cold start share the new instance as soon as it is ready', async () => {
    const backend = new FakeBackend();
    let open!: () => void;
    backend.createGate = new Promise<void>((r) => {
      open = r;
    });
    const pool = makePool(backend, { memoryMb: 1024, coldStartHintMs: 60_000 });
    const f = { ...fnv('f'), concurrency: 3 };
    const calls = [pool.acquire(f), pool.acquire(f), pool.acquire(f)];
    await until(() => pool.queueStats().queued === 3);
    open();
    const got = await Promise.all(calls);
    expect(new Set(got.map((g) => g.instance)).size).toBe(1);
    expect(pool.stats().inFlight).toBe(3);
    expect(backend.created).toHaveLength(1);
  });

  it('fails queued calls with EXECUTOR_DRAINING when the pool drains', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { memoryMb: 256 });
    const a = await pool.acquire(fnv('f'));
    const queued = pool.acquire(fnv('f'));
    await until(() => pool.queueStats().queued === 1);
    const drained = pool.drain();
    await expect(queued).rejects.toMatchObject({ code: 'EXECUTOR_DRAINING' });
    pool.release(a.instance, { healthy: true });
    await drained;
  });

  describe('on a backend that resizes instances (Docker)', () => {
    it('gives a function of any memory size a pre-started instance, resized to its size', async () => {
      const backend = new FakeBackend({ resizable: true });
      const pool = makePool(backend, { poolSize: 1, poolMemorySizes: [256] });
      pool.start();
      await until(() => pool.stats().pool['256'] === 1);
      const stem = backend.created[0]!;
      const big = await pool.acquire(fnv('big', 512));
      expect(big.startKind).toBe('pool');
      expect(big.instance).toBe(stem);
      expect(stem.resizes).toEqual([512]);
      expect(stem.inits[0]!.memoryMb).toBe(512);
      const small = await pool.acquire(fnv('small', 128)).catch((e: unknown) => e);
      // The pool refilled at its own size meanwhile (or is refilling); either way the budget holds.
      expect(small).toMatchObject({ startKind: expect.stringMatching(/^(pool|cold)$/) });
      await until(() => pool.stats().pool['256'] === 1);
      expect(pool.stats().memoryUsedMb).toBe(512 + 128 + 256);
      expect(backend.maxLiveMb).toBeLessThanOrEqual(1024);
    });

    it('grows a pre-started instance by evicting idle ones, and resizes it only once they are gone', async () => {
      const backend = new FakeBackend({ resizable: true });
      const pool = makePool(backend, { memoryMb: 768, poolSize: 1, poolMemorySizes: [256] });
      const a = await pool.acquire(fnv('a', 256));
      pool.release(a.instance, { healthy: true });
      pool.start();
      await until(() => pool.stats().pool['256'] === 1);
      const stem = backend.created[1]!;
      let removed!: () => void;
      backend.destroyGate = new Promise<void>((r) => {
        removed = r;
      });
      // 256 (idle a) + 256 (stem) used; growing the stem to 768 needs 512 more than the 256 free: a is evicted for it.
      const taking = pool.acquire(fnv('big', 768));
      await until(() => pool.stats().memoryUsedMb === 768);
      // a's removal still runs: the stem keeps its size until a is gone.
      expect(stem.resizes).toEqual([]);
      expect(stem.inits).toHaveLength(0);
      removed();
      const big = await taking;
      expect(big.startKind).toBe('pool');
      expect(big.instance).toBe(stem);
      expect(stem.resizes).toEqual([768]);
      expect((a.instance as typeof stem).destroyed).toBe(true);
      expect(backend.created).toHaveLength(2);
      // The limits of the live instances never summed past the budget: the resize waited for the eviction.
      expect(backend.maxLiveMb).toBeLessThanOrEqual(768);
    });

    it('leaves a pre-started instance alone when even eviction cannot make room to grow it', async () => {
      const backend = new FakeBackend({ resizable: true });
      const pool = makePool(backend, { memoryMb: 768, poolSize: 1, poolMemorySizes: [256] });
      const a = await pool.acquire(fnv('a', 256));
      pool.start();
      await until(() => pool.stats().pool['256'] === 1);
      // a is busy: nothing can be evicted to grow the stem to 768, so the call waits and the stem stays in the pool.
      const big = pool.acquire(fnv('big', 768), { waitUntil: Date.now() + 50 });
      await expect(big).rejects.toMatchObject({ code: 'EXECUTOR_FULL' });
      expect(pool.stats().pool['256']).toBe(1);
      expect(backend.created[1]!.resizes).toEqual([]);
      pool.release(a.instance, { healthy: true });
    });

    it('a pre-started instance that cannot be resized is destroyed, and the call fails as a platform error', async () => {
      const backend = new FakeBackend({ resizable: true });
      const pool = makePool(backend, { poolSize: 1, poolMemorySizes: [256] });
      pool.start();
      await until(() => pool.stats().pool['256'] === 1);
      const stem = backend.created[0]!;
      backend.failResize = true;
      await expect(pool.acquire(fnv('big', 512))).rejects.toMatchObject({ code: 'INSTANCE_RESIZE_FAILED' });
      expect(stem.destroyed).toBe(true);
      expect(stem.inits).toHaveLength(0);
      // Same size: no resize needed, the refilled pool serves it.
      await until(() => pool.stats().pool['256'] === 1);
      expect((await pool.acquire(fnv('same', 256))).startKind).toBe('pool');
    });

    it('keeps the memory size out of the pool key, egress in it', () => {
      expect(poolKeyOf({ memoryMb: 128, allowEgress: false }, true)).toBe(poolKeyOf({ memoryMb: 1024, allowEgress: false }, true));
      expect(poolKeyOf({ memoryMb: 128, allowEgress: false }, true)).not.toBe(poolKeyOf({ memoryMb: 128, allowEgress: true }, true));
      expect(poolKeyOf({ memoryMb: 128, allowEgress: false }, false)).not.toBe(poolKeyOf({ memoryMb: 1024, allowEgress: false }, false));
    });
  });

  it('drain waits for busy instances, destroys everything and refuses new work', async () => {
    const backend = new FakeBackend();
    const pool = makePool(backend, { poolSize: 2 });
    pool.start();
    await until(() => pool.stats().pool['256'] === 2);
    const busy = await pool.acquire(fnv('f'));
    const idle = await pool.acquire(fnv('g'));
    pool.release(idle.instance, { healthy: true });

    let drained = false;
    const draining = pool.drain().then(() => (drained = true));
    // The idle instance goes at once; the drain itself can end only after the busy one is released.
    await until(() => (idle.instance as FakeInstance).destroyed);
    expect(drained).toBe(false);
    expect((busy.instance as FakeInstance).destroyed).toBe(false);
    expect((idle.instance as FakeInstance).destroyed).toBe(true);
    await expect(pool.acquire(fnv('f'))).rejects.toMatchObject({ code: 'EXECUTOR_DRAINING' });

    pool.release(busy.instance, { healthy: true });
    await draining;
    expect(backend.live()).toHaveLength(0);
    expect(pool.stats()).toMatchObject({ memoryUsedMb: 0, inFlight: 0, warm: [] });
    await pool.close();
  });
});
