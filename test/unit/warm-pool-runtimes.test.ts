import { afterEach, describe, expect, it } from 'vitest';
import type { FunctionRuntime, FunctionVersion } from '../../core/types.js';
import { WarmPool } from '../../executor/warm-pool.js';
import { stemFor } from '../../placement/pool-keys.js';
import { FakeBackend, type FakeInstance } from '../fakes/backend.js';
import { waitFor } from '../helpers/wait.js';

/** The warm pool's runtime dimension: generic instances serve only functions of their own runtime (and image). */
function fnv(name: string, runtime: FunctionRuntime, extra: Partial<FunctionVersion> = {}): FunctionVersion {
  return {
    namespace: 'default', name, version: 1, handler: 'app.handler', memoryMb: 256, timeoutMs: 1000, env: {}, maxConcurrency: 0, retries: 0,
    allowEgress: false, codeHash: `hash-${name}`, codeSize: 10, exportName: 'handler', createdAt: new Date(0).toISOString(),
    ...(runtime !== 'nodejs' ? { runtime } : {}),
    ...extra,
  };
}

const pools: WarmPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close(0)));
});

describe('WarmPool per runtime', () => {
  it('pre-starts a pool per runtime in poolRuntimes; a Python function takes a Python instance, never a Node one', async () => {
    const backend = new FakeBackend();
    const pool = new WarmPool({ backend, prepareInit: async () => ({ code: 'src' }), memoryMb: 2048, idleTtlMs: 60_000, poolSize: 1, poolMax: 1, poolRuntimes: ['nodejs', 'python'] });
    pools.push(pool);
    pool.start();
    await waitFor(() => backend.created.length === 2, 2000, 2);
    expect(backend.created.map((i) => i.spec.runtime ?? 'nodejs').sort()).toEqual(['nodejs', 'python']);
    await waitFor(() => Object.keys(pool.stats().stems).length === 2, 2000, 2);
    // What the heartbeat says (`stems`) is what a placement matches a function against.
    expect(pool.stats().stems).toEqual({ 'nodejs:256:sealed': 1, 'python:256:sealed': 1 });
    expect(stemFor(pool.stats().stems, fnv('py', 'python'))).toEqual({ key: 'python:256:sealed', count: 1 });
    expect(stemFor(pool.stats().stems, fnv('py', 'python', { memoryMb: 512 }))).toBeUndefined();

    const py = await pool.acquire(fnv('py', 'python'));
    expect(py.startKind).toBe('pool');
    expect((py.instance as FakeInstance).spec.runtime).toBe('python');
    expect(stemFor(pool.stats().stems, fnv('py2', 'python'))).toBeUndefined();
    // The Python runtime is told which module to import, from the handler.
    expect((py.instance as FakeInstance).inits[0]).toMatchObject({ module: 'app', exportName: 'handler' });
    const node = await pool.acquire(fnv('js', 'nodejs'));
    expect(node.startKind).toBe('pool');
    expect((node.instance as FakeInstance).spec.runtime).toBeUndefined();
    expect((node.instance as FakeInstance).inits[0]).not.toHaveProperty('module');
  });

  it('an image function gets an instance of its image; another image or a runtime pool never serves it', async () => {
    const backend = new FakeBackend();
    const pool = new WarmPool({ backend, prepareInit: async () => ({ code: '' }), memoryMb: 2048, idleTtlMs: 60_000, poolSize: 1, poolMax: 2 });
    pools.push(pool);
    pool.start();
    await waitFor(() => backend.created.length === 1, 2000, 2);
    const a = await pool.acquire(fnv('a', 'image', { image: 'greeter:1' }));
    expect(a.startKind).toBe('cold');
    expect((a.instance as FakeInstance).spec).toMatchObject({ runtime: 'image', image: 'greeter:1' });
    pool.release(a.instance, { healthy: true });
    // The cold start grew a pool for that image: its next new function is a pool hit, another image's is not.
    await waitFor(() => backend.created.some((i) => i !== a.instance && i.spec.image === 'greeter:1'), 2000, 2);
    expect((await pool.acquire(fnv('b', 'image', { image: 'greeter:1' }))).startKind).toBe('pool');
    const other = await pool.acquire(fnv('c', 'image', { image: 'echo:1' }));
    expect(other.startKind).toBe('cold');
    expect((other.instance as FakeInstance).spec.image).toBe('echo:1');
  });
});
