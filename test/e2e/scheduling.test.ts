import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsistentHashRing } from '../../placement/consistent-hash.js';
import { placementKey } from '../../placement/placement.js';
import { spawnRole, stopProcess, sharedFile, sharedTempDir, waitForExecutors, type BriskProcess } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedServices, type DistributedServices } from '../helpers/distributed-env.js';
import { waitFor } from '../helpers/services.js';
import { api, waitForActivation } from './scenarios.js';

/**
 * Placement, limits and async reliability against real RabbitMQ/Redis/S3 and
 * several real executor processes of small capacity: 512 MB each, so four
 * 128 MB functions (or eight 64 MB ones) fill one; no generic pool, so every
 * instance in memory belongs to a function; 300 ms heartbeats.
 *
 * One gateway; schedulers and executors are started and stopped per phase so
 * each distribution is measured on empty executors:
 * 1. `pack` scheduler on ex-p1, ex-p2;
 * 2. `spread` scheduler on ex-s1..ex-s3 (hot spots, affinity, homes, limits, retries);
 * 3. a second `spread` scheduler joins for the duplicate-execution load test.
 */

const available = await distributedServicesAvailable();

const HEARTBEAT_MS = 300;
/**
 * How long a scheduler that just started needs to hear every executor: one
 * heartbeat interval, doubled for a beat that comes late. (Without it the new
 * scheduler's first requests would only wait for that heartbeat; the wait
 * makes both schedulers take part from the start of the load.)
 */
const NEW_SCHEDULER_HEARS_MS = HEARTBEAT_MS * 2;
/** Distributed gateways require an operator key; the admin acts in namespace `default`. */
const ADMIN_KEY = 'e2e-scheduling-admin-key';
/** Holds for `e.ms`; writes the file `e.mark` first when given (so a test knows the run started). */
const HOLD = `import fs from 'node:fs';
export const handler = async (e) => {
  if (e.mark) fs.writeFileSync(e.mark, 'started');
  await new Promise((r) => setTimeout(r, e.ms ?? 0));
  return { ok: true };
};`;

describe.skipIf(!available)('scheduling on real services with small executors', () => {
  let services: DistributedServices;
  let env: Record<string, string>;
  let gateway: BriskProcess & { port?: number };
  const procs: BriskProcess[] = [];
  const a = api(() => `http://127.0.0.1:${gateway.port}`, ADMIN_KEY);

  const spawn = async (role: 'scheduler' | 'executor', extra: Record<string, string> = {}): Promise<BriskProcess> => {
    const p = await spawnRole(role, { ...env, ...extra });
    procs.push(p);
    return p;
  };
  const stop = async (...ps: BriskProcess[]): Promise<void> => {
    const codes = await Promise.all(ps.map((p) => stopProcess(p)));
    for (const [i, c] of codes.entries()) expect(c, `${ps[i]?.role} exit code:\n${ps[i]?.output().slice(-2000)}`).toBe(0);
  };
  /** Wait until the executors are heard (the gateway hears the same heartbeats as the schedulers started before them). */
  const heard = (ids: string[]): Promise<void> => waitForExecutors(`http://127.0.0.1:${gateway.port}`, ADMIN_KEY, ids);

  const deploy = async (name: string, settings: Record<string, unknown> = {}, code = HOLD): Promise<void> => {
    const r = await a.req('PUT', `/v1/functions/${name}`, { code, memoryMb: 128, ...settings });
    expect([200, 201], r.text).toContain(r.status);
  };
  const invoke = async (name: string, event: unknown): Promise<{ status: number; id: string; json: any; headers: Headers }> => {
    const r = await a.req('POST', `/v1/functions/${name}/invoke`, event);
    return { status: r.status, id: r.headers.get('x-brisk-activation-id') as string, json: r.json, headers: r.headers };
  };
  const record = (id: string): Promise<any> => waitForActivation(a, id, 30_000);

  beforeAll(async () => {
    services = await startDistributedServices('e2e-sched');
    env = {
      ...services.env,
      BRISK_POOL_SIZE: '0',
      BRISK_POOL_MAX: '0',
      BRISK_HEARTBEAT_MS: String(HEARTBEAT_MS),
      BRISK_EXECUTOR_MEMORY_MB: '512',
      BRISK_ADMIN_KEY: ADMIN_KEY,
      BRISK_EXECUTOR_BACKEND: 'process',
    };
    gateway = await spawnRole('gateway', { ...env, BRISK_PORT: '0' });
  });
  afterAll(async () => {
    await Promise.all([...procs, gateway].filter(Boolean).map((p) => stopProcess(p)));
    await services?.stop();
  });

  it('pack: fills one executor before touching the next', async () => {
    const sched = await spawn('scheduler', { BRISK_PLACEMENT: 'pack' });
    const execs = await Promise.all(['ex-p1', 'ex-p2'].map((id) => spawn('executor', { BRISK_EXECUTOR_ID: id })));
    await heard(['ex-p1', 'ex-p2']);
    const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
    for (const n of names) await deploy(n);
    const results = await Promise.all(names.map((n) => invoke(n, { ms: 1500 })));
    for (const r of results) expect(r.status, JSON.stringify(r.json)).toBe(200);
    const recs = await Promise.all(results.map((r) => record(r.id)));
    const per = countBy(recs.map((r) => r.executor as string));
    // 512 MB / 128 MB: four on the first executor, the fifth on the other.
    expect(Object.values(per).sort()).toEqual([1, 4]);
    expect(recs.every((r) => r.placement === 'pack')).toBe(true);
    await stop(sched, ...execs);
  });

  describe('spread', () => {
    const ids = ['ex-s1', 'ex-s2', 'ex-s3'];
    beforeAll(async () => {
      await spawn('scheduler', { BRISK_PLACEMENT: 'spread' });
      await Promise.all(ids.map((id) => spawn('executor', { BRISK_EXECUTOR_ID: id })));
      await heard(ids);
    });

    it('respects the hot-spot threshold: the home takes work up to 80 % of its memory, the rest steps on', async () => {
      await deploy('hs', { memoryMb: 64 });
      const results = await Promise.all(Array.from({ length: 10 }, () => invoke('hs', { ms: 800 })));
      for (const r of results) expect(r.status, JSON.stringify(r.json)).toBe(200);
      const recs = await Promise.all(results.map((r) => record(r.id)));
      const home = homeOf('hs', ids);
      const atHome = recs.filter((r) => r.executor === home);
      // 8 slots of 64 MB; placed while usage < 0.8: 0, 64 … 384 MB → 7 at home.
      expect(atHome).toHaveLength(7);
      expect(atHome.every((r) => r.placement === 'home')).toBe(true);
      expect(recs.filter((r) => r.executor !== home).every((r) => r.placement === 'home-step')).toBe(true);
    });

    it('affinity: repeated calls of one function land on the executor holding its warm instance', async () => {
      await deploy('aff');
      const execs: string[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await invoke('aff', {});
        expect(r.status).toBe(200);
        const rec = await record(r.id);
        execs.push(rec.executor);
        if (i > 0) {
          // Placed on the warm holder: by a scheduler from its heartbeat (`warm`) or, between heartbeats,
          // as the function's home; or by the gateway itself onto the idle warm instance it knows of (`direct`).
          expect(rec.startKind).toBe('warm');
          expect(['warm', 'home', 'direct']).toContain(rec.placement);
        }
      }
      expect(new Set(execs).size).toBe(1);
    });

    it('spread: distinct functions go to their consistent-hash homes, across executors', async () => {
      const names = ['s1', 's2', 's3', 's4', 's5', 's6'];
      for (const n of names) await deploy(n);
      const results = await Promise.all(names.map((n) => invoke(n, { ms: 500 })));
      const recs = await Promise.all(results.map((r) => record(r.id)));
      for (const [i, rec] of recs.entries()) {
        expect(['home', 'home-step']).toContain(rec.placement);
        if (rec.placement === 'home') expect(rec.executor).toBe(homeOf(names[i] as string, ids));
      }
      expect(new Set(recs.map((r) => r.executor)).size).toBeGreaterThanOrEqual(2);
    });

    it('answers 429 with Retry-After at the concurrency limit; an async call waits and then runs', async () => {
      await deploy('one', { maxConcurrency: 1 });
      const mark = `${sharedTempDir('mark')}/started`;
      const first = invoke('one', { ms: 2000, mark });
      await waitFor(() => fs.existsSync(mark), 10_000);
      const refused = await invoke('one', {});
      expect(refused.status).toBe(429);
      expect(refused.json.error.code).toBe('CONCURRENCY_LIMIT');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const queued = await a.req('POST', '/v1/functions/one/invoke?async=true', {});
      expect(queued.status).toBe(202);
      expect((await first).status).toBe(200);
      expect(await record(queued.json.activationId)).toMatchObject({ status: 'success' });
    });

    it('retries a failing async invocation, counts the attempts, lists the dead letter and redrives it', async () => {
      const failing = `export const handler = async () => { throw new Error('broken on purpose'); };`;
      await deploy('bad', { retries: 1 }, failing);
      const r = await a.req('POST', '/v1/functions/bad/invoke?async=true', { order: 42 });
      expect(r.status).toBe(202);
      const id = r.json.activationId as string;
      const act = await record(id);
      expect(act).toMatchObject({ status: 'error', attempts: 2, error: { errorMessage: 'broken on purpose' } });
      expect(ids).toContain(act.executor);
      let letter: any;
      await waitFor(async () => {
        const list = await a.req('GET', '/v1/dead-letters');
        letter = list.json.deadLetters.find((d: { activationId: string }) => d.activationId === id);
        return letter !== undefined;
      }, 10_000, 100);
      expect(letter).toMatchObject({ function: 'bad', attempts: 2, reason: 'RETRIES_EXHAUSTED', lastError: { errorMessage: 'broken on purpose' } });
      expect(JSON.parse(letter.payload)).toEqual({ order: 42 });
      // Fix the function, redrive: a new activation with the same event, and the letter is gone.
      await deploy('bad', { retries: 1 }, 'export const handler = async (e) => ({ fixed: e.order });');
      const redrive = await a.req('POST', `/v1/dead-letters/${id}/redrive`);
      expect(redrive.status).toBe(202);
      expect(await record(redrive.json.activationId)).toMatchObject({ status: 'success', result: { fixed: 42 }, attempts: 1, trigger: 'redrive' });
      expect((await a.req('GET', `/v1/dead-letters/${id}`)).status).toBe(404);
    });

    it('two schedulers under load: every invocation runs exactly once (side effects counted)', async () => {
      await spawn('scheduler', { BRISK_PLACEMENT: 'spread' });
      // Nothing outside a scheduler shows what it has heard; the executors beat every HEARTBEAT_MS.
      await delay(NEW_SCHEDULER_HEARS_MS);
      const dir = sharedTempDir('effects');
      const file = sharedFile(dir, 'effects.log');
      const code = `import fs from 'node:fs';
        export const handler = async (e, ctx) => { fs.appendFileSync(${JSON.stringify(file)}, ctx.activationId + '\\n'); await new Promise((r) => setTimeout(r, 20)); return { n: e.n }; };`;
      await deploy('effect', { memoryMb: 64 }, code);
      const asyncIds = await Promise.all(
        Array.from({ length: 60 }, async (_, n) => (await a.req('POST', '/v1/functions/effect/invoke?async=true', { n })).json.activationId as string),
      );
      const sync = await Promise.all(Array.from({ length: 30 }, (_, n) => invoke('effect', { n })));
      for (const [n, r] of sync.entries()) expect(r.json, JSON.stringify(r.json)).toEqual({ n });
      const recs = await Promise.all(asyncIds.map((id) => record(id)));
      expect(recs.every((r) => r.status === 'success' && r.attempts === 1)).toBe(true);
      const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
      const all = [...asyncIds, ...sync.map((r) => r.id)];
      expect(lines).toHaveLength(all.length);
      expect(new Set(lines)).toEqual(new Set(all));
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
});

function homeOf(fn: string, executorIds: string[]): string {
  return new ConsistentHashRing(executorIds).lookup(placementKey('default', fn)) as string;
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
