import { connect, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistributed, startStandalone, TEST_ADMIN_KEY, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedServices, type DistributedServices } from '../helpers/distributed-env.js';
import { uniqueId } from '../helpers/services.js';
import { quietWindow, waitForValue } from '../helpers/wait.js';
import { api, waitForActivation, type Api } from './scenarios.js';

/**
 * Every trigger type end to end, through the real binary: in one standalone
 * process, and across 2 gateways + 2 schedulers on RabbitMQ, Redis and S3.
 */

const ECHO = 'export const handler = async (event: unknown) => ({ event });';
const POISON = 'export const handler = async () => { throw new Error("poison message") };';

const until = <T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> => waitForValue(probe, timeoutMs, what, 100);
/**
 * How long the storage case watches for a duplicate activation after both
 * expected ones succeeded. Every gateway's listener tries each object event's
 * lease as soon as the event reaches it, a few ms apart; a duplicate (two
 * winners) would be queued by then. One second is many times that, and a
 * window too short could only let a bug slip by, never fail a correct run.
 */
const DUPLICATE_WINDOW_MS = 1000;
/** Ticks the schedule case waits for: enough to see consecutive ticks, few enough to keep it short. */
const SCHEDULE_TICKS = 4;

type Act = { activationId: string; status: string; trigger?: string; attempts: number; result?: { event: any } };

async function activations(a: Api, fn: string): Promise<Act[]> {
  const r = await a.req('GET', `/v1/activations?function=${fn}&limit=1000`);
  expect(r.status, r.text).toBe(200);
  return r.json.activations as Act[];
}

async function deploy(a: Api, name: string, code: string, settings: Record<string, unknown> = {}): Promise<void> {
  const r = await a.req('PUT', `/v1/functions/${name}`, { code, ...settings });
  expect([200, 201], r.text).toContain(r.status);
}

async function putTrigger(a: Api, name: string, body: Record<string, unknown>): Promise<void> {
  const r = await a.req('PUT', `/v1/triggers/${name}`, body);
  expect(r.status, r.text).toBe(201);
}

/** Scenarios both modes must pass. `second` is another gateway where there is one. */
function sharedScenarios(getA: () => Api, getB: () => Api): void {
  it('http: method + path pattern → function, with path parameters, named in the record', async () => {
    const a = getA();
    await deploy(a, 'users', ECHO);
    await putTrigger(a, 'get-user', { type: 'http', function: 'users', method: 'GET', path: '/users/:id' });
    const r = await getB().req('GET', '/http/users/42?full=1');
    expect(r.status, r.text).toBe(200);
    expect(r.json.event).toMatchObject({ method: 'GET', path: '/users/42', params: { id: '42' }, query: { full: '1' } });
    const act = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
    expect(act.trigger).toBe('http:get-user');
    expect((await a.req('POST', '/http/users/42')).status).toBe(405);
    expect((await a.req('GET', '/http/nobody/here')).json.error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('topic: an event reaches both subscribers, asynchronously', async () => {
    const a = getA();
    await deploy(a, 'sub-a', ECHO);
    await deploy(a, 'sub-b', ECHO);
    await putTrigger(a, 'orders-a', { type: 'topic', function: 'sub-a', topic: 'orders' });
    await putTrigger(a, 'orders-b', { type: 'topic', function: 'sub-b', topic: 'orders' });
    const id = `evt-${uniqueId()}`;
    const pub = await getB().req('POST', '/v1/events/orders', '{"n":1}', {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': '/e2e',
      'ce-type': 'order.created',
    });
    expect(pub.status, pub.text).toBe(202);
    const deliveries = pub.json.events[0].deliveries as { trigger: string; activationId: string }[];
    expect(deliveries.map((d) => d.trigger).sort()).toEqual(['orders-a', 'orders-b']);
    for (const d of deliveries) {
      const act = await waitForActivation(a, d.activationId);
      expect(act).toMatchObject({ status: 'success', trigger: `topic:${d.trigger}`, result: { event: { id, type: 'order.created', data: { n: 1 } } } });
    }
  });

  it('storage: put and delete through the object API each fire once', async () => {
    const a = getA();
    await deploy(a, 'on-upload', ECHO);
    await putTrigger(a, 'uploads', { type: 'storage', function: 'on-upload', bucket: 'uploads', events: ['created', 'deleted'] });
    expect((await getB().req('PUT', '/v1/objects/uploads/in/a.txt', 'hello', { 'content-type': 'text/plain' })).status).toBe(200);
    expect((await a.req('DELETE', '/v1/objects/uploads/in/a.txt')).status).toBe(204);
    const done = await until(async () => {
      const list = (await activations(a, 'on-upload')).filter((x) => x.status === 'success');
      return list.length >= 2 ? list : undefined;
    }, 20_000, 'two storage activations');
    await quietWindow(DUPLICATE_WINDOW_MS); // no third activation: each event fired once
    const all = await activations(a, 'on-upload');
    expect(all).toHaveLength(2);
    expect(done.map((x) => x.trigger)).toEqual(['storage:uploads', 'storage:uploads']);
    expect(done.map((x) => [x.result?.event.event, x.result?.event.key, x.result?.event.size]).sort()).toEqual([
      ['created', 'in/a.txt', 5],
      ['deleted', 'in/a.txt', 0],
    ]);
  });
}

/**
 * A 1-second cron for a few seconds: one activation per tick (±1 at the
 * window's edges) and never two for the same tick.
 */
async function scheduleScenario(a: Api): Promise<void> {
  await deploy(a, 'ticker', ECHO);
  await putTrigger(a, 'every-second', { type: 'schedule', function: 'ticker', cron: '* * * * * *', timezone: 'Europe/Berlin' });
  const started = Date.now();
  await until(async () => ((await activations(a, 'ticker')).length >= SCHEDULE_TICKS ? true : undefined), 20_000, `${SCHEDULE_TICKS} ticks`);
  expect((await a.req('DELETE', '/v1/triggers/every-second')).status).toBe(204);
  const window = (Date.now() - started) / 1000;
  // Two schedulers fire a tick within ms of each other; once every activation is final, a duplicate would be listed.
  const acts = await until(async () => {
    const list = await activations(a, 'ticker');
    return list.every((x) => x.status !== 'queued' && x.status !== 'running') ? list : undefined;
  }, 20_000, 'every tick finished');
  const ticks = acts.map((x) => x.result?.event?.scheduledTime as string | undefined);
  expect(ticks.every((t) => t !== undefined), JSON.stringify(acts.map((x) => x.status))).toBe(true);
  expect(new Set(ticks).size).toBe(ticks.length);
  expect(acts.every((x) => x.trigger === 'schedule:every-second')).toBe(true);
  expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(window) - 1);
  expect(ticks.length).toBeLessThanOrEqual(Math.ceil(window) + 1);
}

describe('triggers (standalone)', () => {
  let cluster: Cluster;
  const a = api(() => cluster.url, TEST_ADMIN_KEY);
  beforeAll(async () => {
    cluster = await startStandalone();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  sharedScenarios(() => a, () => a);

  it('schedule: a 1-second cron fires once per tick', async () => {
    await scheduleScenario(a);
  });

  it('queue: in-process queues, ack after success, dead-letter after the retries', async () => {
    await deploy(a, 'worker', ECHO);
    await deploy(a, 'poisoned', POISON, { retries: 1 });
    await putTrigger(a, 'work', { type: 'queue', function: 'worker', queue: 'jobs' });
    await putTrigger(a, 'poison', { type: 'queue', function: 'poisoned', queue: 'bad-jobs' });
    for (const i of [1, 2]) expect((await a.req('POST', '/v1/queues/jobs/messages', { i })).status).toBe(202);
    expect((await a.req('POST', '/v1/queues/bad-jobs/messages', { i: 0 })).status).toBe(202);
    await until(async () => ((await a.req('GET', '/v1/queues/bad-jobs')).json.deadLetters === 1 ? true : undefined), 20_000, 'dead letter');
    expect((await a.req('GET', '/v1/queues/jobs')).json).toEqual({ queue: 'jobs', brokerQueue: 'brisk.userq.default.jobs', messages: 0, deadLetters: 0 });
    const ok = await activations(a, 'worker');
    expect(ok.map((x) => x.result?.event.messages[0].body.i).sort()).toEqual([1, 2]);
    const bad = await activations(a, 'poisoned');
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ status: 'error', attempts: 2, trigger: 'queue:poison' });
  });

  it('a deleted trigger stops firing; bad bodies are refused', async () => {
    await deploy(a, 'quiet', ECHO);
    await putTrigger(a, 'quiet-topic', { type: 'topic', function: 'quiet', topic: 'hush' });
    expect((await a.req('DELETE', '/v1/triggers/quiet-topic')).status).toBe(204);
    expect((await a.req('POST', '/v1/events/hush', {})).json.events[0].deliveries).toEqual([]);
    expect((await a.req('GET', '/v1/triggers/quiet-topic')).json.error.code).toBe('TRIGGER_NOT_FOUND');
    expect((await a.req('PUT', '/v1/triggers/x', { type: 'schedule', function: 'quiet', cron: '99 * * * *' })).json.error.code).toBe('INVALID_CRON');
    expect((await a.req('PUT', '/v1/triggers/x', { type: 'topic', function: 'nope', topic: 't' })).json.error.code).toBe('FUNCTION_NOT_FOUND');
    expect((await a.req('PUT', '/v1/triggers/x', { type: 'topic', function: 'quiet' })).json.error.code).toBe('INVALID_TRIGGER');
  });
});

const distributed = await distributedServicesAvailable();

describe.skipIf(!distributed)('triggers (distributed: 2 gateways, 2 schedulers)', () => {
  let services: DistributedServices;
  let cluster: Cluster;
  let amqp: ChannelModel;
  const a = api(() => cluster.urls[0] as string, TEST_ADMIN_KEY);
  const b = api(() => cluster.urls[1] as string, TEST_ADMIN_KEY);
  beforeAll(async () => {
    services = await startDistributedServices('e2e-triggers');
    cluster = await startDistributed({ env: services.env, gateways: 2, schedulers: 2, executors: 1 });
    amqp = await connect(services.rabbit.url);
  });
  afterAll(async () => {
    await amqp?.close().catch(() => undefined);
    await cluster?.stop();
    await services?.stop();
  });

  sharedScenarios(() => a, () => b);

  it('schedule: a 1-second cron fires once per tick with two schedulers running', async () => {
    await scheduleScenario(a);
  });

  it("queue: consumes the namespace's RabbitMQ queue, acks after success, dead-letters a poison message", async () => {
    const queue = `orders-${uniqueId()}`;
    const poisonQueue = `poison-${uniqueId()}`;
    await deploy(a, 'order-worker', ECHO);
    await deploy(a, 'order-poison', POISON, { retries: 1 });
    await putTrigger(a, 'order-queue', { type: 'queue', function: 'order-worker', queue });
    await putTrigger(a, 'poison-queue', { type: 'queue', function: 'order-poison', queue: poisonQueue });
    // A producer outside Brisk publishes to the queue's broker name, scoped to the namespace.
    const onBroker = async (q: string): Promise<string> => (await b.req('GET', `/v1/queues/${q}`)).json.brokerQueue;
    const [brokerQueue, brokerPoison] = [await onBroker(queue), await onBroker(poisonQueue)];
    expect(brokerQueue).toBe(`brisk.userq.default.${queue}`);
    const ch = await amqp.createConfirmChannel();
    ch.on('error', () => undefined);
    // Creating the queues first is what a producer would do.
    await ch.assertQueue(brokerQueue, { durable: true });
    await ch.assertQueue(brokerPoison, { durable: true });
    for (const i of [1, 2, 3]) ch.sendToQueue(brokerQueue, Buffer.from(JSON.stringify({ i })), { contentType: 'application/json', persistent: true });
    ch.sendToQueue(brokerPoison, Buffer.from('{"bad":true}'), { contentType: 'application/json', persistent: true });
    await ch.waitForConfirms();
    const ok = await until(async () => {
      const list = (await activations(a, 'order-worker')).filter((x) => x.status === 'success');
      return list.length >= 3 ? list : undefined;
    }, 30_000, 'three queue activations');
    expect(ok.map((x) => x.result?.event.messages[0].body.i).sort()).toEqual([1, 2, 3]);
    expect(ok.every((x) => x.trigger === 'queue:order-queue')).toBe(true);
    // Acked: the queue is empty and nothing was dead-lettered.
    await until(async () => ((await b.req('GET', `/v1/queues/${queue}`)).json.messages === 0 ? true : undefined), 10_000, 'empty queue');
    expect((await b.req('GET', `/v1/queues/${queue}`)).json.deadLetters).toBe(0);
    // The poison message: tried 1 + 1 retry, then copied to <queue>.dead.
    await until(async () => ((await b.req('GET', `/v1/queues/${poisonQueue}`)).json.deadLetters === 1 ? true : undefined), 30_000, 'dead letter');
    const dead = await ch.get(`${brokerPoison}.dead`, { noAck: true });
    if (dead === false) throw new Error(`${brokerPoison}.dead is empty`);
    expect(dead.content.toString()).toBe('{"bad":true}');
    expect(dead.properties.headers?.['x-brisk-dead-reason']).toBe('function-error');
    const bad = await activations(a, 'order-poison');
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ status: 'error', attempts: 2 });
    await ch.close();
  });
});
