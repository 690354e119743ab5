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

/**
 * Namespace slots a holder takes from the store at once, as a fraction of the
 * namespace's cap (as the rate limiter leases tokens): 2 % of 1000 is 20, so a
 * busy holder asks the store once per 20 calls instead of twice per call. Caps
 * under 50 lease one slot at a time, so small caps stay exact.
 */
const NS_LEASE_FRACTION = 0.02;
/** Leased namespace slots unused for this long are given back to the store. */
export const NS_LEASE_IDLE_MS = 1000;
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
 * What the store is spared (the hot path of every call):
 * - a function without a cap of its own (`maxConcurrency` 0, the default)
 *   has no counter in the store: its calls are counted here only;
 * - a namespace's slots are **leased** a batch at a time
 *   ({@link NS_LEASE_FRACTION} of its cap): a call takes a leased slot
 *   without a store call and gives it back to the lease; a lease unused for
 *   {@link NS_LEASE_IDLE_MS} goes back to the store. The cost: a holder may
 *   keep up to a batch of slots idle for that long, so another holder can be
 *   refused that many slots early; a lease that would pass the cap is not
 *   taken (one slot is asked for instead), so the cap itself is never passed.
 *   A function whose cap changes from none to some counts only the calls
 *   admitted after the change.
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
  /** Slots the store counts for this holder, per counter key (in use, plus leased and idle). */
  private readonly held = new Map<string, number>();
  /** Leased namespace slots not in use, per namespace counter key: how many, when one was last taken, the lease's batch. */
  private readonly spare = new Map<string, { n: number; usedAt: number; batch: number }>();
  /** A batch of namespace slots being leased, per namespace counter key (one at a time). */
  private readonly leasing = new Map<string, Promise<boolean>>();
  /** Calls in flight of functions without a cap (not counted in the store), per function counter key. */
  private readonly uncounted = new Map<string, number>();
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
    let lastRefresh = this.now();
    this.timer = setInterval(() => {
      this.returnIdleLeases();
      if (this.now() - lastRefresh < this.leaseMs / 3) return;
      lastRefresh = this.now();
      this.settleOwed()
        .then(() => this.publish(true))
        .then(() => this.reap())
        .catch((err: unknown) => this.o.logger.warn({ err }, 'concurrency holder refresh failed'));
    }, Math.min(NS_LEASE_IDLE_MS, Math.max(100, Math.floor(this.leaseMs / 3))));
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
    this.spare.clear();
    this.uncounted.clear();
    await Promise.all(held.map(([key, n]) => this.o.kv.incr(key, -n)));
    await this.o.kv.hdel(HOLDERS, this.o.holderId);
  }

  async tryAcquire(namespace: string, fnKey: string, fnMax: number, nsMax: number): Promise<boolean> {
    const nsKey = counterKey(`ns:${namespace}`);
    const fKey = counterKey(`fn:${fnKey}`);
    if (!(await this.takeNamespaceSlot(nsKey, nsMax))) return false;
    if (fnMax <= 0) {
      this.uncounted.set(fKey, (this.uncounted.get(fKey) ?? 0) + 1);
      return true;
    }
    let fn: number;
    try {
      fn = await this.o.kv.incr(fKey);
    } catch (err) {
      this.giveNamespaceSlot(nsKey);
      throw err;
    }
    if (fn > fnMax) {
      await this.decrement([fKey]);
      this.giveNamespaceSlot(nsKey);
      return false;
    }
    this.add(fKey, 1);
    this.schedulePublish();
    return true;
  }

  async release(namespace: string, fnKey: string): Promise<void> {
    const nsKey = counterKey(`ns:${namespace}`);
    const fKey = counterKey(`fn:${fnKey}`);
    const uncounted = this.uncounted.get(fKey) ?? 0;
    if (uncounted > 0) {
      if (uncounted === 1) this.uncounted.delete(fKey);
      else this.uncounted.set(fKey, uncounted - 1);
    } else {
      if ((this.held.get(fKey) ?? 0) === 0) return; // never more releases than acquires
      this.add(fKey, -1);
      await this.decrement([fKey]);
      this.schedulePublish();
    }
    this.giveNamespaceSlot(nsKey);
  }

  /**
   * One namespace slot: a spare leased one, else one from a new batch. A
   * namespace leases one batch at a time: callers that find no spare slot
   * while a batch is being leased wait for it instead of leasing their own
   * (64 callers at once would otherwise lease 64 batches, pass the cap and be
   * refused with nearly all of it idle). When a batch no longer fits under the
   * cap, one slot is asked for, so the cap is reached exactly.
   */
  private async takeNamespaceSlot(nsKey: string, nsMax: number): Promise<boolean> {
    const batch = nsMax >= 50 ? Math.floor(nsMax * NS_LEASE_FRACTION) : 1;
    // A few rounds at most: a burst larger than a batch takes the next one.
    for (let round = 0; batch > 1 && round < 4; round++) {
      if (this.takeSpare(nsKey)) return true;
      let leasing = this.leasing.get(nsKey);
      if (leasing === undefined) {
        leasing = this.lease(nsKey, batch, nsMax)
          .then((ok) => {
            if (ok) this.addSpare(nsKey, batch);
            return ok;
          })
          .finally(() => this.leasing.delete(nsKey));
        this.leasing.set(nsKey, leasing);
      }
      if (!(await leasing)) break;
    }
    if (this.takeSpare(nsKey)) return true;
    return this.lease(nsKey, 1, nsMax);
  }

  /** `n` slots from the store, counted as held; false (nothing kept) when they would pass the cap. */
  private async lease(nsKey: string, n: number, nsMax: number): Promise<boolean> {
    const value = await this.o.kv.incr(nsKey, n);
    if (nsMax > 0 && value > nsMax) {
      await this.o.kv.incr(nsKey, -n).catch((err: unknown) => {
        this.owed.set(nsKey, (this.owed.get(nsKey) ?? 0) + n);
        this.o.logger.warn({ err, key: nsKey }, 'concurrency slot release deferred');
      });
      return false;
    }
    this.add(nsKey, n);
    this.schedulePublish();
    return true;
  }

  private takeSpare(nsKey: string): boolean {
    const spare = this.spare.get(nsKey);
    if (spare === undefined || spare.n === 0) return false;
    spare.n--;
    spare.usedAt = this.now();
    return true;
  }

  private addSpare(nsKey: string, batch: number): void {
    const s = this.spare.get(nsKey) ?? { n: 0, usedAt: 0, batch };
    s.n += batch;
    s.usedAt = this.now();
    s.batch = batch;
    this.spare.set(nsKey, s);
  }

  /**
   * A namespace slot back to the lease. A lease keeps at most one batch
   * spare (the rest goes back to the store at once), and a single-slot lease
   * (a cap under 50) none, so small caps stay exact across holders.
   */
  private giveNamespaceSlot(nsKey: string): void {
    const s = this.spare.get(nsKey) ?? { n: 0, usedAt: this.now(), batch: 1 };
    s.n++;
    this.spare.set(nsKey, s);
    this.returnSpare(nsKey, s.batch > 1 ? s.n - s.batch : s.n);
  }

  /** Leases unused for {@link NS_LEASE_IDLE_MS} go back to the store. */
  private returnIdleLeases(): void {
    const now = this.now();
    for (const [nsKey, s] of this.spare) if (now - s.usedAt >= NS_LEASE_IDLE_MS) this.returnSpare(nsKey, s.n);
  }

  private returnSpare(nsKey: string, n: number): void {
    const s = this.spare.get(nsKey);
    if (s === undefined || n <= 0) return;
    s.n -= n;
    if (s.n === 0) this.spare.delete(nsKey);
    this.add(nsKey, -n);
    this.o.kv.incr(nsKey, -n).catch((err: unknown) => {
      this.owed.set(nsKey, (this.owed.get(nsKey) ?? 0) + n);
      this.o.logger.warn({ err, key: nsKey }, 'concurrency slot release deferred');
    });
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

  /** Calls this holder admitted and not yet released, in a namespace or of one function (tests, debugging). */
  heldBy(namespace: string, fnKey?: string): number {
    if (fnKey === undefined) {
      const key = counterKey(`ns:${namespace}`);
      return (this.held.get(key) ?? 0) - (this.spare.get(key)?.n ?? 0);
    }
    const key = counterKey(`fn:${fnKey}`);
    return (this.held.get(key) ?? 0) + (this.uncounted.get(key) ?? 0);
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
