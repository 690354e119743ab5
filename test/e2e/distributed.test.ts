import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { api, skeletonScenarios, waitForActivation } from './scenarios.js';
import { waitFor } from '../helpers/wait.js';

const available = await distributedServicesAvailable();

describe.skipIf(!available)('distributed mode on RabbitMQ, Redis and S3', () => {
  skeletonScenarios('distributed: 2 gateways, 1 scheduler, 2 process executors', () =>
    startDistributedCluster('e2e', { gateways: 2, executors: 2 }),
  );

  describe('several gateways and executors', () => {
    let cluster: Cluster;
    beforeAll(async () => {
      cluster = await startDistributedCluster('e2e-multi', { gateways: 2, executors: 2, schedulers: 2 });
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it('accepts invocations at either gateway and sees the same functions and activations', async () => {
      const [g1, g2] = cluster.urls.map((u) => api(() => u));
      if (!g1 || !g2) throw new Error('two gateways expected');
      const code = 'export const handler = async (e) => ({ twice: e.n * 2, pid: process.pid })';
      expect((await g1.req('PUT', '/v1/functions/twice', { code })).status).toBe(201);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? g1 : g2).req('POST', '/v1/functions/twice/invoke', { n: i })),
      );
      for (const [i, r] of results.entries()) expect(r.json, r.text).toMatchObject({ twice: i * 2 });
      const async = await g2.req('POST', '/v1/functions/twice/invoke?async=true', { n: 21 });
      const act = await waitForActivation(g1, async.json.activationId);
      expect(act.result.twice).toBe(42);
      expect((await g2.req('GET', '/v1/functions/twice')).json.version).toBe(1);
      // A deploy through one gateway reaches the other's invocations at once (a change
      // notice drops its cached version), well before the cache's own 1 s bound.
      const v2 = 'export const handler = async (e) => ({ twice: e.n * 2, v: 2 })';
      expect((await g1.req('PUT', '/v1/functions/twice', { code: v2 })).json.version).toBe(2);
      await waitFor(async () => (await g2.req('POST', '/v1/functions/twice/invoke', { n: 1 })).json.v === 2, 500, 10);
    });
  });
});
