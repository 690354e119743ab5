import { createHash } from 'node:crypto';
import type { Topology } from '../bus/topology.js';
import type { Bus, Subscription } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import { objectEventSchema } from '../core/schemas.js';
import type { ObjectEvent } from '../core/types.js';
import type { KeyValueStore } from '../storage/types.js';
import type { TriggerInvoker } from './trigger-invoker.js';
import type { TriggerStore } from './trigger-store.js';
import { triggerLabel, type StorageEvent, type TriggerOf } from './types.js';

/**
 * Runs `storage` triggers in the scheduler role: listens to the object events
 * Brisk's object API publishes on `topology.objectEventsTopic` and invokes
 * every storage trigger of the event's namespace whose bucket, event type and
 * key prefix match.
 *
 * The topic is fan-out, so with several schedulers each one sees every event;
 * a lease per (trigger, event) in the key-value store lets exactly one of them
 * fire. The event's identity is its `eventId`, or, from a publisher that sets
 * none, a hash of bucket, key, type, size and time (the same on every
 * scheduler). The triggers are read from the store per event, so a trigger
 * works from the moment its PUT returns.
 */
export class StorageListener {
  private subscription: Subscription | undefined;

  constructor(
    private readonly deps: {
      bus: Bus;
      topology: Topology;
      kv: Pick<KeyValueStore, 'set'>;
      triggers: Pick<TriggerStore, 'list'>;
      firer: Pick<TriggerInvoker, 'fire'>;
      logger: Logger;
      ownerId: string;
      /** Long enough for every scheduler to have seen the event (an hour). */
      leaseTtlMs?: number;
    },
  ) {}

  async start(): Promise<void> {
    this.subscription = await this.deps.bus.subscribe(this.deps.topology.objectEventsTopic, async (raw) => {
      await this.onEvent(raw);
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
    this.subscription = undefined;
  }

  /** Handle one object event; resolves with the activation ids this scheduler started. Never rejects. */
  async onEvent(raw: unknown): Promise<string[]> {
    const parsed = objectEventSchema.safeParse(raw);
    if (!parsed.success) {
      this.deps.logger.warn({ issues: parsed.error.issues }, 'malformed object event ignored');
      return [];
    }
    const ev: ObjectEvent = parsed.data;
    let triggers: TriggerOf<'storage'>[];
    try {
      triggers = (await this.deps.triggers.list(ev.namespace)).filter(
        (t): t is TriggerOf<'storage'> =>
          t.type === 'storage' && t.bucket === ev.bucket && t.events.includes(ev.type) && ev.key.startsWith(t.prefix),
      );
    } catch (err) {
      this.deps.logger.error({ err, namespace: ev.namespace }, 'storage triggers not read; object event dropped');
      return [];
    }
    const ids = await Promise.all(triggers.map((t) => this.fire(t, ev)));
    return ids.filter((id): id is string => id !== undefined);
  }

  private async fire(t: TriggerOf<'storage'>, ev: ObjectEvent): Promise<string | undefined> {
    const lease = `lease:storage:${t.namespace}:${t.name}:${eventIdentity(ev)}`;
    try {
      const ours = await this.deps.kv.set(lease, this.deps.ownerId, { ifAbsent: true, ttlMs: this.deps.leaseTtlMs ?? 3600_000 });
      if (!ours) return undefined;
      const event: StorageEvent = {
        type: 'storage',
        trigger: triggerLabel(t),
        event: ev.type,
        bucket: ev.bucket,
        key: ev.key,
        size: ev.size,
        at: ev.at,
      };
      return await this.deps.firer.fire(t, event);
    } catch (err) {
      this.deps.logger.error({ err, trigger: t.name, bucket: ev.bucket, key: ev.key }, 'storage trigger not fired');
      return undefined;
    }
  }
}

/** The same string on every scheduler for the same event. */
export function eventIdentity(ev: ObjectEvent): string {
  if (ev.eventId !== undefined) return ev.eventId;
  return createHash('sha256').update(JSON.stringify([ev.bucket, ev.key, ev.type, ev.size, ev.at])).digest('hex').slice(0, 32);
}
