import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { ObjectEvent } from '../../core/types.js';
import { BusUserQueues } from '../../triggers/bus-user-queues.js';
import { QueueConsumer, toMessageEvent } from '../../triggers/queue-consumer.js';
import { ScheduleRunner } from '../../triggers/schedule-runner.js';
import { StorageListener } from '../../triggers/storage-listener.js';
import { TriggerCatalog } from '../../triggers/trigger-catalog.js';
import { TriggerStore } from '../../triggers/trigger-store.js';
import type { QueueEvent, ScheduleEvent, StorageEvent, TriggerOf } from '../../triggers/types.js';
import { QUEUE_DEAD_HEADERS, type QueueDelivery } from '../../triggers/user-queues.js';
import { FakeFirer, MISSING_FUNCTION } from '../fakes/firer.js';
import { LeaseRecorder } from '../fakes/leases.js';
import { openTempKv } from '../helpers/temp-stores.js';
import { waitFor as until } from '../helpers/wait.js';

const logger = pino({ level: 'silent' });
const stamp = { namespace: 'default', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };

describe('ScheduleRunner', () => {
  const runners: ScheduleRunner[] = [];
  afterEach(() => {
    for (const r of runners.splice(0)) r.stop();
    vi.useRealTimers();
  });
  /** Half a second past a full second: the next tick is 500 ms away. */
  const T0 = Date.UTC(2026, 0, 1, 0, 0, 0, 500);
  /** The runner's clock (its default reads the globals at each call): time moves only when the test advances it. */
  const fakeTime = (): void => void vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });

  const tick: TriggerOf<'schedule'> = { type: 'schedule', name: 'tick', function: 'f', cron: '* * * * * *', timezone: 'UTC', data: { hello: 1 }, ...stamp };

  it('fires each tick once across two runners sharing a lease store, with the tick time in the event', async () => {
    fakeTime();
    const kv = await openTempKv();
    const firer = new FakeFirer();
    for (const id of ['s1', 's2']) {
      const r = new ScheduleRunner({ firer, kv, logger, ownerId: id });
      r.reconcile([tick]);
      runners.push(r);
    }
    await vi.advanceTimersByTimeAsync(2000);
    const times = firer.fired.map((f) => (f.event as ScheduleEvent).scheduledTime);
    expect(times).toEqual(['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z']);
    expect(firer.fired[0]?.event).toMatchObject({ type: 'schedule', trigger: 'schedule:tick', cron: '* * * * * *', timezone: 'UTC', data: { hello: 1 } });
  });

  it('skips a tick that comes more than 30 s late (a stalled process), then keeps the schedule', async () => {
    fakeTime();
    const firer = new FakeFirer();
    const r = new ScheduleRunner({ firer, kv: await openTempKv(), logger, ownerId: 's' });
    runners.push(r);
    r.reconcile([tick]);
    // The wall clock jumps a minute while the timers stand still, as in a process frozen for a minute.
    vi.setSystemTime(T0 + 60_000);
    await vi.advanceTimersByTimeAsync(500);
    expect(firer.fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(firer.fired.map((f) => (f.event as ScheduleEvent).scheduledTime)).toEqual(['2026-01-01T00:01:02.000Z']);
  });

  it('leases per tick: the same tick is fired once, the next one again', async () => {
    const kv = await openTempKv();
    const firer = new FakeFirer();
    const a = new ScheduleRunner({ firer, kv, logger, ownerId: 'a' });
    const b = new ScheduleRunner({ firer, kv, logger, ownerId: 'b' });
    const t0 = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(await a.fireTick(tick, t0)).toBeDefined();
    expect(await b.fireTick(tick, t0)).toBeUndefined();
    expect(await b.fireTick(tick, t0 + 1000)).toBeDefined();
    expect(await kv.get(`lease:schedule:default:tick:${t0}`)).toBe('a');
  });

  it('restarts a changed schedule and stops a removed one', async () => {
    const r = new ScheduleRunner({ firer: new FakeFirer(), kv: await openTempKv(), logger, ownerId: 'x' });
    runners.push(r);
    r.reconcile([tick, { ...tick, name: 'other' }]);
    expect(r.size).toBe(2);
    r.reconcile([{ ...tick, cron: '*/2 * * * * *' }]);
    expect(r.size).toBe(1);
    r.reconcile([]);
    expect(r.size).toBe(0);
  });
});

describe('StorageListener', () => {
  it('fires matching triggers once per event across two listeners', async () => {
    const bus = new MemoryBus({ prefix: 'unit-st' });
    const topology = new Topology('unit-st');
    const kv = await openTempKv();
    const store = new TriggerStore(kv);
    const firer = new FakeFirer();
    const leases = new LeaseRecorder();
    await store.put({ type: 'storage', name: 'all', function: 'f', bucket: 'uploads', events: ['created', 'deleted'], prefix: '', ...stamp });
    await store.put({ type: 'storage', name: 'del', function: 'g', bucket: 'uploads', events: ['deleted'], prefix: 'in/', ...stamp });
    await store.put({ type: 'storage', name: 'elsewhere', function: 'h', bucket: 'other', events: ['created'], prefix: '', ...stamp });
    const listeners = ['l1', 'l2'].map((id) => new StorageListener({ bus, topology, kv: leases.wrap(kv), triggers: store, firer, logger, ownerId: id }));
    for (const l of listeners) await l.start();
    const ev = (type: 'created' | 'deleted', key: string): ObjectEvent => ({ namespace: 'default', bucket: 'uploads', key, size: 5, type, at: new Date().toISOString() });
    await bus.publish(topology.objectEventsTopic, ev('created', 'in/a.txt'));
    await bus.publish(topology.objectEventsTopic, ev('deleted', 'in/a.txt'));
    await bus.publish(topology.objectEventsTopic, ev('deleted', 'out/b.txt'));
    await bus.publish(topology.objectEventsTopic, { bogus: true });
    // Four (trigger, event) pairs match; both listeners try each lease once. When all eight tries are answered, no late duplicate can come.
    await until(() => leases.attempts.length === 8 && leases.pending === 0);
    const seen = firer.fired.map((f) => `${f.trigger.name}:${(f.event as StorageEvent).event}:${(f.event as StorageEvent).key}`).sort();
    expect(seen).toEqual(['all:created:in/a.txt', 'all:deleted:in/a.txt', 'all:deleted:out/b.txt', 'del:deleted:in/a.txt']);
    expect(firer.fired[0]?.event).toMatchObject({ type: 'storage', bucket: 'uploads', size: 5 });
    for (const l of listeners) await l.stop();
  });
});

describe('QueueConsumer on the in-process queues', () => {
  const setup = async () => {
    const bus = new MemoryBus({ prefix: 'unit-q' });
    const queues = new BusUserQueues({ bus, prefix: 'unit-q' });
    const firer = new FakeFirer();
    const consumer = new QueueConsumer({ queues, firer, logger });
    return { bus, queues, firer, consumer };
  };
  const trigger = (over: Partial<TriggerOf<'queue'>> = {}): TriggerOf<'queue'> => ({
    type: 'queue',
    name: 'jobs',
    function: 'ok',
    queue: 'jobs',
    batchSize: 1,
    batchWindowMs: 50,
    concurrency: 2,
    deadLetter: 'queue',
    ...stamp,
    ...over,
  });

  it('acks after success, one invocation per message', async () => {
    const { queues, firer, consumer } = await setup();
    await consumer.reconcile([trigger()]);
    for (const i of [1, 2, 3]) await queues.send('default', 'jobs', Buffer.from(JSON.stringify({ i })), { contentType: 'application/json' });
    await until(async () => firer.fired.length === 3 && (await queues.depth('default', 'jobs')).messages === 0);
    const bodies = firer.fired.map((f) => (f.event as QueueEvent).messages.map((m) => m.body));
    expect(bodies.flat()).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
    expect(firer.fired[0]?.event).toMatchObject({ type: 'queue', trigger: 'queue:jobs', queue: 'jobs' });
    expect(await queues.depth('default', 'jobs')).toEqual({ messages: 0, deadLetters: 0 });
    await consumer.stop();
  });

  it('dead-letters after a final failure, with the reason in the headers', async () => {
    const { bus, queues, firer, consumer } = await setup();
    firer.outcome.set('bad', 'error');
    await consumer.reconcile([trigger({ function: 'bad' }), trigger({ name: 'gone', function: MISSING_FUNCTION, queue: 'gone' })]);
    await queues.send('default', 'jobs', Buffer.from('poison'));
    await queues.send('default', 'gone', Buffer.from('orphan'));
    await until(async () => (await queues.depth('default', 'jobs')).deadLetters === 1 && (await queues.depth('default', 'gone')).deadLetters === 1);
    const dead: QueueDelivery[] = [];
    await queues.consume('default', 'jobs.dead', (d) => {
      dead.push(d);
      void d.ack();
    }, { prefetch: 1 });
    await until(() => dead.length === 1);
    expect(dead[0]?.body.toString()).toBe('poison');
    expect(dead[0]?.headers).toMatchObject({ [QUEUE_DEAD_HEADERS.reason]: 'function-error', [QUEUE_DEAD_HEADERS.trigger]: 'queue:jobs' });
    await consumer.stop();
    void bus;
  });

  it('batches up to batchSize messages, sending a partial batch after the window', async () => {
    const { queues, firer, consumer } = await setup();
    await consumer.reconcile([trigger({ batchSize: 3, batchWindowMs: 100, concurrency: 1 })]);
    for (const i of [1, 2, 3, 4]) await queues.send('default', 'jobs', Buffer.from(String(i)));
    await until(() => firer.fired.length === 2);
    expect(firer.fired.map((f) => (f.event as QueueEvent).messages.map((m) => m.body))).toEqual([[1, 2, 3], [4]]);
    await consumer.stop();
  });

  it('hands unfinished messages back when stopped', async () => {
    const { queues, firer, consumer } = await setup();
    firer.outcome.set('slow', 'running');
    await consumer.reconcile([trigger({ function: 'slow' })]);
    await queues.send('default', 'jobs', Buffer.from('{}'));
    await until(() => firer.fired.length === 1);
    await consumer.stop();
    expect((await queues.depth('default', 'jobs')).messages).toBe(1);
  });

  it('decodes JSON, text and binary bodies', () => {
    const d = (body: Buffer, contentType?: string) =>
      ({ body, headers: {}, redelivered: false, ...(contentType ? { contentType } : {}) }) as unknown as QueueDelivery;
    expect(toMessageEvent(d(Buffer.from('{"a":1}')))).toMatchObject({ body: { a: 1 }, isBase64Encoded: false });
    expect(toMessageEvent(d(Buffer.from('{"a":1}'), 'text/plain'))).toMatchObject({ body: '{"a":1}', isBase64Encoded: false });
    expect(toMessageEvent(d(Buffer.from('plain words')))).toMatchObject({ body: 'plain words', isBase64Encoded: false });
    expect(toMessageEvent(d(Buffer.from([0xff, 0x00, 0xfe])))).toMatchObject({ body: '/wD+', isBase64Encoded: true });
  });
});

describe('TriggerCatalog', () => {
  it('reloads on a triggers-changed notice', async () => {
    const bus = new MemoryBus({ prefix: 'unit-cat' });
    const topology = new Topology('unit-cat');
    const store = new TriggerStore(await openTempKv());
    const catalog = new TriggerCatalog({ triggers: store, bus, topology, logger, refreshMs: 60_000 });
    const seen: number[] = [];
    catalog.onChange((all) => void seen.push(all.length));
    await catalog.start();
    await store.put({ type: 'topic', name: 't', function: 'f', topic: 'x', ...stamp });
    await bus.publish(topology.controlTopic, { kind: 'something-else' });
    await bus.publish(topology.controlTopic, { kind: 'triggers-changed', namespace: 'default' });
    await until(() => seen.at(-1) === 1);
    expect(seen[0]).toBe(0);
    await catalog.stop();
  });
});
