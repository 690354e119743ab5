import type { Logger } from '../core/logger.js';
import type { KeyValueStore } from '../storage/types.js';
import type { ConcurrencyCounter } from './concurrency-limiter.js';

export interface KvConcurrencyCounterOptions {
  kv: KeyValueStore;
  /** This scheduler's id: names its holder entry. */
  holderId: string;
  logger: Logger;
  /**
   * A holder silent for this long counts as crashed and its slots are given
   * back by whichever scheduler notices first. Default {@link DEFAULT_HOLDER_LEASE_MS}.
   */
  leaseMs?: number;
  now?: () => number;
}

/**
 * Long enough that a scheduler busy with a burst (or a GC pause) is not
 * mistaken for a dead one; short enough that a crashed scheduler's slots come
 * back before a user notices a function stuck at its limit.
 */
export const DEFAULT_HOLDER_LEASE_MS = 15_000;

const HOLDERS = 'concurrency:holders';
const counterKey = (name: string): string => `concurrency:${name}`;

/** What one scheduler last published about the slots it holds. */
interface HolderSnapshot {
  at: number;
  held: Record<string, number>;
}

/**
 * {@link ConcurrencyCounter} shared by several schedulers, on the key-value
 * store's atomic `incr`: one counter per namespace and one per function.
 * Acquire increments and, over the cap, takes the increment back; release
 * decrements.
 *
 * Crash safety (the trade-off): a counter has no TTL — a slot lives as long
 * as its run. Instead every scheduler keeps a holder entry in the collection
 * `concurrency:holders` (the slots it holds and a timestamp, rewritten on each
 * change and every lease/3). When a holder's timestamp is older than the
 * lease, another scheduler claims the right to reap it (a `set ifAbsent`
 * marker, so exactly one does) and subtracts its slots from the counters. So
 * a crashed scheduler's slots come back within about one lease; what it cannot
 * cover is a crash between the counter increment and the holder write (two
 * consecutive store calls), which can leak one slot per crash. A scheduler
 * that was only frozen past its lease finds its reap marker on the next write
 * and adds its slots back.
 */
export class KvConcurrencyCounter implements ConcurrencyCounter {
  private readonly held = new Map<string, number>();
  private readonly leaseMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private publishPending = false;
  /** Decrements the store did not take (an outage), per counter key. */
  private readonly owed = new Map<string, number>();
  /** The holder write scheduled by the last acquire or release. */
  private scheduled: Promise<void> = Promise.resolve();
  /** Serialises holder writes so an older snapshot never lands after a newer one. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly o: KvConcurrencyCounterOptions) {
    this.leaseMs = o.leaseMs ?? DEFAULT_HOLDER_LEASE_MS;
    this.now = o.now ?? Date.now;
  }

  /** Publish the (empty) holder entry, reap dead holders, and keep doing both every lease/3. */
  async start(): Promise<void> {
    await this.publish();
    await this.reap();
    this.timer = setInterval(() => {
      this.settleOwed()
        .then(() => this.publish(true))
        .then(() => this.reap())
        .catch((err: unknown) => this.o.logger.warn({ err }, 'concurrency holder refresh failed'));
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** Give back every slot still held (their completions will not reach a stopped scheduler) and leave. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.settleOwed().catch(() => undefined);
    const held = [...this.held];
    this.held.clear();
    await Promise.all(held.map(([key, n]) => this.o.kv.incr(key, -n)));
    await this.o.kv.hdel(HOLDERS, this.o.holderId);
  }

  async tryAcquire(namespace: string, fnKey: string, fnMax: number, nsMax: number): Promise<boolean> {
    const nsKey = counterKey(`ns:${namespace}`);
    const fKey = counterKey(`fn:${fnKey}`);
    // Both counters in one round trip; over either cap, both increments are taken back.
    const [ns, fn] = await Promise.allSettled([this.o.kv.incr(nsKey), this.o.kv.incr(fKey)]);
    if (ns.status === 'rejected' || fn.status === 'rejected') {
      // The store failed half-way (an outage): take back the half that counted.
      if (ns.status === 'fulfilled') await this.decrement([nsKey]);
      if (fn.status === 'fulfilled') await this.decrement([fKey]);
      throw ns.status === 'rejected' ? ns.reason : (fn as PromiseRejectedResult).reason;
    }
    if ((nsMax > 0 && ns.value > nsMax) || (fnMax > 0 && fn.value > fnMax)) {
      await this.decrement([fKey, nsKey]);
      return false;
    }
    this.add(nsKey, 1);
    this.add(fKey, 1);
    this.schedulePublish();
    return true;
  }

  async release(namespace: string, fnKey: string): Promise<void> {
    const nsKey = counterKey(`ns:${namespace}`);
    const fKey = counterKey(`fn:${fnKey}`);
    if ((this.held.get(fKey) ?? 0) === 0) return; // never more releases than acquires
    this.add(nsKey, -1);
    this.add(fKey, -1);
    await this.decrement([fKey, nsKey]);
    this.schedulePublish();
  }

  /**
   * Take slots back in the store. What cannot be taken back now (the store is
   * down) is owed and settled by the periodic refresh, so an outage during a
   * release does not leak the slot.
   */
  private async decrement(keys: string[]): Promise<void> {
    await Promise.all(
      keys.map((key) =>
        this.o.kv.incr(key, -1).catch((err: unknown) => {
          this.owed.set(key, (this.owed.get(key) ?? 0) + 1);
          this.o.logger.warn({ err, key }, 'concurrency slot release deferred');
        }),
      ),
    );
  }

  /** Settle releases deferred by an outage. */
  private async settleOwed(): Promise<void> {
    for (const [key, n] of [...this.owed]) {
      await this.o.kv.incr(key, -n);
      this.owed.delete(key);
    }
  }

  /**
   * Rewrite the holder entry soon, off the dispatch path: one write in flight
   * at a time, carrying the latest counts (a burst of acquires costs one or two
   * writes, not one each). A crash before it lands is the leak window above.
   */
  private schedulePublish(): void {
    if (this.publishPending) return;
    this.publishPending = true;
    this.scheduled = this.writing
      .then(() => {
        this.publishPending = false;
        return this.publish();
      })
      .catch((err: unknown) => this.o.logger.warn({ err }, 'concurrency holder write failed'));
  }

  /** Resolves once the holder entry written last reflects every acquire and release so far. */
  async flush(): Promise<void> {
    await this.scheduled;
    await this.writing;
  }

  /** Slots this scheduler holds for a counter key (tests, debugging). */
  heldBy(namespace: string, fnKey?: string): number {
    return this.held.get(counterKey(fnKey === undefined ? `ns:${namespace}` : `fn:${fnKey}`)) ?? 0;
  }

  private add(key: string, by: number): void {
    const n = (this.held.get(key) ?? 0) + by;
    if (n <= 0) this.held.delete(key);
    else this.held.set(key, n);
  }

  /** Rewrite the holder entry; `checkReaped` (the periodic refresh) also looks for a reap marker. */
  private publish(checkReaped = false): Promise<void> {
    const run = async (): Promise<void> => {
      if (checkReaped && (await this.o.kv.delete(reapedMarker(this.o.holderId)))) {
        // We were taken for dead while only slow: our slots were subtracted; add them back.
        this.o.logger.error({ holderId: this.o.holderId }, 'concurrency slots were reaped while this scheduler lived; restoring them');
        await Promise.all([...this.held].map(([key, n]) => this.o.kv.incr(key, n)));
      }
      // What the store counts for this scheduler: slots held, and releases it still owes.
      const counted = new Map(this.held);
      for (const [key, n] of this.owed) counted.set(key, (counted.get(key) ?? 0) + n);
      const snap: HolderSnapshot = { at: this.now(), held: Object.fromEntries(counted) };
      await this.o.kv.hset(HOLDERS, this.o.holderId, JSON.stringify(snap));
    };
    this.writing = this.writing.then(run, run);
    return this.writing;
  }

  /** Give back the slots of holders silent for longer than the lease. */
  private async reap(): Promise<void> {
    const holders = await this.o.kv.hgetall(HOLDERS);
    for (const [id, json] of Object.entries(holders)) {
      if (id === this.o.holderId) continue;
      const snap = JSON.parse(json) as HolderSnapshot;
      if (this.now() - snap.at < this.leaseMs) continue;
      // Exactly one reaper per dead holder; the marker outlives any plausible freeze.
      if (!(await this.o.kv.set(reapedMarker(id), '1', { ifAbsent: true, ttlMs: 24 * 3600 * 1000 }))) continue;
      await Promise.all(Object.entries(snap.held).map(([key, n]) => this.o.kv.incr(key, -n)));
      await this.o.kv.hdel(HOLDERS, id);
      this.o.logger.warn({ holderId: id, held: snap.held }, 'reaped the concurrency slots of a silent scheduler');
    }
  }
}

function reapedMarker(holderId: string): string {
  return `concurrency:reaped:${holderId}`;
}
