import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BriskProcess, Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { waitFor } from '../helpers/wait.js';
import { api, type Api } from './scenarios.js';

/**
 * The direct path of a warm sync call in distributed mode: the gateway that
 * hears an executor holds an idle warm instance of the function (or a ready
 * pre-started one that can load it) sends the call straight to it (no
 * scheduler), the limits hold across gateways, and a call whose executor dies
 * fails fast with EXECUTOR_LOST.
 */
const available = await distributedServicesAvailable();

const SLOW = 'export const handler = async (e) => { await new Promise((r) => setTimeout(r, e.ms ?? 0)); return { slept: e.ms ?? 0 }; };';

describe.skipIf(!available)('distributed: warm sync calls go gateway → executor directly', () => {
  let cluster: Cluster & { spawnExecutor(id?: string): Promise<BriskProcess> };
  let g1: Api;
  let g2: Api;

  beforeAll(async () => {
    cluster = await startDistributedCluster('direct', { gateways: 2, executors: 1 });
    [g1, g2] = cluster.urls.map((u) => api(() => u)) as [Api, Api];
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** Resolves once `gw`'s own view of the executors shows `n` idle warm instances of `name` (version 1). */
  const idleWarmSeenBy = (gw: Api, name: string, n = 1): Promise<void> =>
    waitFor(async () => {
      const r = await gw.req('GET', '/v1/executors');
      const idle = (r.json.executors as Array<{ idleWarm: Record<string, number> }>).reduce((sum, e) => sum + (e.idleWarm[`default/${name}@1`] ?? 0), 0);
      return idle >= n;
    }, 10_000, 50);

  const placementOf = async (gw: Api, id: string | null): Promise<string> => {
    const r = await gw.req('GET', `/v1/activations/${id}`);
    return r.json.placement as string;
  };

  /** Resolves once `gw` hears of at least one ready pre-started Node.js instance (the heartbeats' `stems`). */
  const stemSeenBy = (gw: Api): Promise<void> =>
    waitFor(async () => {
      const r = await gw.req('GET', '/v1/executors');
      return (r.json.executors as Array<{ stems?: Record<string, number> }>).some((e) => Object.entries(e.stems ?? {}).some(([key, n]) => key.startsWith('nodejs:') && n > 0));
    }, 10_000, 50);

  const recordOf = async (gw: Api, id: string | null): Promise<{ placement: string; startKind: string }> => (await gw.req('GET', `/v1/activations/${id}`)).json;

  it('a call onto an idle warm instance is placed by the gateway (record placement "direct"), and so is every next one', async () => {
    expect((await g1.req('PUT', '/v1/functions/echo', { code: 'export const handler = async (e) => ({ echo: e.n })' })).status).toBe(201);
    const first = await g1.req('POST', '/v1/functions/echo/invoke', { n: 0 });
    expect(first.json).toEqual({ echo: 0 });
    await idleWarmSeenBy(g1, 'echo');
    // Back to back, faster than heartbeats: the instance each run leaves is idle again in the gateway's view.
    for (let n = 1; n <= 5; n++) {
      const r = await g1.req('POST', '/v1/functions/echo/invoke', { n });
      expect(r.json).toEqual({ echo: n });
      expect(await placementOf(g1, r.headers.get('x-brisk-activation-id'))).toBe('direct');
    }
  });

  it('a new function’s first call takes a pre-started instance the gateway heard of (placement "direct", start kind "pool"); with none, a scheduler starts one', async () => {
    await stemSeenBy(g1);
    expect((await g1.req('PUT', '/v1/functions/fresh', { code: 'export const handler = async () => ({ fresh: true })' })).status).toBe(201);
    const r = await g1.req('POST', '/v1/functions/fresh/invoke', {});
    expect(r.json).toEqual({ fresh: true });
    expect(await recordOf(g1, r.headers.get('x-brisk-activation-id'))).toMatchObject({ placement: 'direct', startKind: 'pool' });
    // A size no pool holds (the process backend pools per size): a full cold start, placed by a scheduler.
    expect((await g1.req('PUT', '/v1/functions/big', { code: 'export const handler = async () => ({ big: true })', memoryMb: 384 })).status).toBe(201);
    const big = await g1.req('POST', '/v1/functions/big/invoke', {});
    expect(big.json).toEqual({ big: true });
    const rec = await recordOf(g1, big.headers.get('x-brisk-activation-id'));
    expect(rec.startKind).toBe('cold');
    expect(rec.placement).not.toBe('direct');
  });

  it('a function concurrency limit of 1 holds across two gateways placing directly', async () => {
    expect((await g1.req('PUT', '/v1/functions/one-at-a-time', { code: SLOW, maxConcurrency: 1 })).status).toBe(201);
    expect((await g1.req('POST', '/v1/functions/one-at-a-time/invoke', { ms: 0 })).status).toBe(200);
    await Promise.all([idleWarmSeenBy(g1, 'one-at-a-time'), idleWarmSeenBy(g2, 'one-at-a-time')]);
    const both = await Promise.all([g1, g2].map((g) => g.req('POST', '/v1/functions/one-at-a-time/invoke', { ms: 1500 })));
    const statuses = both.map((r) => r.status).sort();
    expect(statuses, both.map((r) => r.text).join('\n')).toEqual([200, 429]);
    expect(both.find((r) => r.status === 429)?.json.error.code).toBe('CONCURRENCY_LIMIT');
    const ran = both.find((r) => r.status === 200);
    expect(await placementOf(g1, ran?.headers.get('x-brisk-activation-id') ?? null)).toBe('direct');
  });

  it('kill -9 of the executor running a direct call: the caller gets EXECUTOR_LOST within seconds, and the record says so', async () => {
    expect((await g1.req('PUT', '/v1/functions/long', { code: SLOW })).status).toBe(201);
    expect((await g1.req('POST', '/v1/functions/long/invoke', { ms: 0 })).status).toBe(200);
    await idleWarmSeenBy(g1, 'long');
    const direct = async (): Promise<number> => {
      const text = (await g1.req('GET', '/metrics')).text;
      const line = text.split('\n').find((l) => l.startsWith('brisk_dispatches_total') && l.includes('placement="direct"'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const before = await direct();
    const t0 = Date.now();
    const call = g1.req('POST', '/v1/functions/long/invoke', { ms: 30_000 });
    await waitFor(async () => (await direct()) === before + 1, 10_000, 20);
    const executor = cluster.processes.find((p) => p.role === 'executor');
    if (!executor) throw new Error('no executor process');
    executor.child.kill('SIGKILL');
    await executor.exited;
    const r = await call;
    expect(r.status, r.text).toBe(502);
    expect(r.headers.get('x-brisk-fault')).toBe('platform');
    expect(r.json.error.code).toBe('EXECUTOR_LOST');
    expect(Date.now() - t0).toBeLessThan(10_000); // the function would have held 30 s
    const record = await g1.req('GET', `/v1/activations/${r.headers.get('x-brisk-activation-id')}`);
    expect(record.json).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
  });
});
