import { describe, expect, it } from 'vitest';
import { startStandalone, useCluster, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { api, waitForActivation } from './scenarios.js';

/**
 * `concurrency: N` end to end (issue 17): one warm instance takes N calls at
 * once, each call's record keeps its own logs and its own outcome, and a
 * call past its timeout fails alone while its neighbour finishes.
 */

/** I/O-bound: waits `ms`; answers which instance (module load) served it. */
const IO_BOUND = `
const instance = Math.random().toString(36).slice(2);
export const handler = async (e) => {
  console.log('call ' + e.id);
  await new Promise((r) => setTimeout(r, e.ms));
  if (e.fail) throw new Error('failed ' + e.id);
  return { id: e.id, instance };
};`;

function concurrencyScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`several calls per instance (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('shares one warm instance among concurrent calls, each with its own logs and outcome', async () => {
      const d = await a.req('PUT', '/v1/functions/io', { code: IO_BOUND, concurrency: 4, timeoutMs: 5000 });
      expect(d.status, d.text).toBe(201);
      expect(d.json.concurrency).toBe(4);
      const warm = await a.req('POST', '/v1/functions/io/invoke', { id: 'warm', ms: 1 });
      expect(warm.status, warm.text).toBe(200);
      const t0 = performance.now();
      const calls = await Promise.all(
        ['a', 'b', 'c', 'd'].map((id) => a.req('POST', '/v1/functions/io/invoke', { id, ms: 800, fail: id === 'c' })),
      );
      const wall = performance.now() - t0;
      expect(calls.map((c) => c.status)).toEqual([200, 200, 500, 200]);
      expect(calls[2]?.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorMessage: 'failed c' });
      // All four on the instance the warm-up loaded, side by side (one after another would be 3.2 s).
      const served = new Set(calls.filter((c) => c.status === 200).map((c) => c.json.instance));
      expect(served).toEqual(new Set([warm.json.instance]));
      expect(wall).toBeLessThan(2500);
      for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) {
        const record = await waitForActivation(a, calls[i]?.headers.get('x-brisk-activation-id') as string);
        expect(record.logs).toEqual([`call ${id}`]);
        expect(record.status).toBe(id === 'c' ? 'error' : 'success');
      }
    });

    it('a call past its timeout fails alone; its neighbour on the same instance finishes', async () => {
      const d = await a.req('PUT', '/v1/functions/io-timeout', { code: IO_BOUND, concurrency: 2, timeoutMs: 1000 });
      expect(d.status, d.text).toBe(201);
      const warm = await a.req('POST', '/v1/functions/io-timeout/invoke', { id: 'warm', ms: 1 });
      const [slow, quick] = await Promise.all([
        a.req('POST', '/v1/functions/io-timeout/invoke', { id: 'slow', ms: 4000 }),
        a.req('POST', '/v1/functions/io-timeout/invoke', { id: 'quick', ms: 600 }),
      ]);
      expect([slow.status, slow.json.error.code]).toEqual([504, 'FUNCTION_TIMEOUT']);
      expect([quick.status, quick.json]).toEqual([200, { id: 'quick', instance: warm.json.instance }]);
      // The instance the timeout retired is replaced: the next call still works.
      expect((await a.req('POST', '/v1/functions/io-timeout/invoke', { id: 'after', ms: 1 })).status).toBe(200);
    });

    it('refuses a concurrency outside 1..100', async () => {
      const r = await a.req('PUT', '/v1/functions/io-bad', { code: IO_BOUND, concurrency: 101 });
      expect([r.status, r.json.error.code]).toEqual([400, 'INVALID_SETTINGS']);
    });
  });
}

concurrencyScenarios('standalone, process backend', () => startStandalone());

const available = await distributedServicesAvailable();
describe.skipIf(!available)('distributed mode', () => {
  concurrencyScenarios('distributed: 1 gateway, 1 scheduler, 1 process executor', () => startDistributedCluster('e2e-conc', { executors: 1 }));
});
