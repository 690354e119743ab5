import { describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, useCluster, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { api, waitForActivation } from './scenarios.js';
import { waitFor } from '../helpers/wait.js';

/** The value of one sample line of a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

async function scrape(url: string, key = TEST_ADMIN_KEY): Promise<string> {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  expect(r.status).toBe(200);
  return r.text();
}

function meteringScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`metrics and metering (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('serves /metrics to the admin only, and the counters move with invocations', async () => {
      expect((await fetch(`${cluster.url}/metrics`)).status).toBe(401);
      await a.req('PUT', '/v1/functions/m', { code: 'export const handler = async (e) => { if (e.fail) throw new Error("no"); return 1; }' });
      const before = await scrape(cluster.url);
      for (let i = 0; i < 5; i++) expect((await a.req('POST', '/v1/functions/m/invoke', {})).status).toBe(200);
      expect((await a.req('POST', '/v1/functions/m/invoke', { fail: true })).status).toBe(500);
      const after = await scrape(cluster.url);
      const success = { function: 'default/m', mode: 'sync', status: 'success' };
      expect(sample(after, 'brisk_invocations_total', success) - sample(before, 'brisk_invocations_total', success)).toBe(5);
      const errors = { function: 'default/m', mode: 'sync', status: 'error' };
      expect(sample(after, 'brisk_invocations_total', errors) - sample(before, 'brisk_invocations_total', errors)).toBe(1);
      expect(sample(after, 'brisk_invoke_latency_seconds_count', { function: 'default/m' })).toBeGreaterThanOrEqual(6);
      expect(after).toContain('brisk_executor_runs_total');
      expect(after).toContain('brisk_queueing_seconds_bucket');
      expect(after).toContain('brisk_starts_total');
    });

    it('meters usage per function: invocations, errors, cold starts and GB-seconds', async () => {
      await a.req('PUT', '/v1/functions/billed', { code: 'export const handler = async (e) => { if (e.fail) throw new Error("x"); return 1; }', memoryMb: 512 });
      for (let i = 0; i < 4; i++) await a.req('POST', '/v1/functions/billed/invoke', {});
      await a.req('POST', '/v1/functions/billed/invoke', { fail: true });
      const id = (await a.req('POST', '/v1/functions/billed/invoke?async=true', {})).json.activationId;
      await waitForActivation(a, id);
      const want = { function: 'billed', invocations: 6, errors: 1 };
      let got: any;
      await waitFor(async () => {
        got = (await a.req('GET', '/v1/usage')).json.functions.find((f: { function: string }) => f.function === 'billed');
        return (got?.invocations ?? 0) >= 6;
      }, 10_000, 100).catch(() => undefined); // the assertion below says what is missing
      expect(got).toMatchObject(want);
      expect(got.coldStarts).toBeGreaterThanOrEqual(1);
      expect(got.gbSeconds).toBeGreaterThan(0);
      const future = new Date(Date.now() + 2 * 3600_000).toISOString();
      const none = await a.req('GET', `/v1/usage?from=${future}&to=${new Date(Date.now() + 3 * 3600_000).toISOString()}`);
      expect(none.json.functions).toEqual([]);
      expect((await a.req('GET', '/v1/usage?from=nope')).json.error.code).toBe('INVALID_RANGE');
    });
  });
}

meteringScenarios('standalone', () => startStandalone());

const available = await distributedServicesAvailable();
describe.skipIf(!available)('distributed', () => {
  meteringScenarios('distributed', () => startDistributedCluster('metering', { executors: 2 }));
});
