import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type Channel, type ConfirmChannel, type GetMessage } from 'amqplib';
import { AmqpBus } from '../../bus/amqp-bus.js';
import { MessageSigner, SIGNATURE_HEADER } from '../../bus/message-signer.js';
import { Topology } from '../../bus/topology.js';
import { DEAD_LETTER_HEADERS } from '../../bus/types.js';
import { NotFoundError, ServiceUnavailableError } from '../../core/errors.js';
import { busContract } from '../contracts/bus-contract.js';
import { rabbitTest } from '../helpers/fixtures.js';
import { freePort, privateRabbitAvailable, rabbitAvailable, requireService, uniquePrefix, type RabbitVhostHandle } from '../helpers/services.js';
import { quietWindow, waitFor, waitForValue } from '../helpers/wait.js';

const available = requireService('rabbitmq', await rabbitAvailable());
const privateBroker = requireService('rabbitmq-server (private node)', await privateRabbitAvailable());
/** The key every bus of these tests signs with (BRISK_BUS_KEY). */
const BUS_KEY = 'amqp-bus-test-key-0123456789abcdef';
/**
 * How long a test watches for something that must NOT happen (a second
 * delivery, a looping dead letter, a bus coming back after close). The local
 * broker redelivers or reconnects within a few ms (the buses here retry every
 * 50-500 ms, so a revival would show within the first backoff step); 300 ms is
 * several of those, and a window too short can only let a bug slip by, never
 * fail a correct bus.
 */
const QUIET_MS = 300;
/** Sends waiting for a confirm when the connection drops must all settle well within this. */
const SETTLE_DEADLINE_MS = 5000;

/** Poll a queue with basic.get (a plain amqplib channel) until one message arrives. */
async function getOne(ch: Channel, queue: string, timeoutMs = 5000): Promise<GetMessage> {
  return waitForValue(async () => (await ch.get(queue, { noAck: true })) || undefined, timeoutMs, `a message on ${queue}`, 50);
}

describe.skipIf(!available)('AmqpBus (RabbitMQ)', () => {
  /** The file's vhost (the fixture deletes it after the last test). */
  let vhost: RabbitVhostHandle;
  const buses: AmqpBus[] = [];

  rabbitTest.beforeAll(({ rabbitVhost }) => {
    vhost = rabbitVhost;
  });
  afterAll(async () => {
    await Promise.allSettled(buses.splice(0).map((b) => b.close()));
  });

  function makeBus(prefix: string): AmqpBus {
    const bus = new AmqpBus({ url: vhost.url, prefix, signingKey: BUS_KEY, reconnect: { initialMs: 50, maxMs: 500 } });
    buses.push(bus);
    return bus;
  }

  busContract('AmqpBus', (prefix) => makeBus(prefix));

  describe('RabbitMQ specifics', () => {
    afterEach(async () => {
      await Promise.allSettled(buses.splice(0).map((b) => b.close()));
    });

    it('waitUntilReady rejects fast with ServiceUnavailableError when the broker is unreachable', async () => {
      const port = await freePort();
      const bus = new AmqpBus({ url: `amqp://guest:guest@127.0.0.1:${port}`, prefix: uniquePrefix('down'), signingKey: BUS_KEY });
      const t0 = Date.now();
      await expect(bus.waitUntilReady()).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(bus.status).toBe('closed');
      await bus.close();
    });

    it('an exclusive queue takes sends from any connection, counts as held while its owner lives, and is gone with it', async () => {
      const prefix = uniquePrefix('excl');
      const owner = makeBus(prefix);
      const other = makeBus(prefix);
      await Promise.all([owner.waitUntilReady(), other.waitUntilReady()]);
      const q = `${prefix}.direct.ex-1`;
      await owner.assertQueue(q, { durable: false, exclusive: true });
      const got: unknown[] = [];
      await owner.consume(q, async (b) => void got.push(b), { prefetch: 10 });
      await other.send(q, { n: 1 }, { confirm: false, transient: true });
      await waitFor(() => got.length === 1, 5000);
      expect(got).toEqual([{ n: 1 }]);
      expect(await other.queueConsumers(q)).toBe(1);
      await owner.close();
      await expect(other.queueConsumers(q)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('coalesces the frames written in one pass: many sends in one tick leave in a few socket writes', async () => {
      let socket: { _writev?: (...a: unknown[]) => unknown; _write: (...a: unknown[]) => unknown } | undefined;
      const bus = new AmqpBus({
        url: vhost.url,
        prefix: uniquePrefix('cork'),
        signingKey: BUS_KEY,
        connect: async (url, opts) => {
          const model = await connect(url, opts);
          socket = (model as unknown as { connection: { stream: NonNullable<typeof socket> } }).connection.stream;
          return model;
        },
      });
      buses.push(bus);
      await bus.waitUntilReady();
      const q = `${uniquePrefix('cork')}.q`;
      await bus.assertQueue(q, { durable: false });
      await bus.send(q, { warm: true }, { confirm: false }); // opens the plain channel
      let writes = 0;
      const s = socket!;
      for (const name of ['_write', '_writev'] as const) {
        const orig = s[name];
        if (!orig) continue;
        s[name] = function counted(this: unknown, ...a: unknown[]): unknown {
          writes++;
          return orig.apply(this, a);
        };
      }
      const sends = Array.from({ length: 50 }, (_, i) => bus.send(q, { i }, { confirm: false }));
      await Promise.all(sends);
      await waitFor(async () => (await bus.queueDepth(q)) === 51, 5000);
      // 50 publishes, plus the queue-depth checks; one write per frame would be 50+.
      expect(writes).toBeGreaterThan(0);
      expect(writes).toBeLessThan(20);
    });

    it('uses the injected connect function', async () => {
      let calls = 0;
      const bus = new AmqpBus({
        url: vhost.url,
        prefix: uniquePrefix('inject'),
        signingKey: BUS_KEY,
        connect: async (url, socketOptions) => {
          calls++;
          expect(socketOptions.noDelay).toBe(true);
          return await connect(url, socketOptions);
        },
      });
      buses.push(bus);
      await bus.waitUntilReady();
      expect(calls).toBe(1);
    });

    it('dead-letters a body that is not JSON, with headers, and keeps consuming', async () => {
      const prefix = uniquePrefix('raw');
      const t = new Topology(prefix);
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      const q = `${prefix}.invoke`;
      await bus.assertQueue(q, { durable: true });
      const good: unknown[] = [];
      await bus.consume(q, async (b) => void good.push(b), { prefetch: 1 });

      // A producer holding the key (signed, so it is judged on its content) puts raw bytes on the queue.
      const conn = await connect(vhost.url);
      const ch = await conn.createConfirmChannel();
      const raw = Buffer.from('{not json');
      const sig = new MessageSigner(BUS_KEY).sign('', q, raw);
      ch.sendToQueue(q, raw, { persistent: true, headers: { 'x-from': 'foreign', [SIGNATURE_HEADER]: sig } });
      await ch.waitForConfirms();
      await bus.send(q, { fine: true });
      await waitFor(() => good.length === 1, 5000);
      expect(good).toEqual([{ fine: true }]);

      // The dead-letter copy keeps the original bytes, so read it raw.
      const m = await getOne(ch, t.deadLetterQueue);
      await conn.close();
      expect(m.content.toString()).toBe('{not json');
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('malformed');
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.originalQueue]).toBe(q);
      expect(m.properties.headers?.['x-from']).toBe('foreign');

      // The consumer is still alive.
      await bus.send(q, { fine: 2 });
      await waitFor(() => good.length === 2, 5000);
    });

    it('a malformed message on the dead-letter queue itself is dropped, not looped', async () => {
      const prefix = uniquePrefix('dlqloop');
      const t = new Topology(prefix);
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      await bus.assertQueue(t.deadLetterQueue, { durable: true });
      const conn = await connect(vhost.url);
      const ch = await conn.createConfirmChannel();
      ch.sendToQueue(t.deadLetterQueue, Buffer.from('garbage'));
      await ch.waitForConfirms();
      await conn.close();
      const got: unknown[] = [];
      await bus.consume(t.deadLetterQueue, async (b) => void got.push(b), { prefetch: 1 });
      await bus.send(t.deadLetterQueue, { after: true });
      await waitFor(() => got.length === 1, 5000);
      await quietWindow(QUIET_MS); // the garbage does not come round again
      expect(got).toEqual([{ after: true }]);
      expect(await bus.queueDepth(t.deadLetterQueue)).toBe(0);
    });

    it('redelivers a retryable failure up to the queue limit, then dead-letters it', async () => {
      const prefix = uniquePrefix('limit');
      const t = new Topology(prefix);
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      const q = `${prefix}.work`;
      await bus.assertQueue(q, { durable: true, deliveryLimit: 4 });
      const seen: number[] = [];
      await bus.consume(q, async (_b, info) => {
        seen.push(info.redeliveries);
        throw new Error('still failing');
      }, { prefetch: 1 });
      await bus.send(q, { id: 7 });
      // Read the DLQ with a plain client to see the raw AMQP headers.
      const conn = await connect(vhost.url);
      const ch = await conn.createChannel();
      const m = await getOne(ch, t.deadLetterQueue);
      await conn.close();
      expect(seen).toEqual([0, 1, 2, 3]);
      expect(JSON.parse(m.content.toString())).toEqual({ id: 7 });
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('delivery-limit');
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.originalQueue]).toBe(q);
      expect(m.properties.deliveryMode).toBe(2);
    });

    it('reconnects after the broker drops the connection: consumers and subscriptions restored exactly once', async () => {
      const prefix = uniquePrefix('reconn');
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      const q = `${prefix}.invoke`;
      const topic = `${prefix}.heartbeat`;
      await bus.assertQueue(q, { durable: true });
      const got: number[] = [];
      await bus.consume<{ n: number }>(q, async (b) => void got.push(b.n), { prefetch: 5 });
      const beats: unknown[] = [];
      await bus.subscribe(topic, (b) => void beats.push(b));
      const states: string[] = [];

      for (let round = 0; round < 3; round++) {
        await vhost.closeConnections();
        await waitFor(() => bus.status !== 'ready', 5000, 5);
        states.push(bus.status);
        await bus.waitUntilReady();
        expect(bus.status).toBe('ready');
      }
      expect(states).toEqual(['reconnecting', 'reconnecting', 'reconnecting']);

      // Exactly one consumer on the queue, as seen by the broker.
      const conn = await connect(vhost.url);
      const ch = await conn.createChannel();
      expect((await ch.checkQueue(q)).consumerCount).toBe(1);
      await conn.close();

      for (let n = 0; n < 10; n++) await bus.send(q, { n });
      await waitFor(() => got.length >= 10, 5000);
      await quietWindow(QUIET_MS); // one consumer restored, not two: nothing arrives twice
      expect([...got].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);

      await bus.publish(topic, { beat: 1 });
      await waitFor(() => beats.length === 1, 5000);
      await quietWindow(QUIET_MS); // one subscription restored, not two
      expect(beats).toEqual([{ beat: 1 }]);
    }, 30_000);

    it('send during an outage rejects fast with ServiceUnavailableError, and works again after it', async () => {
      const prefix = uniquePrefix('outage');
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      const q = `${prefix}.invoke`;
      await bus.assertQueue(q, { durable: true });
      const got: unknown[] = [];
      await bus.consume(q, async (b) => void got.push(b), { prefetch: 1 });
      try {
        await vhost.revokeAccess(); // reconnect attempts are refused while access is revoked
        await vhost.closeConnections();
        await waitFor(() => bus.status === 'reconnecting', 5000, 5);
        await quietWindow(QUIET_MS); // several refused reconnect attempts: it keeps trying, it does not give up
        expect(bus.status).toBe('reconnecting');
        const t0 = Date.now();
        const err = await bus.send(q, { lost: true }).then(() => undefined, (e: unknown) => e);
        expect(Date.now() - t0).toBeLessThan(100);
        expect(err).toBeInstanceOf(ServiceUnavailableError);
        expect((err as ServiceUnavailableError).retryable).toBe(true);
        await expect(bus.publish(`${prefix}.control`, {})).rejects.toBeInstanceOf(ServiceUnavailableError);
      } finally {
        await vhost.grantAccess();
      }
      await bus.waitUntilReady();
      await bus.send(q, { back: true });
      await waitFor(() => got.length === 1, 5000);
      expect(got).toEqual([{ back: true }]);
    }, 30_000);

    it('sends with confirms pending when the connection drops all settle quickly (never hang)', async () => {
      const prefix = uniquePrefix('pending');
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      const q = `${prefix}.invoke`;
      await bus.assertQueue(q, { durable: true });
      const body = { pad: 'x'.repeat(2000) };
      const outcomes: Promise<string>[] = [];
      const dropped = vhost.closeConnections();
      const t0 = Date.now();
      // Keep a stream of unconfirmed sends going until the bus notices the drop.
      for (let i = 0; bus.status === 'ready' && Date.now() - t0 < 5000; i++) {
        outcomes.push(
          bus.send(q, body).then(
            () => 'ok',
            (e: unknown) => (e instanceof ServiceUnavailableError ? 'unavailable' : `other: ${String(e)}`),
          ),
        );
        if (i % 20 === 0) await delay(1); // pacing, as before: lets confirms and the socket's close event in
      }
      await dropped;
      let deadline: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((r) => (deadline = setTimeout(() => r('hung'), SETTLE_DEADLINE_MS)));
      const settled = await Promise.race([Promise.all(outcomes), hung]);
      clearTimeout(deadline);
      expect(settled).not.toBe('hung');
      const results = settled as string[];
      expect(results.filter((r) => r.startsWith('other'))).toEqual([]);
      // Sends still waiting for a confirm when the connection died were rejected, not left hanging.
      expect(results.filter((r) => r === 'unavailable').length).toBeGreaterThan(0);
      console.log(
        `confirm-pending drop: ${results.filter((r) => r === 'ok').length} confirmed, ` +
          `${results.filter((r) => r === 'unavailable').length} rejected as unavailable`,
      );
      await bus.waitUntilReady();
      await bus.send(q, { after: true });
    }, 30_000);

    it('close() during reconnecting stops for good', async () => {
      const prefix = uniquePrefix('closerc');
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      try {
        await vhost.revokeAccess();
        await vhost.closeConnections();
        await waitFor(() => bus.status === 'reconnecting', 5000, 5);
        await bus.close();
        expect(bus.status).toBe('closed');
      } finally {
        await vhost.grantAccess();
      }
      await quietWindow(QUIET_MS); // no reconnect attempt revives it
      expect(bus.status).toBe('closed');
    }, 30_000);

  });

  describe('message authentication (BRISK_BUS_KEY)', () => {
    afterEach(async () => {
      await Promise.allSettled(buses.splice(0).map((b) => b.close()));
    });

    /** A bus, its topology, and a plain amqplib connection acting as a producer on the same broker. */
    async function setup(label: string): Promise<{ bus: AmqpBus; t: Topology; prefix: string; ch: ConfirmChannel; close: () => Promise<void> }> {
      const prefix = uniquePrefix(label);
      const bus = makeBus(prefix);
      await bus.waitUntilReady();
      const conn = await connect(vhost.url);
      const ch = await conn.createConfirmChannel();
      return { bus, t: new Topology(prefix), prefix, ch, close: () => conn.close() };
    }

    /** Put raw bytes on a queue behind the bus's back, as anyone with broker access could. */
    async function inject(ch: ConfirmChannel, queue: string, content: Buffer, headers: Record<string, string> = {}): Promise<void> {
      ch.sendToQueue(queue, content, { persistent: true, contentType: 'application/json', headers });
      await ch.waitForConfirms();
    }

    it('signs what it sends, and its handlers see the message without the signature header', async () => {
      const { bus, prefix, ch, close } = await setup('signed');
      const q = `${prefix}.invoke`;
      await bus.assertQueue(q, { durable: true });
      await bus.send(q, { hello: 1 }, { headers: { 'x-test': 'yes' } });
      const raw = await getOne(ch, q);
      expect(new MessageSigner(BUS_KEY).verify('', q, raw.content, raw.properties.headers?.[SIGNATURE_HEADER])).toBe(true);
      await close();
      const got: { body: unknown; headers: Record<string, unknown> }[] = [];
      await bus.consume(q, async (body, info) => void got.push({ body, headers: info.headers }), { prefetch: 1 });
      await bus.send(q, { hello: 2 }, { headers: { 'x-test': 'yes' } });
      await waitFor(() => got.length === 1, 5000);
      expect(got[0]?.body).toEqual({ hello: 2 });
      expect(got[0]?.headers['x-test']).toBe('yes');
      expect(got[0]?.headers[SIGNATURE_HEADER]).toBeUndefined();
    });

    it('dead-letters an unsigned, wrongly signed or tampered message without handling it, and keeps consuming', async () => {
      const { bus, t, prefix, ch, close } = await setup('forged');
      const q = `${prefix}.exec.victim`;
      await bus.assertQueue(q, { durable: true });
      const handled: unknown[] = [];
      await bus.consume(q, async (b) => void handled.push(b), { prefetch: 5 });
      const forged = Buffer.from(JSON.stringify({ request: { fn: { namespace: 'ns-b' } } }));
      const other = new MessageSigner('another-key-that-is-long-enough-000000');
      const genuine = new MessageSigner(BUS_KEY);
      const cases: [string, Record<string, string>][] = [
        ['missing', {}],
        ['wrong key', { [SIGNATURE_HEADER]: other.sign('', q, forged) }],
        ['tampered body', { [SIGNATURE_HEADER]: genuine.sign('', q, Buffer.from('{"request":{"fn":{"namespace":"ns-a"}}}')) }],
        ['garbage', { [SIGNATURE_HEADER]: 'not-a-signature' }],
      ];
      for (const [label, headers] of cases) await inject(ch, q, forged, { ...headers, 'x-case': label });
      const dead: string[] = [];
      while (dead.length < cases.length) {
        const m = await getOne(ch, t.deadLetterQueue);
        expect(m.content.equals(forged)).toBe(true);
        expect(m.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('unauthenticated');
        expect(m.properties.headers?.[DEAD_LETTER_HEADERS.originalQueue]).toBe(q);
        expect(String(m.properties.headers?.[DEAD_LETTER_HEADERS.error])).toContain('signature');
        dead.push(String(m.properties.headers?.['x-case']));
      }
      expect(dead.sort()).toEqual(cases.map(([l]) => l).sort());
      // Nothing reached the handler; a genuine message still does.
      await bus.send(q, { genuine: true });
      await waitFor(() => handled.length === 1, 5000);
      expect(handled).toEqual([{ genuine: true }]);
      await close();
    });

    it('refuses a genuine message replayed into another queue', async () => {
      const { bus, t, prefix, ch, close } = await setup('replay');
      const replies = `${prefix}.reply.gw-1`;
      const invoke = `${prefix}.invoke`;
      await bus.assertQueue(replies, { durable: true });
      await bus.assertQueue(invoke, { durable: true });
      await bus.send(replies, { activationId: 'a1', status: 'success' });
      // Captured where it was delivered (a tenant's queue in the attack), then put on the invoke queue.
      const captured = await getOne(ch, replies);
      await inject(ch, invoke, captured.content, { [SIGNATURE_HEADER]: String(captured.properties.headers?.[SIGNATURE_HEADER]) });
      const handled: unknown[] = [];
      await bus.consume(invoke, async (b) => void handled.push(b), { prefetch: 1 });
      const m = await getOne(ch, t.deadLetterQueue);
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('unauthenticated');
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.originalQueue]).toBe(invoke);
      expect(handled).toEqual([]);
      await close();
    });

    it('an autoAck consumer and a topic subscriber never see an unsigned message; a copy is dead-lettered', async () => {
      const { bus, t, prefix, ch, close } = await setup('fanout');
      const completions = `${prefix}.sched.s1`;
      const topic = `${prefix}.control`;
      await bus.assertQueue(completions, { durable: false });
      const got: unknown[] = [];
      const notices: unknown[] = [];
      await bus.consume(completions, async (b) => void got.push(b), { prefetch: 10, autoAck: true });
      await bus.subscribe(topic, (b) => void notices.push(b));
      await inject(ch, completions, Buffer.from('{"activationId":"x","executorId":"fake","status":"success","systemError":false}'));
      ch.publish(topic, '', Buffer.from('{"kind":"prewarm","executorId":"e1"}'), { headers: {} });
      await ch.waitForConfirms();
      const sources = [
        (await getOne(ch, t.deadLetterQueue)).properties.headers,
        (await getOne(ch, t.deadLetterQueue)).properties.headers,
      ];
      expect(sources.map((h) => h?.[DEAD_LETTER_HEADERS.reason])).toEqual(['unauthenticated', 'unauthenticated']);
      expect(sources.map((h) => h?.[DEAD_LETTER_HEADERS.originalQueue]).sort()).toEqual([topic, completions].sort());
      // Genuine ones arrive.
      await bus.send(completions, { n: 1 }, { confirm: false });
      await bus.publish(topic, { kind: 'genuine' });
      await waitFor(() => got.length === 1 && notices.length === 1, 5000);
      expect(got).toEqual([{ n: 1 }]);
      expect(notices).toEqual([{ kind: 'genuine' }]);
      await close();
    });

    it('a delayed send waits in a shared delay-step queue, signed for its own queue, and is verified there on arrival', async () => {
      const { bus, t, prefix, ch, close } = await setup('delayed');
      const q = `${prefix}.invoke`;
      await bus.assertQueue(q, { durable: true });
      const signer = new MessageSigner(BUS_KEY);
      // While it waits: in the 3 s step's queue, with a signature for `q` (where it will be consumed), not for the delay queue.
      await bus.send(q, { held: true }, { delayMs: 2500 });
      const waiting = await getOne(ch, t.delayQueue(3000));
      expect(signer.verify('', q, waiting.content, waiting.properties.headers?.[SIGNATURE_HEADER])).toBe(true);
      expect(signer.verify('', t.delayQueue(3000), waiting.content, waiting.properties.headers?.[SIGNATURE_HEADER])).toBe(false);
      const handled: unknown[] = [];
      await bus.consume(q, async (b) => void handled.push(b), { prefetch: 5 });
      // Three delays, one step (375 ms): the broker holds one delay queue for them, not three.
      for (const delayMs of [260, 300, 370]) await bus.send(q, { delayMs }, { delayMs });
      await waitFor(() => handled.length === 3, 5000);
      expect(handled).toEqual([{ delayMs: 260 }, { delayMs: 300 }, { delayMs: 370 }]);
      const probe = await connect(vhost.url);
      const check = async (queue: string): Promise<boolean> => {
        const pc = await probe.createChannel();
        pc.on('error', () => undefined);
        return pc.checkQueue(queue).then(() => true, () => false);
      };
      expect(await check(t.delayQueue(375))).toBe(true);
      expect(await check(`${prefix}.delay.260`)).toBe(false);
      await probe.close();
      // Put into the delay exchange by someone else, with a signature for another destination: refused where it lands.
      const forged = Buffer.from('{"forged":true}');
      ch.publish(t.delayQueue(375), q, forged, { headers: { [SIGNATURE_HEADER]: signer.sign(t.delayQueue(375), q, forged) } });
      await ch.waitForConfirms();
      const dead = await getOne(ch, t.deadLetterQueue);
      expect(dead.content.equals(forged)).toBe(true);
      expect(dead.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('unauthenticated');
      expect(dead.properties.headers?.[DEAD_LETTER_HEADERS.originalQueue]).toBe(q);
      expect(handled).toHaveLength(3);
      await close();
    });

    it('a bus with another key cannot talk to this one', async () => {
      const prefix = uniquePrefix('twokeys');
      const t = new Topology(prefix);
      const ours = makeBus(prefix);
      const theirs = new AmqpBus({ url: vhost.url, prefix, signingKey: 'a-different-bus-key-0123456789abcdef' });
      buses.push(theirs);
      await Promise.all([ours.waitUntilReady(), theirs.waitUntilReady()]);
      const q = `${prefix}.invoke`;
      await ours.assertQueue(q, { durable: true });
      const handled: unknown[] = [];
      await ours.consume(q, async (b) => void handled.push(b), { prefetch: 1 });
      await theirs.send(q, { from: 'theirs' });
      const conn = await connect(vhost.url);
      const ch = await conn.createChannel();
      const m = await getOne(ch, t.deadLetterQueue);
      await conn.close();
      expect(JSON.parse(m.content.toString())).toEqual({ from: 'theirs' });
      expect(m.properties.headers?.[DEAD_LETTER_HEADERS.reason]).toBe('unauthenticated');
      expect(handled).toEqual([]);
    });
  });
});

describe.skipIf(!privateBroker)('AmqpBus across a real broker restart (private node)', () => {
  const buses: AmqpBus[] = [];
  afterEach(async () => {
    await Promise.allSettled(buses.splice(0).map((b) => b.close()));
  });

  rabbitTest('keeps confirmed durable messages, fails fast while down, and restores its consumer after the restart', async ({ privateRabbit: broker }) => {
    const prefix = uniquePrefix('restart');
    const producer = new AmqpBus({ url: broker.url, prefix, signingKey: BUS_KEY, reconnect: { initialMs: 100, maxMs: 500 } });
    const consumer = new AmqpBus({ url: broker.url, prefix, signingKey: BUS_KEY, reconnect: { initialMs: 100, maxMs: 500 } });
    buses.push(producer, consumer);
    await Promise.all([producer.waitUntilReady(), consumer.waitUntilReady()]);
    const q = `${prefix}.invoke`;
    await producer.assertQueue(q, { durable: true });
    await consumer.assertQueue(q, { durable: true });

    // Stored before the restart, consumed after it.
    for (let n = 0; n < 5; n++) await producer.send(q, { n });
    await broker.kill();
    await waitFor(() => producer.status === 'reconnecting' && consumer.status === 'reconnecting', 10_000);
    const t0 = Date.now();
    await expect(producer.send(q, { n: 'lost' })).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(Date.now() - t0).toBeLessThan(100);

    const got: number[] = [];
    // consume() needs a ready bus, so the consumer registers after the restart.
    await broker.restart();
    await Promise.all([producer.waitUntilReady(), consumer.waitUntilReady()]);
    await consumer.consume<{ n: number }>(q, async (b) => void got.push(b.n), { prefetch: 10 });
    await producer.send(q, { n: 5 });
    await waitFor(() => got.length === 6, 10_000);
    expect([...got].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);

    // A second restart with the consumer registered: it comes back exactly once.
    await broker.restart();
    await Promise.all([producer.waitUntilReady(), consumer.waitUntilReady()]);
    for (let n = 6; n < 10; n++) await producer.send(q, { n });
    await waitFor(() => got.length === 10, 10_000);
    await quietWindow(QUIET_MS); // restored exactly once: nothing arrives twice
    expect([...got].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    const conn = await connect(broker.url);
    const ch = await conn.createChannel();
    expect((await ch.checkQueue(q)).consumerCount).toBe(1);
    await conn.close();
  }, 90_000);
});
