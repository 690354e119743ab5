import { connect, type ChannelModel } from 'amqplib';
import { pino } from 'pino';
import { afterAll, describe, expect } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.js';
import type { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { AmqpUserQueues } from '../../triggers/amqp-user-queues.js';
import { QueueConsumer } from '../../triggers/queue-consumer.js';
import type { QueueEvent, TriggerOf } from '../../triggers/types.js';
import { QUEUE_DEAD_HEADERS } from '../../triggers/user-queues.js';
import { FakeFirer } from '../fakes/firer.js';
import { rabbitTest } from '../helpers/fixtures.js';
import { rabbitAvailable, requireService, uniqueId, uniquePrefix } from '../helpers/services.js';
import { openTempKv } from '../helpers/temp-stores.js';
import { waitFor, waitForValue } from '../helpers/wait.js';

const available = requireService('rabbitmq', await rabbitAvailable());
const logger = pino({ level: 'silent' });
const stamp = { namespace: 'default', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };
/** Bus prefix of these tests: user queues live on the broker as `<PREFIX>.userq.<namespace>.<queue>`. */
const PREFIX = uniquePrefix('tq');
/** The broker's name of `queue` in the `default` namespace, where a producer outside Brisk publishes. */
const onBroker = (queue: string): string => `${PREFIX}.userq.default.${queue}`;

/** A firer whose activations finish when the test says so (`finish`), unless it sets `defaultStatus`. */
const controlledFirer = (): FakeFirer<QueueEvent> => {
  const firer = new FakeFirer<QueueEvent>();
  firer.defaultStatus = 'running';
  return firer;
};

describe.skipIf(!available)('queue triggers on RabbitMQ', () => {
  /** A plain amqplib connection on the file's vhost, acting as a producer and inspector outside Brisk. */
  let admin: ChannelModel;
  /** Where the queues each namespace used are listed (the index every process shares). */
  let kv: FileKeyValueStore;
  rabbitTest.beforeAll(async ({ rabbitVhost }) => {
    admin = await connect(rabbitVhost.url);
    kv = await openTempKv();
  });
  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    await kv?.close();
  });

  const trigger = (queue: string, over: Partial<TriggerOf<'queue'>> = {}): TriggerOf<'queue'> => ({
    type: 'queue',
    name: 'q',
    function: 'f',
    queue,
    batchSize: 1,
    batchWindowMs: 100,
    concurrency: 1,
    deadLetter: 'queue',
    ...stamp,
    ...over,
  });
  const publish = async (queue: string, body: string, contentType = 'application/json'): Promise<void> => {
    const ch = await admin.createConfirmChannel();
    ch.sendToQueue(onBroker(queue), Buffer.from(body), { contentType, persistent: true, messageId: uniqueId() });
    await ch.waitForConfirms();
    await ch.close();
  };
  const counts = async (queue: string): Promise<{ ready: number; consumers: number }> => {
    const ch = await admin.createChannel();
    ch.on('error', () => undefined); // a missing queue closes the channel; checkQueue rejects
    try {
      const q = await ch.checkQueue(onBroker(queue));
      return { ready: q.messageCount, consumers: q.consumerCount };
    } finally {
      await ch.close().catch(() => undefined);
    }
  };

  rabbitTest('acks a message only after its invocation succeeded', async ({ rabbit }) => {
    const queue = `jobs-${uniqueId()}`;
    const queues = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger });
    await queues.waitUntilReady();
    const firer = controlledFirer();
    const consumer = new QueueConsumer({ queues, firer, logger });
    await consumer.reconcile([trigger(queue)]); // declares the missing queue
    await publish(queue, '{"job":1}');
    await waitFor(() => firer.fired.length === 1);
    expect(firer.fired[0]?.event.messages[0]?.body).toEqual({ job: 1 });

    // Still running: stopping hands the message back to the queue (it was not acked).
    await consumer.stop();
    await waitFor(async () => (await counts(queue)).ready === 1);

    const consumer2 = new QueueConsumer({ queues, firer, logger });
    await consumer2.reconcile([trigger(queue)]);
    await waitFor(() => firer.fired.length === 2);
    expect(firer.fired[1]?.event.messages[0]?.redelivered).toBe(true);
    firer.finish('act-2', 'success');
    // stop() waits for the batch in flight, which has seen the success and acks: nothing comes back.
    await consumer2.stop();
    expect((await counts(queue)).ready).toBe(0);
    await queues.close();
  });

  rabbitTest('dead-letters a poison message to <queue>.dead after the function failed for good', async ({ rabbit }) => {
    const queue = `poison-${uniqueId()}`;
    const queues = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger });
    const firer = controlledFirer();
    firer.defaultStatus = 'error';
    const consumer = new QueueConsumer({ queues, firer, logger });
    await consumer.reconcile([trigger(queue, { name: 'poisoned' })]);
    await publish(queue, 'not json at all', 'text/plain');
    await waitFor(async () => {
      try {
        return (await counts(`${queue}.dead`)).ready === 1;
      } catch {
        return false;
      }
    });
    expect((await counts(queue)).ready).toBe(0);
    const ch = await admin.createChannel();
    const msg = await ch.get(onBroker(`${queue}.dead`), { noAck: true });
    await ch.close();
    if (msg === false) throw new Error(`${queue}.dead is empty`);
    expect(msg.content.toString()).toBe('not json at all');
    expect(msg.properties.headers).toMatchObject({
      [QUEUE_DEAD_HEADERS.reason]: 'function-error',
      [QUEUE_DEAD_HEADERS.trigger]: 'queue:poisoned',
      [QUEUE_DEAD_HEADERS.originalQueue]: queue,
      [QUEUE_DEAD_HEADERS.activationId]: 'act-1',
    });
    expect(firer.fired[0]?.event.messages[0]).toMatchObject({ body: 'not json at all', contentType: 'text/plain' });
    await consumer.stop();
    await queues.close();
  });

  rabbitTest("with deadLetter: reject, uses the queue's own dead-letter exchange", async ({ rabbit }) => {
    const queue = `dlx-${uniqueId()}`;
    const ch = await admin.createChannel();
    await ch.assertQueue(onBroker(`${queue}-parking`), { durable: true });
    await ch.assertQueue(onBroker(queue), { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': onBroker(`${queue}-parking`) } });
    await ch.close();
    const queues = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger });
    const firer = controlledFirer();
    firer.defaultStatus = 'timeout';
    const consumer = new QueueConsumer({ queues, firer, logger });
    await consumer.reconcile([trigger(queue, { deadLetter: 'reject' })]);
    await publish(queue, '{"x":1}');
    await waitFor(async () => (await counts(`${queue}-parking`)).ready === 1);
    expect((await counts(queue)).ready).toBe(0);
    await consumer.stop();
    await queues.close();
  });

  rabbitTest('scopes queues to their namespace: ns-a and ns-b each get only their own "jobs"; platform queues cannot be named', async ({ rabbit }) => {
    const queues = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger });
    await queues.waitUntilReady();
    expect(queues.brokerName('ns-a', 'jobs')).toBe(`${PREFIX}.userq.ns-a.jobs`);
    const firer = controlledFirer();
    firer.defaultStatus = 'success';
    const consumer = new QueueConsumer({ queues, firer, logger });
    await consumer.reconcile([
      trigger('jobs', { namespace: 'ns-a', name: 'work' }),
      trigger('jobs', { namespace: 'ns-b', name: 'work' }),
    ]);
    for (let i = 0; i < 4; i++) {
      await queues.send('ns-a', 'jobs', Buffer.from(JSON.stringify({ from: 'ns-a', i })), { contentType: 'application/json' });
      await queues.send('ns-b', 'jobs', Buffer.from(JSON.stringify({ from: 'ns-b', i })), { contentType: 'application/json' });
    }
    await waitFor(() => firer.fired.length === 8);
    for (const f of firer.fired) expect((f.event.messages[0]?.body as { from: string } | undefined)?.from).toBe(f.trigger.namespace);
    await consumer.stop();

    // A platform queue with work in it: no namespace can send to it, consume it or read its depth.
    const platformQueue = `${PREFIX}.invoke`;
    const ch = await admin.createConfirmChannel();
    await ch.assertQueue(platformQueue, { durable: true });
    ch.sendToQueue(platformQueue, Buffer.from('{"platform":true}'));
    await ch.waitForConfirms();
    for (const name of [platformQueue, `${PREFIX}.exec.e1`, `${PREFIX}.dead`, PREFIX, 'amq.x']) {
      await expect(queues.send('ns-a', name, Buffer.from('{}'))).rejects.toMatchObject({ code: 'INVALID_QUEUE', status: 400 });
      await expect(queues.consume('ns-a', name, () => undefined, { prefetch: 1 })).rejects.toMatchObject({ code: 'INVALID_QUEUE' });
      await expect(queues.depth('ns-a', name)).rejects.toMatchObject({ code: 'INVALID_QUEUE' });
    }
    expect((await ch.checkQueue(platformQueue)).messageCount).toBe(1);
    await ch.close();
    await queues.close();
  });

  rabbitTest('deleteNamespace deletes every queue the namespace used, by any process, with its .dead companion; other namespaces keep theirs', async ({ rabbit }) => {
    const ns = `gone${uniqueId()}`;
    const other = `kept${uniqueId()}`;
    // Two processes (a gateway sending, a scheduler consuming) sharing the index.
    const gateway = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger });
    const scheduler = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger });
    await Promise.all([gateway.waitUntilReady(), scheduler.waitUntilReady()]);
    const exists = async (name: string): Promise<boolean> => {
      const ch = await admin.createChannel();
      ch.on('error', () => undefined); // a missing queue closes the channel
      try {
        await ch.checkQueue(name);
        return true;
      } catch {
        return false;
      } finally {
        await ch.close().catch(() => undefined);
      }
    };
    const body = (n: number): Buffer => Buffer.from(JSON.stringify({ n }));
    // Sent through Brisk: `held` holds 2 messages; its .dead companion 1.
    await gateway.send(ns, 'held', body(1));
    await gateway.send(ns, 'held', body(2));
    const ch = await admin.createConfirmChannel();
    await ch.assertQueue(`${PREFIX}.userq.${ns}.held.dead`, { durable: true });
    ch.sendToQueue(`${PREFIX}.userq.${ns}.held.dead`, Buffer.from('{}'));
    // Made by a producer outside Brisk, and consumed by a trigger in the other process.
    await ch.assertQueue(`${PREFIX}.userq.${ns}.outside`, { durable: true });
    await ch.waitForConfirms();
    await (await scheduler.consume(ns, 'outside', () => undefined, { prefetch: 1 })).cancel();
    ch.sendToQueue(`${PREFIX}.userq.${ns}.outside`, Buffer.from('{}'));
    await ch.waitForConfirms();
    await gateway.send(other, 'held', body(3));
    expect(await gateway.depth(ns, 'held')).toEqual({ messages: 2, deadLetters: 1 });
    expect((await gateway.depth(ns, 'outside')).messages).toBe(1);

    expect(await gateway.deleteNamespace(ns)).toBe(2);
    for (const q of ['held', 'held.dead', 'outside']) expect(await exists(`${PREFIX}.userq.${ns}.${q}`), q).toBe(false);
    expect(await gateway.depth(other, 'held')).toEqual({ messages: 1, deadLetters: 0 });
    expect(await gateway.deleteNamespace(ns)).toBe(0); // idempotent

    // The name used again, through the process that still remembers it: a new, empty queue, listed again.
    await scheduler.send(ns, 'outside', body(4));
    expect(await gateway.depth(ns, 'outside')).toEqual({ messages: 1, deadLetters: 0 });
    expect(await gateway.deleteNamespace(ns)).toBe(1);
    expect(await exists(`${PREFIX}.userq.${ns}.outside`)).toBe(false);
    await ch.close();
    await gateway.deleteNamespace(other);
    await Promise.all([gateway.close(), scheduler.close()]);
  });

  rabbitTest('while reconnecting, a send fails fast with ServiceUnavailableError instead of waiting out the outage', async ({ rabbit }) => {
    const queues = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger, reconnect: { initialMs: 50, maxMs: 500 } });
    await queues.waitUntilReady();
    await admin.close(); // the broker is about to drop every connection; this test's own comes back below
    try {
      await rabbit.revokeAccess(); // reconnect attempts are refused while access is revoked
      await rabbit.closeConnections();
      await waitFor(() => queues.status === 'reconnecting', 5000, 5);
      const t0 = Date.now();
      const err = await queues.send('default', `down-${uniqueId()}`, Buffer.from('{}')).then(() => undefined, (e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(500);
      expect(err).toBeInstanceOf(ServiceUnavailableError);
    } finally {
      await rabbit.grantAccess();
    }
    await queues.waitUntilReady();
    const queue = `back-${uniqueId()}`;
    await queues.send('default', queue, Buffer.from('{}'));
    expect((await queues.depth('default', queue)).messages).toBe(1);
    await queues.deleteNamespace('default');
    await queues.close();
    admin = await connect(rabbit.url);
  });

  rabbitTest('resumes consuming after the broker drops the connection', async ({ rabbit }) => {
    const queue = `resume-${uniqueId()}`;
    const queues = new AmqpUserQueues({ url: rabbit.url, prefix: PREFIX, kv, logger, reconnect: { initialMs: 50, maxMs: 500 } });
    const firer = controlledFirer();
    firer.defaultStatus = 'success';
    const consumer = new QueueConsumer({ queues, firer, logger });
    await consumer.reconcile([trigger(queue)]);
    await publish(queue, '{"n":1}');
    await waitFor(() => firer.fired.length === 1);
    await admin.close();
    await rabbit.closeConnections();
    admin = await waitForValue(() => connect(rabbit.url).catch(() => undefined), 10_000, 'a new admin connection', 100);
    await waitFor(() => queues.status === 'ready', 10_000);
    await waitFor(async () => (await counts(queue)).consumers === 1, 10_000);
    await publish(queue, '{"n":2}');
    await waitFor(() => firer.fired.some((f) => (f.event.messages[0]?.body as { n: number } | undefined)?.n === 2), 10_000);
    await consumer.stop();
    await queues.close();
  });
});
