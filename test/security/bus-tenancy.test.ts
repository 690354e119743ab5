import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { connect, type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBus } from '../../bus/amqp-bus.js';
import { Topology } from '../../bus/topology.js';
import { DEAD_LETTER_HEADERS } from '../../bus/types.js';
import type { Dispatch, FunctionVersion, InvocationRequest } from '../../core/types.js';
import { RedisStore } from '../../storage/redis-store.js';
import { api, waitForActivation, type Api } from '../e2e/scenarios.js';
import { waitForValue } from '../helpers/wait.js';
import type { Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster, type DistributedServices } from '../helpers/distributed-env.js';

/**
 * Security probe finding F1 (table row A35), end to end in distributed mode on
 * the real RabbitMQ: an ordinary namespace key must not reach the platform's
 * queues, namespaces must not share user queues, and a message forged on the
 * broker (unsigned, or signed but describing another function) must never run.
 */

const available = await distributedServicesAvailable();
const PREFIX = 'brisk';
const topology = new Topology(PREFIX);
const SECRET = 'B-ENV-SECRET-VALUE';

/** ns-a's hostile code: writes to the state of whatever namespace it runs as, and hands back any secret it was given. */
const SPY = `export const handler = async (event, context) => {
  await context.state.set('pwned', { by: 'ns-a', event });
  return { secret: process.env.MYSECRET ?? null };
};`;
/** ns-b's: reads its own state. */
const READER = `export const handler = async (_e, context) => ({ pwned: (await context.state.get('pwned')) ?? null });`;
const ECHO = `export const handler = async (event) => ({ event });`;

const until = <T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> => waitForValue(probe, timeoutMs, what, 100);

describe.skipIf(!available)('F1: tenants cannot reach the platform bus (distributed)', () => {
  let cluster: Cluster & { services: DistributedServices };
  let amqp: ChannelModel;
  let ch: ConfirmChannel;
  let store: RedisStore;
  let a: Api;
  let b: Api;
  let spy: FunctionVersion;
  /** ns-b's function with a secret; never invoked, so no warm instance of it hides a forged load. */
  let vault: FunctionVersion;
  let executorQueue: string;
  /** Dead letters read off `<prefix>.dead` so far (the queue is shared by every case). */
  const deadSeen: GetMessage[] = [];

  beforeAll(async () => {
    cluster = await startDistributedCluster('sec-bus', {
      gateways: 1,
      schedulers: 1,
      executors: 1,
      env: { BRISK_SECRET_KEY: 'sec-bus-secret-key-0123456789', BRISK_BUS_PREFIX: PREFIX },
    });
    const admin = api(() => cluster.url);
    for (const ns of ['ns-a', 'ns-b']) expect((await admin.req('PUT', `/v1/namespaces/${ns}`, {})).status).toBe(201);
    a = api(() => cluster.url, (await admin.req('POST', '/v1/namespaces/ns-a/keys', {})).json.key);
    b = api(() => cluster.url, (await admin.req('POST', '/v1/namespaces/ns-b/keys', {})).json.key);
    expect((await a.req('PUT', '/v1/functions/spy', { code: SPY })).status).toBe(201);
    expect((await b.req('PUT', '/v1/functions/vault', { code: ECHO, secrets: { MYSECRET: SECRET } })).status).toBe(201);
    expect((await b.req('PUT', '/v1/functions/victim', { code: ECHO })).status).toBe(201);
    expect((await b.req('PUT', '/v1/functions/reader', { code: READER })).status).toBe(201);
    store = new RedisStore({ url: cluster.services.redis.url, prefix: 'brisk:', activationTtlS: 3600 });
    await store.waitUntilReady();
    // What an attacker learns by stealing one request (the probe did): the version, secrets digest included.
    spy = (await store.getFunctionVersion('ns-a', 'spy', 1)) as FunctionVersion;
    vault = (await store.getFunctionVersion('ns-b', 'vault', 1)) as FunctionVersion;
    expect(vault.secretsDigest).toMatch(/./);
    const executors = await until(async () => {
      const list = (await admin.req('GET', '/v1/executors')).json.executors as { executorId: string }[];
      return list.length > 0 ? list : undefined;
    }, 10_000, 'an executor');
    executorQueue = topology.executorQueue(executors[0]!.executorId);
    amqp = await connect(cluster.services.rabbit.url);
    ch = await amqp.createConfirmChannel();
  });
  afterAll(async () => {
    await amqp?.close().catch(() => undefined);
    await store?.close();
    await cluster?.stop();
  });

  /** An InvocationRequest for ns-b's vault that runs ns-a's code with ns-b's identity and secrets: the probe's forge.mjs. */
  function forgedRequest(over: Partial<InvocationRequest> = {}): InvocationRequest {
    return {
      activationId: randomBytes(16).toString('hex'),
      fn: { ...spy, namespace: 'ns-b', name: 'vault', secretsDigest: vault.secretsDigest as string, secretNames: ['MYSECRET'] },
      mode: 'async',
      payload: '{"forged":true}',
      deadline: Date.now() + 60_000,
      attempt: 1,
      queuedAt: new Date().toISOString(),
      ...over,
    };
  }

  /** ns-b's state, read by ns-b's own function through the whole platform (it also proves the pipeline is idle behind earlier work). */
  async function nsBState(): Promise<unknown> {
    const r = await b.req('POST', '/v1/functions/reader/invoke', {});
    expect(r.status, r.text).toBe(200);
    return r.json.pwned;
  }

  async function nsBActivationIds(): Promise<string[]> {
    const r = await b.req('GET', '/v1/activations?limit=1000');
    expect(r.status).toBe(200);
    return (r.json.activations as { activationId: string }[]).map((x) => x.activationId);
  }

  /** The dead letter on `<prefix>.dead` whose body names `activationId`. */
  async function deadLetterOf(activationId: string): Promise<GetMessage> {
    return until(async () => {
      for (;;) {
        const m = await ch.get(topology.deadLetterQueue, { noAck: true });
        if (m === false) break;
        deadSeen.push(m);
      }
      return deadSeen.find((m) => m.content.toString().includes(activationId));
    }, 20_000, `a dead letter for ${activationId}`);
  }

  it('(a) refuses a forged InvocationRequest sent through POST /v1/queues/<prefix>.invoke/messages; nothing runs in ns-b', async () => {
    const forged = forgedRequest({ replyTo: 'aexfil' });
    for (const queue of [topology.invokeQueue, executorQueue, topology.deadLetterQueue, 'amq.default']) {
      const r = await a.req('POST', `/v1/queues/${queue}/messages`, forged);
      expect(r.status, `${queue}: ${r.text}`).toBe(400);
      expect(r.json.error.code).toBe('INVALID_QUEUE');
      expect((await a.req('GET', `/v1/queues/${queue}`)).status).toBe(400);
    }
    expect(await nsBState()).toBeNull();
    expect(await nsBActivationIds()).not.toContain(forged.activationId);
  });

  it('(b) refuses queue triggers on platform and broker queues; ns-b’s async invocations all run', async () => {
    for (const queue of [topology.invokeQueue, `${PREFIX}.exec.x`, topology.deadLetterQueue, 'amq.x']) {
      const r = await a.req('PUT', '/v1/triggers/steal', { type: 'queue', function: 'spy', queue });
      expect(r.status, `${queue}: ${r.text}`).toBe(400);
      expect(['INVALID_QUEUE', 'INVALID_TRIGGER']).toContain(r.json.error.code);
    }
    expect((await a.req('GET', '/v1/triggers')).json.triggers).toEqual([]);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await b.req('POST', '/v1/functions/victim/invoke?async=true', { private: `B-PRIVATE-EVENT-${i}` });
      expect(r.status).toBe(202);
      ids.push(r.json.activationId);
    }
    for (const id of ids) expect(await waitForActivation(b, id, 30_000)).toMatchObject({ status: 'success', function: 'victim' });
    expect((await a.req('GET', '/v1/activations?limit=1000')).json.activations).toEqual([]);
  });

  it('(c) ns-a and ns-b each get only their own messages on a queue both call "jobs"', async () => {
    for (const [who, key] of [['ns-a', a], ['ns-b', b]] as const) {
      expect((await key.req('PUT', '/v1/functions/worker', { code: ECHO })).status).toBe(201);
      expect((await key.req('PUT', '/v1/triggers/jobs', { type: 'queue', function: 'worker', queue: 'jobs', batchWindowMs: 0 })).status, who).toBe(201);
    }
    for (let i = 0; i < 6; i++) {
      expect((await a.req('POST', '/v1/queues/jobs/messages', { from: 'ns-a', i })).status).toBe(202);
      expect((await b.req('POST', '/v1/queues/jobs/messages', { from: 'ns-b', i })).status).toBe(202);
    }
    for (const [who, key] of [['ns-a', a], ['ns-b', b]] as const) {
      const done = await until(async () => {
        const list = (await key.req('GET', '/v1/activations?function=worker&limit=100')).json.activations as { status: string; result?: { event: { messages: { body: { from: string } }[] } } }[];
        const ok = list.filter((x) => x.status === 'success');
        return ok.length >= 6 ? ok : undefined;
      }, 30_000, `${who}'s six queue activations`);
      expect(done.map((x) => x.result?.event.messages[0]?.body.from)).toEqual(Array(6).fill(who));
      // Where a producer outside Brisk publishes to this namespace's "jobs".
      expect((await key.req('GET', '/v1/queues/jobs')).json).toEqual({ queue: 'jobs', brokerQueue: `${PREFIX}.userq.${who}.jobs`, messages: 0, deadLetters: 0 });
    }
  });

  it('(d) a message forged on the broker without the bus key is dead-lettered, never run', async () => {
    // An attacker with broker access (a user's producer) publishes straight to the platform's queues.
    const viaInvoke = forgedRequest();
    const dispatch: Dispatch = { request: forgedRequest(), placement: 'home', scheduler: `${PREFIX}.sched.forged` };
    ch.sendToQueue(topology.invokeQueue, Buffer.from(JSON.stringify(viaInvoke)), { persistent: true, contentType: 'application/json' });
    ch.sendToQueue(executorQueue, Buffer.from(JSON.stringify(dispatch)), { persistent: true, contentType: 'application/json' });
    await ch.waitForConfirms();
    for (const [id, queue] of [[viaInvoke.activationId, topology.invokeQueue], [dispatch.request.activationId, executorQueue]] as const) {
      const dead = await deadLetterOf(id);
      expect(dead.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('unauthenticated');
      expect(dead.properties.headers?.[DEAD_LETTER_HEADERS.originalQueue]).toBe(queue);
    }
    expect(await nsBState()).toBeNull();
    const seen = await nsBActivationIds();
    expect(seen).not.toContain(viaInvoke.activationId);
    expect(seen).not.toContain(dispatch.request.activationId);
  });

  it('(e) a validly signed dispatch that swaps in another function’s code or secrets digest is refused, not run', async () => {
    // A holder of the bus key that lies (a compromised or buggy component): the executor still checks the store.
    const liar = new AmqpBus({ url: cluster.services.rabbit.url, prefix: PREFIX, signingKey: cluster.services.env['BRISK_BUS_KEY'] as string });
    await liar.waitUntilReady();
    const replies = `${PREFIX}.reply.liar`;
    await liar.assertQueue(replies, { durable: false });
    const answers: unknown[] = [];
    await liar.consume(replies, async (body) => void answers.push(body), { prefetch: 10, autoAck: true });
    try {
      // ns-b's vault with ns-a's code; and ns-a's own spy carrying ns-b's secrets digest.
      const codeSwap = forgedRequest({ mode: 'sync', replyTo: replies });
      const digestSwap = forgedRequest({ mode: 'sync', replyTo: replies, fn: { ...spy, secretsDigest: vault.secretsDigest as string, secretNames: ['MYSECRET'] } });
      for (const [req, field] of [[codeSwap, 'codeHash'], [digestSwap, 'secretsDigest']] as const) {
        await liar.send(executorQueue, { request: req, placement: 'home', scheduler: `${PREFIX}.sched.liar` } satisfies Dispatch);
        const dead = await deadLetterOf(req.activationId);
        expect(dead.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('rejected');
        expect(String(dead.properties.headers?.[DEAD_LETTER_HEADERS.error])).toContain(field);
      }
      expect(JSON.stringify(answers)).not.toContain(SECRET);
      expect(answers).toEqual([]);
      expect(await nsBState()).toBeNull();
      expect(await nsBActivationIds()).not.toContain(codeSwap.activationId);
      // The genuine spy still runs, as itself: no secret, its own state.
      const own = await a.req('POST', '/v1/functions/spy/invoke', {});
      expect(own.json).toEqual({ secret: null });
    } finally {
      await liar.close();
    }
  });

  it('every distributed role refuses to start without a BRISK_BUS_KEY, or with a short one', async () => {
    /** Start a role and let it fail: its exit code and what it printed. */
    const start = (role: string, busKey: string | undefined): Promise<{ code: number | null; stderr: string }> => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...cluster.services.env, BRISK_ADMIN_KEY: 'k', BRISK_PORT: '0' };
      if (busKey === undefined) delete env['BRISK_BUS_KEY'];
      else env['BRISK_BUS_KEY'] = busKey;
      return new Promise((resolve) => {
        const child = execFile(process.execPath, [path.resolve('bin/brisk.js'), role], { env, timeout: 20_000 }, (_err, _out, stderr) =>
          resolve({ code: child.exitCode, stderr }),
        );
      });
    };
    for (const role of ['gateway', 'scheduler', 'executor']) {
      const missing = await start(role, undefined);
      expect(missing.code, role).toBe(1);
      expect(missing.stderr).toContain(`BRISK_BUS_KEY is required for a ${role} in distributed mode`);
      const short = await start(role, 'too-short');
      expect(short.code, role).toBe(2);
      expect(short.stderr).toContain('BRISK_BUS_KEY: must be at least 32 characters');
    }
  });
});
