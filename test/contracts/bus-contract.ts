/**
 * The behaviour every {@link Bus} implementation must show, written against
 * the interface only. Each implementation's test file calls
 * `busContract('MemoryBus', (prefix) => new MemoryBus({ prefix }))` or the like.
 *
 * `makeBus(prefix)` must return a bus whose topology (dead-letter queue) uses
 * `prefix`; every test uses its own random prefix and closes its buses.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BriskError, HandedBackError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../core/errors.js';
import { Topology } from '../../bus/topology.js';
import { DEAD_LETTER_HEADERS, OUTAGE_RETRY_MS, type Bus, type DeliveryInfo } from '../../bus/types.js';
import { quietWindow } from '../helpers/wait.js';

export type MakeBus = (prefix: string) => Bus | Promise<Bus>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/**
 * How long a case watches for something that must NOT happen (a redelivery, a
 * message after cancel, a third attempt). A broker redelivers within a round
 * trip, a few ms on the local machine; 100 ms is many times that, and a window
 * too short could only let a bug slip by, never fail a correct bus.
 */
const QUIET_MS = 100;

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

interface Received<T = unknown> {
  body: T;
  info: DeliveryInfo;
}

export function busContract(name: string, makeBus: MakeBus): void {
  describe(`Bus contract: ${name}`, () => {
    const open: Bus[] = [];
    let topology: Topology;

    /** A fresh bus on a fresh prefix, ready, closed after the test. */
    async function setup(): Promise<{ bus: Bus; topology: Topology; queue: (label: string) => string }> {
      const prefix = `ct-${randomBytes(4).toString('hex')}`;
      topology = new Topology(prefix);
      const bus = await makeBus(prefix);
      open.push(bus);
      await bus.waitUntilReady();
      return { bus, topology, queue: (label) => `${prefix}.${label}` };
    }

    /** Consume the dead-letter queue into an array. */
    async function watchDeadLetters(bus: Bus, t: Topology): Promise<Received[]> {
      const dead: Received[] = [];
      await bus.assertQueue(t.deadLetterQueue, { durable: true });
      await bus.consume(t.deadLetterQueue, async (body, info) => void dead.push({ body, info }), { prefetch: 10 });
      return dead;
    }

    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((b) => b.close()));
    });

    it('is ready after waitUntilReady', async () => {
      const { bus } = await setup();
      expect(bus.status).toBe('ready');
    });

    it('delivers sent messages in order to a single consumer, with sender headers', async () => {
      const { bus, queue } = await setup();
      const q = queue('order');
      await bus.assertQueue(q, { durable: true });
      const got: Received<{ n: number }>[] = [];
      await bus.consume<{ n: number }>(q, async (body, info) => void got.push({ body, info }), { prefetch: 1 });
      for (let n = 0; n < 20; n++) await bus.send(q, { n }, { headers: { 'x-test': `m${n}` } });
      await eventually(() => got.length === 20);
      expect(got.map((g) => g.body.n)).toEqual([...Array(20).keys()]);
      expect(got[3]?.info.headers['x-test']).toBe('m3');
      expect(got[3]?.info.redeliveries).toBe(0);
    });

    it('round-trips JSON bodies of every shape', async () => {
      const { bus, queue } = await setup();
      const q = queue('shapes');
      await bus.assertQueue(q, { durable: false });
      const bodies: unknown[] = [{ a: [1, 'x', null, { b: true }] }, 'text', 42, null, ['é', '✓']];
      const got: unknown[] = [];
      await bus.consume(q, async (body) => void got.push(body), { prefetch: 5 });
      for (const b of bodies) await bus.send(q, b);
      await eventually(() => got.length === bodies.length);
      expect(got).toEqual(bodies);
    });

    it('gives each message to exactly one of several competing consumers', async () => {
      const { bus, queue } = await setup();
      const q = queue('compete');
      await bus.assertQueue(q, { durable: true });
      const byConsumer: number[][] = [[], []];
      // Each consumer holds its first message until the other has one too: with prefetch 1
      // the busy one cannot take more, so both get work whatever the delivery order.
      const firstOf: (() => void)[] = [];
      const bothBusy = Promise.all([0, 1].map((idx) => new Promise<void>((r) => (firstOf[idx] = r))));
      for (const idx of [0, 1]) {
        await bus.consume<{ n: number }>(
          q,
          async (body) => {
            byConsumer[idx]?.push(body.n);
            firstOf[idx]?.();
            await bothBusy;
          },
          { prefetch: 1 },
        );
      }
      for (let n = 0; n < 30; n++) await bus.send(q, { n });
      await eventually(() => (byConsumer[0]?.length ?? 0) + (byConsumer[1]?.length ?? 0) === 30);
      await quietWindow(QUIET_MS); // no message comes a second time
      const all = [...(byConsumer[0] ?? []), ...(byConsumer[1] ?? [])].sort((a, b) => a - b);
      expect(all).toEqual([...Array(30).keys()]);
      expect(byConsumer[0]?.length).toBeGreaterThan(0);
      expect(byConsumer[1]?.length).toBeGreaterThan(0);
    });

    it('counts the consumers attached to a queue, and forgets a cancelled one', async () => {
      const { bus, queue } = await setup();
      const q = queue('consumers');
      await bus.assertQueue(q, { durable: true });
      expect(await bus.queueConsumers(q)).toBe(0);
      const a = await bus.consume(q, async () => undefined, { prefetch: 1 });
      await bus.consume(q, async () => undefined, { prefetch: 1 });
      expect(await bus.queueConsumers(q)).toBe(2);
      await a.cancel();
      expect(await bus.queueConsumers(q)).toBe(1);
      await expect(bus.queueConsumers(queue('never-declared'))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('acks only after the handler settles: a running message is not given to another consumer', async () => {
      const { bus, queue } = await setup();
      const q = queue('ack');
      await bus.assertQueue(q, { durable: true });
      const seen: { consumer: number; n: number }[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      for (const idx of [0, 1]) {
        await bus.consume<{ n: number }>(
          q,
          async (body) => {
            seen.push({ consumer: idx, n: body.n });
            if (body.n === 1) await gate;
          },
          { prefetch: 1 },
        );
      }
      await bus.send(q, { n: 1 });
      await eventually(() => seen.length === 1);
      const holder = seen[0]?.consumer;
      // The holder is busy (prefetch 1): the next message must go to the other one.
      await bus.send(q, { n: 2 });
      await eventually(() => seen.length === 2);
      expect(seen[1]).toEqual({ consumer: holder === 0 ? 1 : 0, n: 2 });
      await quietWindow(QUIET_MS); // the running message is not given to the idle consumer
      expect(seen.filter((s) => s.n === 1)).toHaveLength(1);
      release();
      await quietWindow(QUIET_MS); // nor redelivered once acked
      expect(seen.filter((s) => s.n === 1)).toHaveLength(1);
      expect(await bus.queueDepth(q)).toBe(0);
    });

    it('cancel lets an in-flight handler finish and its message is not redelivered', async () => {
      const { bus, queue } = await setup();
      const q = queue('cancel');
      await bus.assertQueue(q, { durable: true });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let started = 0;
      let finished = 0;
      const sub = await bus.consume(q, async () => {
        started++;
        await gate;
        finished++;
      }, { prefetch: 1 });
      await bus.send(q, { n: 1 });
      await eventually(() => started === 1);
      const cancelled = sub.cancel();
      // cancel() waits for the handler: it has not returned while the handler is held.
      expect(await Promise.race([cancelled.then(() => 'returned'), quietWindow(QUIET_MS).then(() => 'waiting')])).toBe('waiting');
      release();
      await cancelled;
      expect(finished).toBe(1);
      const again: unknown[] = [];
      await bus.consume(q, async (b) => void again.push(b), { prefetch: 1 });
      await bus.send(q, { n: 2 });
      await eventually(() => again.length === 1);
      await quietWindow(QUIET_MS); // the first message is not delivered again
      expect(again).toEqual([{ n: 2 }]);
    });

    it('dead-letters a message that fails parse, with headers, and keeps consuming', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('parse');
      await bus.assertQueue(q, { durable: true });
      const dead = await watchDeadLetters(bus, t);
      const good: unknown[] = [];
      await bus.consume<{ ok: true }>(q, async (b) => void good.push(b), {
        prefetch: 1,
        parse: (raw) => {
          if (typeof raw !== 'object' || raw === null || (raw as { ok?: unknown }).ok !== true) {
            throw new ValidationError('INVALID_BODY', 'ok must be true');
          }
          return raw;
        },
      });
      await bus.send(q, { ok: false, id: 'poison' }, { headers: { 'x-test': 'kept' } });
      await bus.send(q, { ok: true });
      await eventually(() => good.length === 1 && dead.length === 1);
      expect(good).toEqual([{ ok: true }]);
      const d = dead[0] as Received;
      expect(d.body).toEqual({ ok: false, id: 'poison' });
      expect(d.info.headers[DEAD_LETTER_HEADERS.originalQueue]).toBe(q);
      expect(d.info.headers[DEAD_LETTER_HEADERS.reason]).toBe('malformed');
      expect(String(d.info.headers[DEAD_LETTER_HEADERS.error])).toContain('ok must be true');
      expect(d.info.headers['x-test']).toBe('kept');
      await bus.send(q, { ok: true });
      await eventually(() => good.length === 2);
    });

    it('dead-letters at once on a non-retryable BriskError', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('rejected');
      await bus.assertQueue(q, { durable: true, deliveryLimit: 5 });
      const dead = await watchDeadLetters(bus, t);
      let calls = 0;
      await bus.consume(q, async () => {
        calls++;
        throw new BriskError('INTERNAL', 'will never work', { retryable: false });
      }, { prefetch: 1 });
      await bus.send(q, { id: 1 });
      await eventually(() => dead.length === 1);
      expect(calls).toBe(1);
      expect(dead[0]?.info.headers[DEAD_LETTER_HEADERS.reason]).toBe('rejected');
      expect(dead[0]?.info.headers[DEAD_LETTER_HEADERS.error]).toBe('will never work');
    });

    it('redelivers on a retryable failure, counting redeliveries, then dead-letters at the limit', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('retry');
      await bus.assertQueue(q, { durable: true, deliveryLimit: 3 });
      const dead = await watchDeadLetters(bus, t);
      const seen: number[] = [];
      await bus.consume(q, async (_b, info) => {
        seen.push(info.redeliveries);
        throw new Error('transient');
      }, { prefetch: 1 });
      await bus.send(q, { id: 'flaky' });
      await eventually(() => dead.length === 1);
      await quietWindow(QUIET_MS); // no attempt after the dead letter
      expect(seen).toEqual([0, 1, 2]);
      expect(dead[0]?.body).toEqual({ id: 'flaky' });
      expect(dead[0]?.info.headers[DEAD_LETTER_HEADERS.reason]).toBe('delivery-limit');
      expect(dead[0]?.info.headers[DEAD_LETTER_HEADERS.originalQueue]).toBe(q);
      expect(dead[0]?.info.headers[DEAD_LETTER_HEADERS.error]).toBe('transient');
    });

    it('an outage holds the message a moment and redelivers it uncounted: past the limit, never dead-lettered', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('outage');
      await bus.assertQueue(q, { durable: true, deliveryLimit: 2 });
      const dead = await watchDeadLetters(bus, t);
      const seen: { redeliveries: number; at: number }[] = [];
      await bus.consume(q, async (_b, info) => {
        seen.push({ redeliveries: info.redeliveries, at: Date.now() });
        if (seen.length <= 3) throw new ServiceUnavailableError('redis', 'connection refused');
      }, { prefetch: 1 });
      await bus.send(q, { id: 'waits-out-a-restart' });
      await eventually(() => seen.length === 4);
      await sleep(100);
      expect(seen.map((s) => s.redeliveries)).toEqual([0, 0, 0, 0]);
      // Held between attempts (timers may fire a millisecond early).
      for (let i = 1; i < seen.length; i++) expect((seen[i]?.at ?? 0) - (seen[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(OUTAGE_RETRY_MS - 5);
      expect(dead).toHaveLength(0);
    });

    it('a handed-back message is redelivered uncounted: past the limit, never dead-lettered', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('handback');
      await bus.assertQueue(q, { durable: true, deliveryLimit: 2 });
      const dead = await watchDeadLetters(bus, t);
      const seen: number[] = [];
      await bus.consume(q, async (_b, info) => {
        seen.push(info.redeliveries);
        if (seen.length <= 4) throw new HandedBackError('consumer stopping; left for another');
      }, { prefetch: 1 });
      await bus.send(q, { id: 'left-for-another' });
      await eventually(() => seen.length === 5);
      await sleep(100);
      expect(seen).toEqual([0, 0, 0, 0, 0]);
      expect(dead).toHaveLength(0);
    });

    it('a message that fails on the dead-letter queue itself is dropped, not dead-lettered again in a loop', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('dlq-loop');
      await bus.assertQueue(q, { durable: true });
      await bus.assertQueue(t.deadLetterQueue, { durable: true });
      let onDeadQueue = 0;
      await bus.consume(t.deadLetterQueue, async () => {
        onDeadQueue++;
        throw new BriskError('INTERNAL', 'the dead-letter handler is broken', { retryable: false });
      }, { prefetch: 1 });
      await bus.consume(q, async () => {
        throw new BriskError('INVALID_BODY', 'will never work', { retryable: false });
      }, { prefetch: 1 });
      await bus.send(q, { id: 1 });
      await eventually(() => onDeadQueue === 1);
      await sleep(300);
      expect(onDeadQueue).toBe(1);
      expect(await bus.queueDepth(t.deadLetterQueue)).toBe(0);
    });

    it('a message that fails once and then succeeds is handled once more and not dead-lettered', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('retry-ok');
      await bus.assertQueue(q, { durable: true });
      const dead = await watchDeadLetters(bus, t);
      const seen: number[] = [];
      await bus.consume(q, async (_b, info) => {
        seen.push(info.redeliveries);
        if (info.redeliveries === 0) throw new Error('first attempt fails');
      }, { prefetch: 1 });
      await bus.send(q, { id: 1 });
      await eventually(() => seen.length === 2);
      await quietWindow(QUIET_MS); // no third attempt, no dead letter
      expect(seen).toEqual([0, 1]);
      expect(dead).toHaveLength(0);
    });

    it('autoAck: a failing handler drops its message (no redelivery, no dead letter) and later messages still arrive', async () => {
      const { bus, topology: t, queue } = await setup();
      const q = queue('auto');
      await bus.assertQueue(q, { durable: false });
      const dead = await watchDeadLetters(bus, t);
      const seen: Array<{ id: number; redeliveries: number }> = [];
      await bus.consume<{ id: number }>(q, async (body, info) => {
        seen.push({ id: body.id, redeliveries: info.redeliveries });
        if (body.id === 1) throw new Error('handler failed');
      }, { prefetch: 10, autoAck: true });
      await bus.send(q, { id: 1 }, { confirm: false });
      await bus.send(q, { id: 2 }, { confirm: false });
      await eventually(() => seen.length === 2);
      await quietWindow(QUIET_MS); // the failed message is not redelivered
      expect(seen).toEqual([{ id: 1, redeliveries: 0 }, { id: 2, redeliveries: 0 }]);
      expect(dead).toHaveLength(0);
      expect(await bus.queueDepth(q)).toBe(0);
    });

    it('fans a topic message out to every subscriber, and stops after cancel', async () => {
      const { bus, queue } = await setup();
      const topic = queue('topic');
      const a: unknown[] = [];
      const b: unknown[] = [];
      const subA = await bus.subscribe(topic, (m) => void a.push(m));
      await bus.subscribe(topic, async (m) => void b.push(m));
      await bus.publish(topic, { beat: 1 });
      await eventually(() => a.length === 1 && b.length === 1);
      expect(a).toEqual([{ beat: 1 }]);
      expect(b).toEqual([{ beat: 1 }]);
      await subA.cancel();
      await bus.publish(topic, { beat: 2 });
      await eventually(() => b.length === 2);
      await quietWindow(QUIET_MS); // the cancelled subscriber gets nothing
      expect(a).toEqual([{ beat: 1 }]);
    });

    it('a failing topic subscriber does not stop the others', async () => {
      const { bus, queue } = await setup();
      const topic = queue('topic-fail');
      const ok: unknown[] = [];
      await bus.subscribe(topic, () => {
        throw new Error('subscriber bug');
      });
      await bus.subscribe(topic, (m) => void ok.push(m));
      await bus.publish(topic, 1);
      await bus.publish(topic, 2);
      await eventually(() => ok.length === 2);
      expect(ok).toEqual([1, 2]);
    });

    it('a delayed send waits in the bus, not in its queue, and arrives after the delay as it was sent', async () => {
      const { bus, queue } = await setup();
      const q = queue('delayed');
      await bus.assertQueue(q, { durable: true });
      const t0 = Date.now();
      await bus.send(q, { n: 1 }, { delayMs: 400, headers: { 'x-test': 'kept' } });
      // Not in the queue while it waits: no consumer can be holding it.
      expect(await bus.queueDepth(q)).toBe(0);
      await bus.send(q, { n: 2 });
      const got: { n: number; at: number; info: DeliveryInfo }[] = [];
      await bus.consume<{ n: number }>(q, async (body, info) => void got.push({ n: body.n, at: Date.now() - t0, info }), { prefetch: 10 });
      await eventually(() => got.length === 2);
      // The undelayed message sent after it overtook it; the delayed one came no earlier than asked
      // (less 1 ms: a timer counts from the event loop's clock, cached in whole ms at the start of
      // its turn, so by Date.now() a 400 ms timer may fire after 399 ms).
      expect(got.map((g) => g.n)).toEqual([2, 1]);
      expect(got[1]?.at).toBeGreaterThanOrEqual(399);
      expect(got[1]?.info.headers['x-test']).toBe('kept');
      expect(got[1]?.info.redeliveries).toBe(0);
    });

    it('delayed sends with different delays arrive in the order of their delays, each once', async () => {
      const { bus, queue } = await setup();
      const q = queue('delays');
      await bus.assertQueue(q, { durable: true });
      const got: string[] = [];
      await bus.consume<{ id: string }>(q, async (body) => void got.push(body.id), { prefetch: 10 });
      await bus.send(q, { id: 'late' }, { delayMs: 1200 });
      await bus.send(q, { id: 'soon' }, { delayMs: 200 });
      await bus.send(q, { id: 'now' });
      await eventually(() => got.length === 3);
      expect(got).toEqual(['now', 'soon', 'late']);
    });

    it('reports queue depth and deletes queues', async () => {
      const { bus, queue } = await setup();
      const q = queue('depth');
      await bus.assertQueue(q, { durable: true });
      expect(await bus.queueDepth(q)).toBe(0);
      for (let i = 0; i < 3; i++) await bus.send(q, { i });
      await eventually(async () => (await bus.queueDepth(q)) === 3);
      const got: unknown[] = [];
      await bus.consume(q, async (m) => void got.push(m), { prefetch: 10 });
      await eventually(() => got.length === 3);
      await eventually(async () => (await bus.queueDepth(q)) === 0);
      await bus.deleteQueue(q);
      await bus.assertQueue(q, { durable: true });
      expect(await bus.queueDepth(q)).toBe(0);
    });

    it('close is idempotent and the bus refuses work afterwards', async () => {
      const { bus, queue } = await setup();
      const q = queue('close');
      await bus.assertQueue(q, { durable: true });
      await bus.consume(q, async () => undefined, { prefetch: 1 });
      await Promise.all([bus.close(), bus.close()]);
      await bus.close();
      expect(bus.status).toBe('closed');
      const err = await bus.send(q, { late: true }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BriskError);
      expect((err as BriskError).retryable).toBe(true);
    });
  });
}
