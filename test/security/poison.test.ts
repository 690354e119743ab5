import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, type BriskProcess } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { waitFor } from '../helpers/services.js';
import { waitForValue } from '../helpers/wait.js';
import { api, waitForActivation } from '../e2e/scenarios.js';

/**
 * Security probe F3 (row C8): one async invocation of a function that takes
 * its executor down was re-queued by the scheduler's recovery after every
 * crash, with no cap: it crash-looped every executor (30 crashes in 5
 * minutes), never reached a final state, and innocent runs beside it ran
 * twice. Now the second executor lost with it makes it a dead letter
 * (EXECUTOR_LOST) with a final record.
 *
 * Distributed mode, real RabbitMQ, three process-backend executors. The
 * function kills its executor with SIGKILL: with the process backend an
 * instance is a child process of its executor, running as the same user
 * (`BRISK_PROCESS_UID_RANGE=off`: as root, instances would otherwise run as
 * uids of their own and could not signal it). The poison's way in does not
 * matter here, only what the platform does with a run that takes down
 * whatever runs it. It waits for a gate file first, so that the
 * innocent invocations sent beside it have all finished before the first
 * executor dies (a run interrupted by a crash is re-run by design:
 * at-least-once); the gate then stays open, and every later run of the
 * poison kills its executor at once.
 */

const available = await distributedServicesAvailable();

describe.skipIf(!available)('a poison async invocation in distributed mode (3 process executors, RabbitMQ)', () => {
  const dir = tempDir('sec-poison');
  const gate = path.join(dir, 'gate');
  const runs = path.join(dir, 'runs.log');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  /** The gateway's view: executors it still hears as healthy. */
  const healthyExecutors = async (): Promise<number> =>
    ((await a.req('GET', '/v1/executors')).json.executors as { state: string }[]).filter((e) => e.state === 'healthy').length;

  let cluster: Awaited<ReturnType<typeof startDistributedCluster>>;
  beforeAll(async () => {
    cluster = await startDistributedCluster('sec-poison', { executors: 3, env: { BRISK_HEARTBEAT_MS: '300', BRISK_PROCESS_UID_RANGE: 'off' } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  const a = api(() => cluster.url);

  const POISON = `
    import fs from 'node:fs';
    /** The executor running this instance: the nearest ancestor that is a brisk executor. */
    function executorPid() {
      let pid = process.ppid;
      for (let i = 0; i < 5 && pid > 1; i++) {
        if (fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0').includes('executor')) return pid;
        pid = Number(fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[1]);
      }
      return process.ppid;
    }
    export const handler = async () => {
      while (!fs.existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));
      const victim = executorPid();
      fs.appendFileSync(${JSON.stringify(runs)}, 'kill ' + victim + '\\n');
      process.kill(victim, 'SIGKILL');
      await new Promise(() => {});
    };`;
  const INNOCENT = `
    import fs from 'node:fs';
    export const handler = async (e, ctx) => {
      fs.appendFileSync(${JSON.stringify(runs)}, 'run ' + ctx.activationId + '\\n');
      return { n: e.n };
    };`;

  const lines = (): string[] => (fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8').trim().split('\n').filter(Boolean) : []);
  const runsOf = (id: string): number => lines().filter((l) => l === `run ${id}`).length;
  const kills = (): number => lines().filter((l) => l.startsWith('kill ')).length;
  const executors = (): BriskProcess[] => cluster.processes.filter((p) => p.role === 'executor');
  const dead = (): BriskProcess[] => executors().filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  async function invokeAsync(fn: string, event: unknown): Promise<string> {
    const r = await a.req('POST', `/v1/functions/${fn}/invoke?async=true`, event);
    expect(r.status, r.text).toBe(202);
    return r.json.activationId as string;
  }

  it('is dead-lettered (EXECUTOR_LOST) after two executor losses; the innocent invocations beside it run exactly once; nothing stays queued', async () => {
    expect((await a.req('PUT', '/v1/functions/poison', { code: POISON, retries: 2, memoryMb: 128 })).status).toBe(201);
    expect((await a.req('PUT', '/v1/functions/innocent', { code: INNOCENT, memoryMb: 128 })).status).toBe(201);

    const poison = await invokeAsync('poison', {});
    const innocents: string[] = [];
    for (let n = 0; n < 20; n++) innocents.push(await invokeAsync('innocent', { n }));
    for (const id of innocents) expect(await waitForActivation(a, id, 30_000)).toMatchObject({ status: 'success' });

    fs.writeFileSync(gate, 'open');
    const letter = await waitForActivation(a, poison, 60_000);
    expect(letter).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
    // The executor writes the final record, then buries the dead letter: wait for the second write.
    const dl = await waitForValue(async () => {
      const r = await a.req('GET', `/v1/dead-letters/${poison}`);
      return r.status === 404 ? undefined : r;
    }, 10_000, 'the dead letter', 50);
    expect(dl.status, dl.text).toBe(200);
    expect(dl.json).toMatchObject({ activationId: poison, function: 'poison', reason: 'EXECUTOR_LOST', status: 'platform_error' });

    // Exactly two executors were taken down; the third is alive and serves.
    expect(kills()).toBe(2);
    await waitFor(() => dead().length === 2, 10_000);
    const survivors = executors().filter((p) => !dead().includes(p));
    expect(survivors).toHaveLength(1);
    const after: string[] = [];
    for (let n = 0; n < 10; n++) after.push(await invokeAsync('innocent', { n: 100 + n }));
    for (const id of after) expect(await waitForActivation(a, id, 30_000)).toMatchObject({ status: 'success' });

    // Each innocent invocation ran once, none was lost, and no record is left queued.
    for (const id of [...innocents, ...after]) expect(runsOf(id), id).toBe(1);
    for (const fn of ['poison', 'innocent']) {
      const list = await a.req('GET', `/v1/activations?function=${fn}&limit=1000`);
      const open = (list.json.activations as { activationId: string; status: string }[]).filter((x) => x.status === 'queued' || x.status === 'running');
      expect(open, fn).toEqual([]);
    }
    // The poison is never run again: no executor dies after the dead letter.
    expect(kills()).toBe(2);
    expect(survivors[0]!.child.exitCode).toBeNull();
  });

  it('a sync invocation that takes its executor down gets 502 EXECUTOR_LOST and is not run again', async () => {
    // One executor is left from the test above; start a spare, so one survives this one.
    await cluster.spawnExecutor();
    await waitFor(async () => (await healthyExecutors()) === 2, 10_000);
    const before = kills();
    const r = await a.req('POST', '/v1/functions/poison/invoke', {});
    expect(r.status, r.text).toBe(502);
    expect(r.headers.get('x-brisk-fault')).toBe('platform');
    expect(r.json.error.code).toBe('EXECUTOR_LOST');
    const rec = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
    expect(rec).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
    // One executor down for it, and none after it is known gone (a re-run would take the survivor down too).
    await waitFor(() => dead().length === 3, 10_000);
    await waitFor(async () => (await healthyExecutors()) === 1, 10_000);
    const ok = await a.req('POST', '/v1/functions/innocent/invoke', { n: 7 });
    expect(ok.status, ok.text).toBe(200);
    expect(kills()).toBe(before + 1);
    expect(dead()).toHaveLength(3);
  });
});
