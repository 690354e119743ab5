import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, useCluster } from '../helpers/cluster.js';
import { cleanupDocker, requireDocker } from '../helpers/docker.js';
import { waitFor } from '../helpers/services.js';
import { api, type Api } from '../e2e/scenarios.js';
import { createTenant, deploy, openFds } from './tenants.js';

/**
 * Finding F4 (row B16 of the probe): one container opened 20,000
 * connections to the executor's platform API socket and held them after its
 * call; the executor ran out of file descriptors, and another namespace's
 * functions using context.state failed with 500 FUNCTION_ERROR "platform API
 * unreachable" — a platform fault blamed on the victim.
 *
 * Here the executor gets 3,000 descriptors (prlimit), so the old code falls
 * over at a fraction of the probe's flood. The attacker holds silent
 * connections (as the probe did), then connections that showed its own
 * (stolen) token; the victim's state calls must keep working throughout,
 * the executor's descriptors must stay bounded, and whatever the attacker
 * still holds must go when its instance goes.
 */

const EXECUTOR_NOFILE = 3000;

/**
 * Opens connections to the platform socket until it holds `e.target`, and
 * keeps it there for `e.ms` (re-opening what the executor closes). With
 * `e.authenticated`, each connection first sends the headers of a call with
 * the instance's own token (taken from the runtime's client) and then stalls.
 * The connections stay open after it returns, held by the idle instance.
 */
const ATTACKER = `
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
export const handler = async (e, ctx) => {
  // What an earlier call still holds would leave this container (1,024 files) no room.
  for (const s of globalThis.held ?? []) s.destroy();
  let auth;
  if (e.authenticated) {
    const original = http.request;
    http.request = function (opts, cb) { auth = opts?.headers?.authorization ?? auth; return original.apply(this, arguments); };
    try { await ctx.state.get('anything'); } finally { http.request = original; }
  }
  const held = (globalThis.held ??= new Set());
  let opened = 0, failed = 0, maxHeld = 0;
  const openOne = () => new Promise((resolve) => {
    const s = net.connect(process.env.BRISK_PLATFORM_SOCKET);
    s.on('error', () => { failed++; resolve(false); });
    s.on('data', () => undefined);
    s.once('close', () => held.delete(s));
    s.once('connect', () => {
      opened++;
      held.add(s);
      maxHeld = Math.max(maxHeld, held.size);
      if (auth) s.write('PUT /state/x HTTP/1.1\\r\\nhost: p\\r\\nauthorization: ' + auth + '\\r\\ncontent-length: 1000\\r\\n\\r\\n');
      resolve(true);
    });
  });
  const end = Date.now() + e.ms;
  while (Date.now() < end) {
    const want = Math.min(200, e.target - held.size);
    const ok = want > 0 ? (await Promise.all(Array.from({ length: want }, openOne))).filter(Boolean).length : 0;
    if (ok === 0) await new Promise((r) => setTimeout(r, 20));
  }
  return { opened, failed, maxHeld, heldAtEnd: held.size, stoleToken: auth !== undefined, host: os.hostname() };
};`;

const VICTIM = `export const handler = async (_e, ctx) => ({ hits: await ctx.state.incr('hits') });`;

/**
 * The victim tenant calls every 250 ms while the flood runs: often enough to
 * see its service degrade within the flood's seconds, rarely enough that its
 * own calls are not a load of their own.
 */
const VICTIM_STEP_MS = 250;

const docker = new Dockerode();
const dockerOk = await requireDocker(docker);

describe.skipIf(!dockerOk)('platform socket flood from one container (docker backend)', () => {
  const suffix = randomBytes(4).toString('hex');
  const image = `brisk-runtime:ct-flood-${suffix}`;
  const executorId = `ct-flood-${suffix}`;
  afterAll(async () => {
    await cleanupDocker(docker, executorId, image);
  });
  const cluster = useCluster(() =>
    startStandalone({ BRISK_EXECUTOR_BACKEND: 'docker', BRISK_RUNTIME_IMAGE: image, BRISK_EXECUTOR_ID: executorId, BRISK_IDLE_TTL_MS: '6000' }),
  );
  const admin = api(() => cluster.url, TEST_ADMIN_KEY);

  type Reply = { status: number; json: any; text: string };

  /** Call the victim every ~250 ms while `attack` runs; return its answers and the executor's peak descriptors. */
  async function underAttack(victim: Api, attack: Promise<Reply>, pid: number): Promise<{ calls: number; failures: string[]; hits: number[]; peakFds: number; attack: Reply }> {
    let calls = 0;
    const failures: string[] = [];
    const hits: number[] = [];
    let peakFds = 0;
    let done = false;
    const result = attack.finally(() => {
      done = true;
    });
    while (!done) {
      peakFds = Math.max(peakFds, openFds(pid));
      const r = await victim.req('POST', '/v1/functions/counter/invoke', {});
      calls++;
      if (r.status === 200) hits.push(r.json.hits as number);
      else failures.push(`${r.status} ${r.headers.get('x-brisk-fault') ?? ''} ${r.text.slice(0, 300)}`);
      await delay(VICTIM_STEP_MS);
    }
    return { calls, failures, hits, peakFds, attack: await result };
  }

  it('other tenants\' context.state keeps working, executor descriptors stay bounded, and the held connections go with the instance', async () => {
    const pid = cluster.processes[0]?.child.pid as number;
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${EXECUTOR_NOFILE}:${EXECUTOR_NOFILE}`]);
    const attacker = await createTenant(admin, 'flooder');
    const victim = await createTenant(admin, 'bystander');
    await deploy(attacker, 'flood', ATTACKER, { timeoutMs: 60_000 });
    await deploy(victim, 'counter', VICTIM);
    expect((await victim.req('POST', '/v1/functions/counter/invoke', {})).json).toEqual({ hits: 1 });
    const baseline = openFds(pid);

    // 1. Silent connections, as many as the container can open (the probe held 20,000).
    const silent = await underAttack(victim, attacker.req('POST', '/v1/functions/flood/invoke', { target: 5000, ms: 6000 }), pid);
    expect(silent.attack.status, silent.attack.text).toBe(200);
    expect(silent.failures).toEqual([]);
    expect(silent.calls).toBeGreaterThan(5);
    // It did flood: thousands of connections opened over the call.
    expect(silent.attack.json.opened).toBeGreaterThan(1000);
    // 1,024 in all is the platform API's cap; the rest is the executor's own (RabbitMQ-less standalone: ~100).
    expect(silent.peakFds).toBeLessThan(baseline + 1024 + 200);

    // 2. Connections that showed the attacker's own token, then stalled.
    const authed = await underAttack(victim, attacker.req('POST', '/v1/functions/flood/invoke', { target: 500, ms: 4000, authenticated: true }), pid);
    expect(authed.attack.status, authed.attack.text).toBe(200);
    expect(authed.attack.json.stoleToken).toBe(true);
    expect(authed.failures).toEqual([]);
    expect(authed.peakFds).toBeLessThan(baseline + 1024 + 200);

    const hits = [...silent.hits, ...authed.hits];
    expect(hits).toEqual(hits.map((_, i) => i + 2));

    // 3. The attacker's instance idles out (BRISK_IDLE_TTL_MS): whatever it still held is closed with it.
    const host = authed.attack.json.host as string;
    const attackerContainer = async (): Promise<boolean> =>
      (await docker.listContainers({ all: true, filters: { label: [`brisk.executor=${executorId}`] } })).some((c) => c.Id.startsWith(host));
    expect(await attackerContainer()).toBe(true);
    await waitFor(async () => !(await attackerContainer()), 30_000, 200);
    await waitFor(() => openFds(pid) <= baseline + 30, 5000);
    const after = await victim.req('POST', '/v1/functions/counter/invoke', {});
    expect(after.status).toBe(200);
  });
});
