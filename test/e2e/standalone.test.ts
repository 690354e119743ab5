import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Cluster } from '../helpers/cluster.js';
import { api, skeletonScenarios } from './scenarios.js';

skeletonScenarios('standalone, process backend', () => startStandalone());

describe('standalone with BRISK_ADMIN_KEY', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startStandalone({ BRISK_ADMIN_KEY: 'sekret-key' });
  });
  afterAll(async () => cluster?.stop());

  it('refuses /v1 without the key and accepts it with the key', async () => {
    const anon = api(() => cluster.url, '');
    const r = await anon.req('GET', '/v1/functions');
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('UNAUTHORIZED');
    expect((await api(() => cluster.url, 'wrong').req('GET', '/v1/functions')).status).toBe(401);
    expect((await api(() => cluster.url, 'sekret-key').req('GET', '/v1/functions')).status).toBe(200);
    expect((await anon.req('GET', '/healthz')).status).toBe(200);
  });
});
