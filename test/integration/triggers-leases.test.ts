import { pino } from 'pino';
import { afterEach, describe, expect } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { ScheduleRunner } from '../../triggers/schedule-runner.js';
import { StorageListener } from '../../triggers/storage-listener.js';
import { TriggerStore } from '../../triggers/trigger-store.js';
import type { ScheduleEvent, StorageEvent, TriggerOf } from '../../triggers/types.js';
import { ManualClock } from '../fakes/clock.js';
import { FakeFirer } from '../fakes/firer.js';
import { LeaseRecorder } from '../fakes/leases.js';
import { redisTest } from '../helpers/fixtures.js';
import { redisAvailable, requireService, uniquePrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const available = requireService('redis', await redisAvailable());
const logger = pino({ level: 'silent' });
const stamp = { namespace: 'default', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };

/**
 * Several schedulers, each with its own Redis connection, as in a
 * distributed deployment: leases in Redis make every tick and every object
 * event fire once.
 */
describe.skipIf(!available)('trigger leases on Redis', () => {
  const stores: RedisKeyValueStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  const kvs = async (url: string, n: number, prefix: string): Promise<RedisKeyValueStore[]> => {
    const list = Array.from({ length: n }, () => new RedisKeyValueStore({ url, prefix }));
    await Promise.all(list.map((s) => s.waitUntilReady()));
    stores.push(...list);
    return list;
  };

  redisTest('three schedule runners fire a 1-second cron once per tick', async ({ redis }) => {
    const firer = new FakeFirer<ScheduleEvent>();
    const leases = new LeaseRecorder();
    // One clock for the three runners, moved by the test: the ticks are exact, Redis keeps real time.
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 0, 500));
    const trigger: TriggerOf<'schedule'> = { type: 'schedule', name: 'every-second', function: 'f', cron: '* * * * * *', timezone: 'UTC', ...stamp };
    const runners = (await kvs(redis.url, 3, `${uniquePrefix('sched')}:`)).map(
      (kv, i) => new ScheduleRunner({ firer, kv: leases.wrap(kv), logger, ownerId: `s${i}`, clock }),
    );
    for (const r of runners) r.reconcile([trigger]);
    const TICKS = 5;
    for (let i = 1; i <= TICKS; i++) {
      clock.advance(1000);
      // Each runner tries the tick's lease once; when all three are answered the tick is settled.
      await waitFor(() => leases.attempts.length === 3 * i && leases.pending === 0);
    }
    for (const r of runners) r.stop();
    const ticks = Array.from({ length: TICKS }, (_, i) => new Date(Date.UTC(2026, 0, 1, 0, 0, i + 1)).toISOString());
    expect(firer.fired.map((f) => f.event.scheduledTime)).toEqual(ticks);
    for (const t of ticks) expect(leases.on(`lease:schedule:default:every-second:${Date.parse(t)}`).filter((a) => a.won)).toHaveLength(1);
  });

  redisTest('two storage listeners fire each object event once', async ({ redis }) => {
    const prefix = `${uniquePrefix('storage')}:`;
    const [kvA, kvB] = (await kvs(redis.url, 2, prefix)) as [RedisKeyValueStore, RedisKeyValueStore];
    const bus = new MemoryBus({ prefix: 'leases' });
    const topology = new Topology('leases');
    const firer = new FakeFirer<StorageEvent>();
    const leases = new LeaseRecorder();
    const triggers = new TriggerStore(kvA);
    await triggers.put({ type: 'storage', name: 'uploads', function: 'f', bucket: 'uploads', events: ['created', 'deleted'], prefix: '', ...stamp });
    const listeners = [kvA, kvB].map(
      (kv, i) => new StorageListener({ bus, topology, kv: leases.wrap(kv), triggers: new TriggerStore(kv), firer, logger, ownerId: `l${i}` }),
    );
    for (const l of listeners) await l.start();
    for (let i = 0; i < 10; i++) {
      await bus.publish(topology.objectEventsTopic, { namespace: 'default', bucket: 'uploads', key: `k${i}`, size: i, type: 'created', at: new Date().toISOString() });
    }
    // Both listeners try each event's lease; when all twenty tries are answered no late duplicate can come.
    await waitFor(() => leases.attempts.length === 20 && leases.pending === 0);
    expect(firer.fired.map((f) => f.event.key).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
    for (const l of listeners) await l.stop();
  });
});
