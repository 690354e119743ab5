import { describe, expect, it } from 'vitest';
import { stopProcess, useCluster, startStandalone, waitForExecutors, TEST_ADMIN_KEY, type BriskProcess, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { waitForValue } from '../helpers/wait.js';
import { api, waitForActivation, type Api } from './scenarios.js';

/**
 * Provisioned instances end to end (issue 17): kept loaded before any call,
 * every call warm while no more calls are in flight than instances, following
 * an alias, and (distributed) re-created on the executors that remain when
 * one is killed or drains.
 */

/** An I/O-bound handler: holds its instance for a while, so concurrent calls need concurrent instances. */
const SLOW = (tag: number): string => `export const handler = async () => { await new Promise((r) => setTimeout(r, 150)); return { v: ${tag} }; };`;

async function deploy(a: Api, name: string, tag: number): Promise<void> {
  const d = await a.req('PUT', `/v1/functions/${name}`, { code: SLOW(tag), memoryMb: 128 });
  expect(d.status, d.text).toBe(201);
}

/** Waits until the function's provisioned instances are all ready (GET /v1/functions/{name}). */
async function readyAll(a: Api, name: string, wanted: number, timeoutMs = 30_000): Promise<void> {
  let last = '';
  await waitForValue(async () => {
    const r = await a.req('GET', `/v1/functions/${name}`);
    last = JSON.stringify(r.json?.provisioned);
    const p = r.json?.provisioned as { wanted: number; ready: number } | undefined;
    return p !== undefined && p.wanted === wanted && p.ready === wanted ? true : undefined;
  }, timeoutMs, `${wanted} provisioned instances of ${name} ready`, 100).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: ${last}`);
  });
}

/**
 * `rounds` rounds of `n` concurrent sync calls, each round right after the
 * last one's answers; the start kind of every call, from its activation record.
 */
async function startKinds(a: Api, name: string, n: number, rounds: number): Promise<string[]> {
  const kinds: string[] = [];
  for (let i = 0; i < rounds; i++) {
    const calls = await Promise.all(Array.from({ length: n }, () => a.req('POST', `/v1/functions/${name}/invoke`, {})));
    for (const c of calls) {
      expect(c.status, c.text).toBe(200);
      const act = await waitForActivation(a, c.headers.get('x-brisk-activation-id') as string);
      kinds.push(act.startKind as string);
    }
  }
  return kinds;
}

/** Provisioned instances per executor, as GET /v1/executors shows them. */
async function placed(a: Api, key: string): Promise<Record<string, number>> {
  const r = await a.req('GET', '/v1/executors');
  const out: Record<string, number> = {};
  for (const e of r.json.executors as Array<{ executorId: string; state: string; provisioned?: Record<string, number> }>) {
    if (e.state === 'healthy' && (e.provisioned?.[key] ?? 0) > 0) out[e.executorId] = e.provisioned![key]!;
  }
  return out;
}

function provisionedScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`provisioned instances (${label})`, () => {
    // Configs are checked against the executors a gateway has heard: wait for the first heartbeat.
    const cluster = useCluster(async () => {
      const c = await start();
      await waitForExecutors(c.url, TEST_ADMIN_KEY, 1);
      return c;
    });
    const a = api(() => cluster.url);

    it('keeps N instances loaded before any call; calls up to N in flight never see a cold or pool start', async () => {
      await deploy(a, 'prov-warm', 1);
      const put = await a.req('PUT', '/v1/functions/prov-warm/provisioned/1', { instances: 3 });
      expect(put.status, put.text).toBe(201);
      await readyAll(a, 'prov-warm', 3);
      const kinds = await startKinds(a, 'prov-warm', 3, 4);
      expect(kinds).toEqual(Array(12).fill('warm'));
      // Deleting the config gives the instances back to the idle timeout: nothing wanted any more.
      expect((await a.req('DELETE', '/v1/functions/prov-warm/provisioned/1')).status).toBe(204);
      expect((await a.req('GET', '/v1/functions/prov-warm')).json.provisioned).toBeUndefined();
    });

    it('an alias\'s instances follow it when it moves', async () => {
      await deploy(a, 'prov-alias', 1);
      await deploy(a, 'prov-alias', 2);
      expect((await a.req('PUT', '/v1/functions/prov-alias/aliases/live', { version: 1 })).status).toBe(201);
      expect((await a.req('PUT', '/v1/functions/prov-alias/provisioned/live', { instances: 2 })).status).toBe(201);
      await readyAll(a, 'prov-alias', 2);
      expect((await a.req('PUT', '/v1/functions/prov-alias/aliases/live', { version: 2 })).status).toBe(200);
      const moved = await waitForValue(async () => {
        const r = await a.req('GET', '/v1/functions/prov-alias/provisioned/live');
        return r.json.status?.versions?.['2']?.ready === 2 ? r.json : undefined;
      }, 30_000, 'the alias\'s instances on version 2', 100);
      expect(moved.status).toMatchObject({ wanted: 2, ready: 2 });
      expect(moved.status.versions['1']).toBeUndefined();
      const calls = await Promise.all([1, 2].map(() => a.req('POST', '/v1/functions/prov-alias/invoke?alias=live', {})));
      for (const c of calls) expect(c.json).toEqual({ v: 2 });
      const acts = await Promise.all(calls.map((c) => waitForActivation(a, c.headers.get('x-brisk-activation-id') as string)));
      expect(acts.map((x) => x.startKind)).toEqual(['warm', 'warm']);
    });

    it('refuses what the cluster cannot hold with a counter-offer', async () => {
      await deploy(a, 'prov-big', 1);
      const r = await a.req('PUT', '/v1/functions/prov-big/provisioned/1', { instances: 100 });
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('INSUFFICIENT_CAPACITY');
      const { available } = r.json.error.details as { available: number };
      expect(available).toBeGreaterThan(0);
      expect(available).toBeLessThan(100);
      // The counter-offer is accepted as it is.
      expect((await a.req('PUT', '/v1/functions/prov-big/provisioned/1', { instances: available })).status).toBe(201);
      expect((await a.req('DELETE', '/v1/functions/prov-big/provisioned/1')).status).toBe(204);
    });
  });
}

provisionedScenarios('standalone, process backend', () => startStandalone({ BRISK_EXECUTOR_MEMORY_MB: '2048', BRISK_HEARTBEAT_MS: '500' }));

const available = await distributedServicesAvailable();
describe.skipIf(!available)('distributed mode', () => {
  provisionedScenarios('distributed: 1 gateway, 1 scheduler, 2 process executors', () =>
    startDistributedCluster('e2e-prov', { executors: 2, env: { BRISK_EXECUTOR_MEMORY_MB: '2048' } }),
  );

  describe('provisioned instances survive an executor kill and a drain', () => {
    let cluster: Awaited<ReturnType<typeof startDistributedCluster>>;
    const a = api(() => cluster.url);
    const executors = new Map<string, BriskProcess>();
    const spawn = async (id: string): Promise<void> => {
      executors.set(id, await cluster.spawnExecutor(id));
      await waitForExecutors(cluster.url, TEST_ADMIN_KEY, [id]);
    };

    it('spreads them, re-creates a killed executor\'s on the others, and moves a draining executor\'s before it leaves', async () => {
      cluster = await startDistributedCluster('e2e-prov-fail', { executors: 0, env: { BRISK_EXECUTOR_MEMORY_MB: '2048' } });
      try {
        await spawn('prov-a');
        await spawn('prov-b');
        await deploy(a, 'prov-ha', 1);
        expect((await a.req('PUT', '/v1/functions/prov-ha/provisioned/1', { instances: 2 })).status).toBe(201);
        await readyAll(a, 'prov-ha', 2);
        // Spread for availability: one on each executor.
        expect(await placed(a, 'default/prov-ha@1')).toEqual({ 'prov-a': 1, 'prov-b': 1 });
        expect(await startKinds(a, 'prov-ha', 2, 2)).toEqual(Array(4).fill('warm'));

        // Killed: its instance is re-created on the executor that remains.
        executors.get('prov-a')!.child.kill('SIGKILL');
        await waitForValue(async () => {
          const p = await placed(a, 'default/prov-ha@1');
          return p['prov-b'] === 2 ? p : undefined;
        }, 30_000, 'both instances on prov-b', 100);
        await readyAll(a, 'prov-ha', 2);

        // A new executor joins, then prov-b drains: its instances move before it leaves, and calls meanwhile succeed.
        await spawn('prov-c');
        const draining = stopProcess(executors.get('prov-b')!);
        await waitForValue(async () => {
          const p = await placed(a, 'default/prov-ha@1');
          return p['prov-c'] === 2 ? p : undefined;
        }, 30_000, 'both instances on prov-c', 100);
        expect(await draining).toBe(0);
        await readyAll(a, 'prov-ha', 2);
        expect(await startKinds(a, 'prov-ha', 2, 2)).toEqual(Array(4).fill('warm'));
      } finally {
        await cluster.stop();
      }
    });
  });
});
