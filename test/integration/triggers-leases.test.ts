import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { ScheduleRunner } from '../../triggers/schedule-runner.js';
import { StorageListener } from '../../triggers/storage-listener.js';
import { TriggerStore } from '../../triggers/trigger-store.js';
import type { ScheduleEvent, Trigger, TriggerOf } from '../../triggers/types.js';
import { redisAvailable, requireService, startRedis, uniquePrefix, waitFor, type RedisHandle } from '../helpers/services.js';

const available = requireService('redis', await redisAvailable());
const logger = pino({ level: 'silent' });
const stamp = { namespace: 'default', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };

class RecordingFirer {
  readonly fired: { trigger: Trigger; event: any }[] = [];
  async fire(trigger: Trigger, event: unknown): Promise<string> {
    this.fired.push({ trigger, event });
    return `a${this.fired.length}`;
  }
}

/**
 * Several schedulers, each with its own Redis connection, as in a
 * distributed deployment: leases in Redis make every tick and every object
 * event fire once.
 */
describe.skipIf(!available)('trigger leases on Redis', () => {
  let redis: RedisHandle;
  const stores: RedisKeyValueStore[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await redis?.stop();
  });
  const kvs = async (n: number, prefix: string): Promise<RedisKeyValueStore[]> => {
    const list = Array.from({ length: n }, () => new RedisKeyValueStore({ url: redis.url, prefix }));
    await Promise.all(list.map((s) => s.waitUntilReady()));
    stores.push(...list);
    return list;
  };

  it('three schedule runners fire a 1-second cron once per tick', async () => {
    const firer = new RecordingFirer();
    const trigger: TriggerOf<'schedule'> = { type: 'schedule', name: 'every-second', function: 'f', cron: '* * * * * *', timezone: 'UTC', ...stamp };
    const runners = (await kvs(3, `${uniquePrefix('sched')}:`)).map((kv, i) => new ScheduleRunner({ firer, kv, logger, ownerId: `s${i}` }));
    const started = Date.now();
    for (const r of runners) r.reconcile([trigger]);
    await new Promise((r) => setTimeout(r, 3500));
    for (const r of runners) r.stop();
    const elapsedS = (Date.now() - started) / 1000;
    const ticks = firer.fired.map((f) => (f.event as ScheduleEvent).scheduledTime);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(elapsedS) - 1);
    expect(ticks.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
    // Consecutive seconds: nothing skipped.
    const secs = ticks.map((t) => Date.parse(t) / 1000).sort((a, b) => a - b);
    for (let i = 1; i < secs.length; i++) expect((secs[i] as number) - (secs[i - 1] as number)).toBe(1);
  });

  it('two storage listeners fire each object event once', async () => {
    const prefix = `${uniquePrefix('storage')}:`;
    const [kvA, kvB] = await kvs(2, prefix);
    const bus = new MemoryBus({ prefix: 'leases' });
    const topology = new Topology('leases');
    const firer = new RecordingFirer();
    const triggers = new TriggerStore(kvA as RedisKeyValueStore);
    await triggers.put({ type: 'storage', name: 'uploads', function: 'f', bucket: 'uploads', events: ['created', 'deleted'], prefix: '', ...stamp });
    const listeners = [kvA, kvB].map(
      (kv, i) => new StorageListener({ bus, topology, kv: kv as RedisKeyValueStore, triggers: new TriggerStore(kv as RedisKeyValueStore), firer, logger, ownerId: `l${i}` }),
    );
    for (const l of listeners) await l.start();
    for (let i = 0; i < 10; i++) {
      await bus.publish(topology.objectEventsTopic, { namespace: 'default', bucket: 'uploads', key: `k${i}`, size: i, type: 'created', at: new Date().toISOString() });
    }
    await waitFor(() => firer.fired.length >= 10);
    await new Promise((r) => setTimeout(r, 200));
    expect(firer.fired.map((f) => f.event.key).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
    for (const l of listeners) await l.stop();
  });
});
