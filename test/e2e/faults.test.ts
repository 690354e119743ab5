import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRole, stopProcess, sharedFile, sharedTempDir, waitForExecutors, type BriskProcess } from '../helpers/cluster.js';
import {
  freePort,
  privateRabbitAvailable,
  redisAvailable,
  requireService,
  s3Available,
  startPrivateRabbit,
  startRedis,
  startS3,
  uniqueId,
  waitFor,
  type PrivateRabbitHandle,
  type RedisHandle,
  type S3Handle,
} from '../helpers/services.js';
import { api, waitForActivation } from './scenarios.js';

/**
 * Faults against real services, with real gateway/scheduler/executor processes:
 * start-up without a service, kill -9 of an executor mid-run (async and sync),
 * malformed messages, a RabbitMQ restart and a Redis restart under steady
 * traffic, and a clean SIGTERM at the end.
 *
 * The broker here is a private RabbitMQ node (own port and data), so
 * restarting it disturbs no other test; Redis runs with an fsynced append-only
 * file so a restart keeps the functions and activation records.
 */

const available =
  requireService('rabbitmq-server', await privateRabbitAvailable()) &&
  requireService('redis-server', await redisAvailable()) &&
  requireService('s3rver', await s3Available());

const HEARTBEAT_MS = 300;
/**
 * Pace of the steady traffic (one async and one sync call per step): about 20
 * calls a second, a load the cluster serves comfortably, so an outage, not the
 * load, is what the restart cases measure.
 */
const TRAFFIC_STEP_MS = 50;
const ADMIN_KEY = 'e2e-faults-admin-key';
const PREFIX = 'brisk';

describe.skipIf(!available)('faults on real services', () => {
  let broker: PrivateRabbitHandle;
  let redis: RedisHandle;
  let s3: S3Handle;
  let env: Record<string, string>;
  let gateway: BriskProcess & { port?: number };
  let scheduler: BriskProcess;
  const executors = new Map<string, BriskProcess>();
  const dir = sharedTempDir('faults');
  const effects = sharedFile(dir, 'effects.log');
  /** Instance processes orphaned by a kill -9 of their executor; killed at the end. */
  const orphans: number[] = [];
  const a = api(() => `http://127.0.0.1:${gateway.port}`, ADMIN_KEY);

  /**
   * Logs `<tag> start <executor pid> <instance pid>` (an instance's parent is
   * its executor, with the process backend), holds `e.ms`, logs `<tag> done`.
   */
  const SLOW = `import fs from 'node:fs';
    export const handler = async (e, ctx) => {
      const tag = e.tag ?? ctx.activationId;
      fs.appendFileSync(${JSON.stringify(effects)}, tag + ' start ' + process.ppid + ' ' + process.pid + '\\n');
      await new Promise((r) => setTimeout(r, e.ms ?? 0));
      fs.appendFileSync(${JSON.stringify(effects)}, tag + ' done ' + process.ppid + '\\n');
      return { tag };
    };`;

  const spawnExecutor = async (id: string): Promise<BriskProcess> => {
    const p = await spawnRole('executor', { ...env, BRISK_EXECUTOR_ID: id });
    executors.set(id, p);
    return p;
  };
  const effectLines = (): string[] => (fs.existsSync(effects) ? fs.readFileSync(effects, 'utf8').trim().split('\n') : []);
  /** The executor process running `tag` (from the function's own start line). */
  const runnerOf = async (tag: string): Promise<{ id: string; proc: BriskProcess; instancePid: number }> => {
    let line: string | undefined;
    await waitFor(
      () => {
        line = effectLines().find((l) => l.startsWith(`${tag} start `));
        return line !== undefined;
      },
      20_000,
      20,
    );
    const [, , ppid, pid] = (line as string).split(' ');
    for (const [id, proc] of executors) if (proc.child.pid === Number(ppid)) return { id, proc, instancePid: Number(pid) };
    throw new Error(`no executor with pid ${ppid}`);
  };
  const kill9 = async (id: string): Promise<void> => {
    const p = executors.get(id) as BriskProcess;
    p.child.kill('SIGKILL');
    await p.exited;
    executors.delete(id);
  };

  beforeAll(async () => {
    [broker, redis, s3] = await Promise.all([startPrivateRabbit(), startRedis({ persistent: true }), startS3()]);
    env = {
      BRISK_RABBITMQ_URL: broker.url,
      BRISK_REDIS_URL: redis.url,
      BRISK_S3_ENDPOINT: s3.endpoint,
      BRISK_S3_ACCESS_KEY: s3.accessKey,
      BRISK_S3_SECRET_KEY: s3.secretKey,
      BRISK_S3_BUCKET: `brisk-${uniqueId()}`,
      BRISK_S3_REGION: s3.region,
      BRISK_BUS_PREFIX: PREFIX,
      BRISK_ADMIN_KEY: ADMIN_KEY,
      BRISK_EXECUTOR_BACKEND: 'process',
      BRISK_POOL_SIZE: '0',
      BRISK_POOL_MAX: '0',
      BRISK_HEARTBEAT_MS: String(HEARTBEAT_MS),
      BRISK_EXECUTOR_MEMORY_MB: '512',
    };
    scheduler = await spawnRole('scheduler', env);
    await Promise.all([spawnExecutor('ex-f1'), spawnExecutor('ex-f2')]);
    gateway = await spawnRole('gateway', { ...env, BRISK_PORT: '0' });
    await waitForExecutors(a.url, ADMIN_KEY, ['ex-f1', 'ex-f2']); // the scheduler hears both executors
    const d = await a.req('PUT', '/v1/functions/slow', { code: SLOW, memoryMb: 128 });
    expect(d.status, d.text).toBe(201);
  });

  afterAll(async () => {
    const all = [gateway, scheduler, ...executors.values()].filter((p): p is BriskProcess => p !== undefined);
    await Promise.all(all.map((p) => stopProcess(p)));
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await Promise.allSettled([broker?.stop(), redis?.stop(), s3?.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a process exits non-zero with a clear message when a service is unreachable at start', async () => {
    const deadPort = await freePort();
    const noRabbit = spawnRole('executor', { ...env, BRISK_RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${deadPort}` }, 20_000);
    await expect(noRabbit).rejects.toThrow(/exited with 1 before ready[\s\S]*cannot start executor[\s\S]*rabbitmq/);
    const noRedis = spawnRole('scheduler', { ...env, BRISK_REDIS_URL: `redis://127.0.0.1:${deadPort}` }, 20_000);
    await expect(noRedis).rejects.toThrow(/exited with 1 before ready[\s\S]*cannot start scheduler[\s\S]*redis/i);
  });

  it('a malformed message on the invoke queue or an executor queue is dead-lettered and the consumers keep working', async () => {
    const conn = await connect(broker.url);
    try {
      const ch = await conn.createConfirmChannel();
      for (const q of [`${PREFIX}.invoke`, `${PREFIX}.exec.ex-f1`, `${PREFIX}.exec.ex-f2`]) {
        ch.sendToQueue(q, Buffer.from('{ this is not json'), { persistent: true });
        ch.sendToQueue(q, Buffer.from(JSON.stringify({ activationId: 42 })), { persistent: true });
      }
      await ch.waitForConfirms();
      await waitFor(async () => (await ch.checkQueue(`${PREFIX}.dead`)).messageCount >= 6, 10_000, 50);
      await ch.close();
    } finally {
      await conn.close();
    }
    for (let i = 0; i < 4; i++) {
      const r = await a.req('POST', '/v1/functions/slow/invoke', { tag: `after-malformed-${i}` });
      expect(r.status, r.text).toBe(200);
    }
  });

  it('kill -9 of an executor running an async invocation: it completes on the other executor, one final record', async () => {
    const r = await a.req('POST', '/v1/functions/slow/invoke?async=true', { ms: 3000 });
    expect(r.status).toBe(202);
    const id = r.json.activationId as string;
    const victim = await runnerOf(id);
    orphans.push(victim.instancePid);
    await kill9(victim.id);
    const survivor = [...executors.keys()][0] as string;
    const act = await waitForActivation(a, id, 30_000);
    expect(act).toMatchObject({ status: 'success', executor: survivor, result: { tag: id } });
    // Exactly one final record: it is listed once and does not change afterwards.
    const listed = (await a.req('GET', '/v1/activations?function=slow&limit=1000')).json.activations.filter(
      (x: { activationId: string }) => x.activationId === id,
    );
    expect(listed).toHaveLength(1);
    await waitFor(() => effectLines().filter((l) => l.startsWith(`${id} done`)).length >= 1, 10_000);
    expect((await a.req('GET', `/v1/activations/${id}`)).json).toEqual(act);
    await spawnExecutor('ex-f3');
  });

  it('kill -9 of an executor running a sync invocation: the caller gets EXECUTOR_LOST quickly, not its timeout', async () => {
    await waitForExecutors(a.url, ADMIN_KEY, ['ex-f3']); // ex-f3 is known
    const tag = `sync-${uniqueId()}`;
    const t0 = Date.now();
    const call = a.req('POST', '/v1/functions/slow/invoke', { ms: 20_000, tag });
    const victim = await runnerOf(tag);
    orphans.push(victim.instancePid);
    await kill9(victim.id);
    const r = await call;
    expect(r.status).toBe(502);
    expect(r.headers.get('x-brisk-fault')).toBe('platform');
    expect(r.json.error.code).toBe('EXECUTOR_LOST');
    expect(Date.now() - t0).toBeLessThan(15_000); // the function would have held 20 s
    await spawnExecutor('ex-f4');
    await waitForExecutors(a.url, ADMIN_KEY, ['ex-f4']);
  });

  /** Async invocations every 50 ms and sync ones alongside, until stopped; records what was accepted. */
  const steadyTraffic = () => {
    const accepted: string[] = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const r = await a.req('POST', '/v1/functions/slow/invoke?async=true', { tag: `t${i}` }).catch(() => undefined);
        if (r?.status === 202) accepted.push(r.json.activationId as string);
        void a.req('POST', '/v1/functions/slow/invoke', {}).catch(() => undefined);
        await delay(TRAFFIC_STEP_MS);
      }
    })();
    return {
      accepted,
      stop: async () => {
        running = false;
        await loop;
      },
    };
  };
  /**
   * New sync invocations succeed again. Each probe is bounded: a sync call that
   * was on its way at the instant of the outage may be lost with it (its caller
   * then waits for its own deadline); what must hold is that later ones work.
   */
  const recovered = (): Promise<void> =>
    waitFor(async () => {
      const r = await fetch(`${a.url}/v1/functions/slow/invoke`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined);
      return r?.status === 200;
    }, 60_000, 200);

  it('restart RabbitMQ under steady traffic: every process recovers, async work accepted before is not lost', async () => {
    const traffic = steadyTraffic();
    await waitFor(() => traffic.accepted.length >= 10, 10_000);
    const before = traffic.accepted.length;
    await broker.restart();
    await recovered();
    await waitFor(() => traffic.accepted.length >= before + 10, 30_000); // accepting again
    await traffic.stop();
    for (const p of [gateway, scheduler, ...executors.values()]) expect(p.child.exitCode, p.role).toBeNull();
    const acts = await Promise.all(traffic.accepted.map((id) => waitForActivation(a, id, 60_000)));
    expect(acts.filter((x) => x.status !== 'success')).toEqual([]);
  });

  it('restart Redis under steady traffic: every process recovers, async work accepted before is not lost', async () => {
    const traffic = steadyTraffic();
    await waitFor(() => traffic.accepted.length >= 10, 10_000);
    const before = traffic.accepted.length;
    await redis.restart();
    await recovered();
    await waitFor(() => traffic.accepted.length >= before + 10, 30_000);
    await traffic.stop();
    for (const p of [gateway, scheduler, ...executors.values()]) expect(p.child.exitCode, p.role).toBeNull();
    const acts = await Promise.all(traffic.accepted.map((id) => waitForActivation(a, id, 60_000)));
    expect(acts.filter((x) => x.status !== 'success')).toEqual([]);
  });

  it('every process shuts down cleanly on SIGTERM', async () => {
    const all = [gateway, scheduler, ...executors.values()];
    const codes = await Promise.all(all.map((p) => stopProcess(p)));
    expect(codes).toEqual(all.map(() => 0));
  });
});
