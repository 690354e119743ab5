import { afterEach, describe, expect, it } from 'vitest';
import type { FunctionVersion } from '../../core/types.js';
import { WarmPool } from '../../executor/warm-pool.js';
import { FakeBackend } from '../fakes/backend.js';

/**
 * Found while testing F6: version numbers start again at 1 after a function
 * (or its whole namespace) is deleted, and the warm pool matched idle
 * instances by `namespace/name@version` only. The new version 1 then ran in an
 * instance still loaded with the old one: the old code, env and secrets, in a
 * re-created namespace the new tenant's.
 */

function version(code: string, createdAt: string): FunctionVersion {
  return {
    namespace: 'tmp', name: 'keeper', version: 1, handler: 'index.handler', memoryMb: 128, timeoutMs: 1000, env: { WHO: code },
    maxConcurrency: 0, retries: 0, allowEgress: false, codeHash: code, codeSize: 1, exportName: 'handler', createdAt,
  };
}

const pools: WarmPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close(0)));
});

describe('warm instances of a deleted version', () => {
  it('a version 1 deployed after a delete never runs in an instance loaded with the old version 1', async () => {
    const backend = new FakeBackend();
    const pool = new WarmPool({ backend, prepareInit: async (fn) => ({ code: fn.codeHash }), memoryMb: 1024, idleTtlMs: 60_000, poolSize: 0, poolMax: 0 });
    pools.push(pool);
    const old = await pool.acquire(version('old-code', '2026-01-01T00:00:00.000Z'));
    pool.release(old.instance, { healthy: true });
    // Same namespace, name and version number; deployed again after the delete.
    const fresh = await pool.acquire(version('new-code', '2026-01-01T00:05:00.000Z'));
    expect(fresh.startKind).not.toBe('warm');
    expect(fresh.instance).not.toBe(old.instance);
    expect(backend.inits.map((l) => l.code)).toEqual(['old-code', 'new-code']);
    // The same version as before is still served warm.
    pool.release(fresh.instance, { healthy: true });
    expect((await pool.acquire(version('new-code', '2026-01-01T00:05:00.000Z'))).startKind).toBe('warm');
  });
});
