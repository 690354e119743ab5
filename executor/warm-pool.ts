import { performance } from 'node:perf_hooks';
import { backoffDelay, type Backoff } from '../core/backoff.js';
import { BuildError, PlatformError, ThrottledError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FunctionVersion, StartKind, WarmInstanceInfo } from '../core/types.js';
import type { InitRequest } from '../runtime/protocol.js';
import type { ExecutorBackend, Instance } from './types.js';

/** What /init gets beyond the version's own settings (see {@link WarmPoolOptions.prepareInit}). */
export interface InitPayload {
  code: string;
  /** Writes the version's package files into a directory (the instance's); absent when it has none. */
  fillPackage?: (dest: string) => Promise<void>;
  /** Added to the function's env (e.g. decrypted secrets); never logged or stored. */
  env?: Record<string, string>;
  platform?: InitRequest['platform'];
}

export interface WarmPoolOptions {
  backend: ExecutorBackend;
  /**
   * What an instance is loaded with for a version: the bundle text (usually
   * from a cache over the object store) and anything the platform adds to
   * /init (secrets into env, the platform API token).
   */
  prepareInit: (fn: FunctionVersion) => Promise<InitPayload>;
  /** Budget: the sum of memoryMb of all live instances never exceeds it. */
  memoryMb: number;
  /** Idle loaded instances are destroyed after this long unused. */
  idleTtlMs: number;
  /** Generic pre-started instances kept per size in `poolMemorySizes` when quiet. */
  poolSize: number;
  /** Upper bound the adaptive pool target may grow to. */
  poolMax: number;
  /** Memory sizes that get a generic pool from the start. Default [256]. */
  poolMemorySizes?: number[];
  /** Without a cold start for this long, a grown pool target falls back. Default 60 s. */
  poolQuietMs?: number;
  /** How often idle instances are checked. Default: half the shorter of idleTtlMs and pauseIdleAfterMs, between 10 ms and 1 s. */
  sweepIntervalMs?: number;
  /**
   * Pause (Docker: freeze) loaded instances idle for this long, if the backend
   * supports it; they are resumed on the next warm hit. Undefined: never pause.
   */
  pauseIdleAfterMs?: number;
  /**
   * After a failed pre-start, wait this long before trying again; doubled
   * with each failed round in a row, up to {@link REFILL_BACKOFF_MAX_MS}.
   * Default 1 s.
   */
  refillBackoffMs?: number;
  logger?: Logger;
}

/**
 * The function's code failed to load (threw on import, lacks its handler) on
 * an instance obtained as `startKind` in `startMs`: the function's fault,
 * with what its activation record says about the start.
 */
export class FunctionLoadError extends BuildError {
  constructor(cause: BuildError, readonly startKind: StartKind, readonly startMs: number) {
    super(cause.message, cause.data, cause.code);
  }
}

export interface AcquiredInstance {
  instance: Instance;
  startKind: StartKind;
  /** Time spent obtaining (and initialising) the instance, in ms. */
  startMs: number;
}

/** The pool's part of an executor heartbeat. */
export interface WarmPoolStats {
  memoryMb: number;
  memoryUsedMb: number;
  /** Instances handed out (or being prepared for an acquire). */
  inFlight: number;
  /** Generic instances ready, per memory size. */
  pool: Record<string, number>;
  warm: WarmInstanceInfo[];
}

/**
 * Life of a slot:
 * starting → stem (generic, in the pool) → initializing → busy ⇄ idle → destroying
 * starting → initializing (a cold start)
 */
type SlotState = 'starting' | 'stem' | 'initializing' | 'busy' | 'idle' | 'destroying';

interface Slot {
  readonly seq: number;
  readonly memoryMb: number;
  readonly allowEgress: boolean;
  state: SlotState;
  /** Why a starting slot exists: a pool refill, or a cold start for an acquire. */
  purpose: 'stem' | 'acquire';
  instance?: Instance;
  fn?: FunctionVersion;
  fnKey?: string;
  lastUsed: number;
  /** Counts against the budget; false once its memory was handed to a new slot. */
  counted: boolean;
  /** A starting slot that was evicted before its instance existed. */
  cancelled: boolean;
  /** Calls running on a busy instance: up to its function's `concurrency`. */
  runs: number;
  /** Takes no new call and is destroyed when its last call ends (one of its calls failed it). */
  retiring: boolean;
  /** Pending or done pause; cleared by resume. */
  paused?: Promise<void>;
  destroyed?: Promise<void>;
  creating?: Promise<Instance | undefined>;
}

/** Adaptive target of one generic pool (memory size + egress). */
interface PoolTarget {
  readonly memoryMb: number;
  readonly allowEgress: boolean;
  /** Where the target falls back to when quiet. */
  readonly base: number;
  target: number;
  lastColdAt: number;
  retryAt: number;
}

/** Rethrow a load failure with how the instance was obtained; anything else as it is. */
function loadFailed(err: unknown, startKind: StartKind, t0: number): never {
  if (err instanceof BuildError) throw new FunctionLoadError(err, startKind, performance.now() - t0);
  throw err;
}

/**
 * Which loaded instances may serve a version. Version numbers are reused: a
 * function deleted and deployed again (or a namespace deleted and created
 * again) starts at 1, so `createdAt` is part of the key, or the new version 1
 * would run in an instance loaded with the old one's code, env and secrets.
 */
const fnKeyOf = (fn: FunctionVersion): string => `${fn.namespace}/${fn.name}@${fn.version}@${fn.createdAt}`;
const poolKeyOf = (memoryMb: number, allowEgress: boolean): string => `${memoryMb}:${allowEgress ? 'egress' : 'sealed'}`;

/**
 * Cap on the pause between pre-start rounds that keep failing (a backend
 * down): long enough not to hammer it, short enough that the pool is full
 * again soon after it is back (a cold start meanwhile creates its own instance).
 */
export const REFILL_BACKOFF_MAX_MS = 10_000;

/**
 * Instances for an executor, over any {@link ExecutorBackend}: warm (loaded
 * with the exact function version, idle), generic pre-started "stem cells" per
 * memory size that a cold function can `/init` into, and fresh ones. Keeps the
 * sum of instance memory within a budget by evicting idle instances, least
 * recently used first.
 *
 * Every choice of an instance happens synchronously before the first await, so
 * two concurrent acquires never get the same one.
 */
export class WarmPool {
  private readonly slots = new Set<Slot>();
  private readonly byInstance = new Map<Instance, Slot>();
  private readonly pools = new Map<string, PoolTarget>();
  private readonly sweepTimer: NodeJS.Timeout;
  private refillTimer: NodeJS.Timeout | undefined;
  private readonly refillBackoff: Backoff;
  /** Pre-start rounds that failed in a row (reset by a success). */
  private refillFailures = 0;
  /** The pause of the current failed round. */
  private refillHoldMs = 0;
  private readonly changeWaiters = new Set<() => void>();
  private seq = 0;
  private closing = false;
  private closePromise: Promise<void> | undefined;

  constructor(private readonly opts: WarmPoolOptions) {
    const initialMs = opts.refillBackoffMs ?? 1000;
    this.refillBackoff = { type: 'exponential', initialMs, maxMs: Math.max(initialMs, REFILL_BACKOFF_MAX_MS) };
    const now = Date.now();
    for (const memoryMb of opts.poolMemorySizes ?? [256]) {
      this.pools.set(poolKeyOf(memoryMb, false), { memoryMb, allowEgress: false, base: opts.poolSize, target: opts.poolSize, lastColdAt: now, retryAt: 0 });
    }
    const idleStep = Math.min(opts.idleTtlMs, opts.pauseIdleAfterMs ?? Number.POSITIVE_INFINITY);
    const sweepMs = opts.sweepIntervalMs ?? Math.max(10, Math.min(1000, Math.floor(idleStep / 2)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    // Housekeeping must never keep the process alive.
    this.sweepTimer.unref();
  }

  /** Pre-start the configured pools (in the background; failures are retried). */
  start(): void {
    this.refill();
  }

  /**
   * An instance loaded with `fn`: an idle warm one, else a generic one from the
   * pool initialised now, else a new one. Throws ThrottledError `EXECUTOR_FULL`
   * when the budget cannot fit it, BuildError when the function fails to init,
   * InstanceFailure / PlatformError when the backend does.
   */
  async acquire(fn: FunctionVersion): Promise<AcquiredInstance> {
    if (this.closing) throw new PlatformError('EXECUTOR_DRAINING', 'executor is draining', { retryable: true });
    const t0 = performance.now();
    const key = fnKeyOf(fn);

    // A function with concurrency > 1: a call joins a busy instance of its version while it has a free place.
    const shared = this.takeShared(key, fn.concurrency ?? 1);
    if (shared !== undefined) return { instance: shared.instance!, startKind: 'warm', startMs: performance.now() - t0 };

    for (let warm = this.takeIdle(key); warm !== undefined; warm = this.takeIdle(key)) {
      if (await this.wake(warm)) return { instance: warm.instance!, startKind: 'warm', startMs: performance.now() - t0 };
    }

    const code = this.opts.prepareInit(fn);
    // Observed below on every path; this keeps an early throw from leaving it unhandled.
    code.catch(() => undefined);

    const stem = this.takeStem(fn.memoryMb, fn.allowEgress);
    if (stem !== undefined) {
      await this.initSlot(stem, fn, code).catch((err: unknown) => loadFailed(err, 'pool', t0));
      return { instance: stem.instance!, startKind: 'pool', startMs: performance.now() - t0 };
    }

    const slot = await this.createForAcquire(fn.memoryMb, fn.allowEgress);
    this.recordColdStart(fn.memoryMb, fn.allowEgress);
    await this.initSlot(slot, fn, code).catch((err: unknown) => loadFailed(err, 'cold', t0));
    return { instance: slot.instance!, startKind: 'cold', startMs: performance.now() - t0 };
  }

  /**
   * Hand back one call's use of an instance: idle for reuse when healthy and
   * its last call, destroyed when unhealthy. An instance shared by several
   * calls (concurrency > 1) that one call found unhealthy takes no new call
   * and is destroyed when its other calls end.
   */
  release(instance: Instance, { healthy }: { healthy: boolean }): void {
    const slot = this.byInstance.get(instance);
    if (slot === undefined) {
      void instance.destroy().catch((err: unknown) => this.opts.logger?.warn({ err }, 'destroying an unknown instance failed'));
      return;
    }
    if (slot.state !== 'busy') return;
    slot.runs = Math.max(0, slot.runs - 1);
    if (!healthy || this.closing) slot.retiring = true;
    if (slot.runs > 0) {
      this.changed();
      return;
    }
    if (slot.retiring) {
      this.destroySlot(slot);
      return;
    }
    slot.state = 'idle';
    slot.lastUsed = Date.now();
    this.changed();
  }

  stats(): WarmPoolStats {
    const pool: Record<string, number> = {};
    for (const p of this.pools.values()) pool[String(p.memoryMb)] ??= 0;
    const warm: WarmInstanceInfo[] = [];
    let inFlight = 0;
    for (const s of this.slots) {
      if (s.state === 'stem') pool[String(s.memoryMb)] = (pool[String(s.memoryMb)] ?? 0) + 1;
      const acquired = s.state === 'busy' || s.state === 'initializing' || (s.state === 'starting' && s.purpose === 'acquire');
      if (acquired) inFlight += s.state === 'busy' ? Math.max(1, s.runs) : 1;
      if (s.fn !== undefined && (s.state === 'idle' || s.state === 'busy' || s.state === 'initializing')) {
        warm.push({ namespace: s.fn.namespace, function: s.fn.name, version: s.fn.version, state: s.state === 'idle' ? 'idle' : 'busy' });
      }
    }
    return { memoryMb: this.opts.memoryMb, memoryUsedMb: this.usedMb(), inFlight, pool, warm };
  }

  /** Current pool targets per memory size (summed over egress), for tests and debugging. */
  poolTargets(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.pools.values()) out[String(p.memoryMb)] = (out[String(p.memoryMb)] ?? 0) + p.target;
    return out;
  }

  /**
   * Stop pre-starting, destroy every idle and generic instance, wait for the
   * busy ones to come back (they are destroyed on release), then resolve.
   * After `graceMs` (default: no limit) instances still busy are destroyed
   * under their callers, whose runs then fail. Idempotent: later calls share
   * the first one's promise.
   */
  drain(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing = true;
      clearInterval(this.sweepTimer);
      if (this.refillTimer) clearTimeout(this.refillTimer);
      for (const s of [...this.slots]) {
        if (s.state === 'stem' || s.state === 'idle' || (s.state === 'starting' && s.purpose === 'stem')) this.destroySlot(s);
      }
      const force = Number.isFinite(graceMs)
        ? setTimeout(() => {
            // Cold starts still being created notice `closing` themselves.
            for (const s of [...this.slots]) if (s.state !== 'starting') this.destroySlot(s);
          }, Math.max(0, graceMs))
        : undefined;
      while (this.slots.size > 0) await this.nextChange();
      clearTimeout(force);
    })();
    return this.closePromise;
  }

  /** Same as {@link drain}; idempotent. */
  close(graceMs?: number): Promise<void> {
    return this.drain(graceMs);
  }

  // ---------------------------------------------------------------------------
  // Choosing

  /** The most recently used idle instance of exactly this version, marked busy. */
  private takeIdle(key: string): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.state === 'idle' && s.fnKey === key && (best === undefined || s.lastUsed > best.lastUsed)) best = s;
    }
    if (best) {
      best.state = 'busy';
      best.runs = 1;
    }
    return best;
  }

  /**
   * A busy instance of exactly this version with a free place (`concurrency`
   * above its calls), one more call counted. The fullest one first, so calls
   * pack onto few instances and the others can idle and be reclaimed.
   */
  private takeShared(key: string, concurrency: number): Slot | undefined {
    if (concurrency <= 1) return undefined;
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.state === 'busy' && s.fnKey === key && !s.retiring && s.runs < concurrency && (best === undefined || s.runs > best.runs)) best = s;
    }
    if (best) {
      best.runs++;
      best.lastUsed = Date.now();
    }
    return best;
  }

  /** Resume a paused warm instance; on failure destroy it and report false. */
  private async wake(slot: Slot): Promise<boolean> {
    if (slot.paused === undefined) return true;
    try {
      await slot.paused;
      slot.paused = undefined;
      await slot.instance!.resume?.();
      return true;
    } catch (err) {
      this.opts.logger?.warn({ err, fn: slot.fnKey }, 'resuming an idle instance failed; destroying it');
      slot.state = 'busy';
      this.destroySlot(slot);
      return false;
    }
  }

  /**
   * Resume a paused instance that is about to be destroyed: a pause still in
   * flight would race the removal, and a frozen process may not die of its
   * kill until thawed. A failure only means it goes frozen.
   */
  private async thaw(slot: Slot, instance: Instance): Promise<void> {
    try {
      await slot.paused;
      slot.paused = undefined;
      await instance.resume?.();
    } catch (err) {
      this.opts.logger?.debug({ err, slot: slot.seq }, 'resuming an instance before destroying it failed');
    }
  }

  private takeStem(memoryMb: number, allowEgress: boolean): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.state === 'stem' && s.memoryMb === memoryMb && s.allowEgress === allowEgress && (best === undefined || s.lastUsed < best.lastUsed)) best = s;
    }
    if (best) best.state = 'initializing';
    return best;
  }

  private async initSlot(slot: Slot, fn: FunctionVersion, code: Promise<InitPayload>): Promise<void> {
    slot.state = 'initializing';
    let payload: InitPayload;
    try {
      payload = await code;
    } catch (err) {
      // The instance is untouched: give it back to the pool.
      if (slot.state === 'initializing') {
        slot.state = 'stem';
        slot.purpose = 'stem';
        if (this.closing) this.destroySlot(slot);
        this.changed();
      }
      throw err;
    }
    slot.fn = fn;
    slot.fnKey = fnKeyOf(fn);
    // Replace the generic instance just taken (or grow after a cold start) while
    // this one initialises. Not earlier: a failed code load hands the instance back.
    this.refill();
    let packageDir: string | undefined;
    try {
      if (payload.fillPackage) packageDir = await slot.instance!.preparePackage(payload.fillPackage);
    } catch (err) {
      // Its package directory may be half filled: never hand this instance to another function.
      this.destroySlot(slot);
      throw err;
    }
    const req: InitRequest = {
      namespace: fn.namespace,
      name: fn.name,
      version: fn.version,
      code: payload.code,
      exportName: fn.exportName,
      env: payload.env ? { ...fn.env, ...payload.env } : fn.env,
      ...(payload.platform ? { platform: payload.platform } : {}),
      timeoutMs: fn.timeoutMs,
      memoryMb: fn.memoryMb,
      ...(packageDir !== undefined ? { packageDir } : {}),
      ...(fn.concurrency !== undefined ? { concurrency: fn.concurrency } : {}),
    };
    try {
      await slot.instance!.init(req);
    } catch (err) {
      // A half-initialised runtime cannot be reused (a second /init is refused).
      this.destroySlot(slot);
      throw err;
    }
    slot.state = 'busy';
    slot.runs = 1;
    slot.lastUsed = Date.now();
  }

  // ---------------------------------------------------------------------------
  // Memory budget

  private usedMb(): number {
    let sum = 0;
    for (const s of this.slots) if (s.counted) sum += s.memoryMb;
    return sum;
  }

  /**
   * Idle instances to evict so `memoryMb` fits, chosen synchronously: generic
   * ones of other pools first, then loaded idle ones least recently used, then
   * generic ones still starting. Undefined when even all of them are not enough.
   */
  private pickVictims(memoryMb: number, allowEgress: boolean): Slot[] | undefined {
    let free = this.opts.memoryMb - this.usedMb();
    if (free >= memoryMb) return [];
    const key = poolKeyOf(memoryMb, allowEgress);
    const byAge = (a: Slot, b: Slot): number => a.lastUsed - b.lastUsed;
    const counted = [...this.slots].filter((s) => s.counted);
    const order = [
      ...counted.filter((s) => s.state === 'stem' && poolKeyOf(s.memoryMb, s.allowEgress) !== key).sort(byAge),
      ...counted.filter((s) => s.state === 'idle').sort(byAge),
      ...counted.filter((s) => s.state === 'stem' && poolKeyOf(s.memoryMb, s.allowEgress) === key).sort(byAge),
      ...counted.filter((s) => s.state === 'starting' && s.purpose === 'stem').sort(byAge),
    ];
    const victims: Slot[] = [];
    for (const s of order) {
      if (free >= memoryMb) break;
      victims.push(s);
      free += s.memoryMb;
    }
    return free >= memoryMb ? victims : undefined;
  }

  /** Reserve memory (evicting if needed), create an instance, return its slot in state 'initializing'. */
  private async createForAcquire(memoryMb: number, allowEgress: boolean): Promise<Slot> {
    let victims = this.pickVictims(memoryMb, allowEgress);
    if (victims === undefined && this.pendingDestroys().length > 0) {
      // Memory is being freed right now (expired or failed instances); wait for it once.
      await Promise.all(this.pendingDestroys());
      victims = this.pickVictims(memoryMb, allowEgress);
    }
    if (this.closing) throw new PlatformError('EXECUTOR_DRAINING', 'executor is draining', { retryable: true });
    if (victims === undefined) {
      throw new ThrottledError('EXECUTOR_FULL', `no room for a ${memoryMb} MB instance (budget ${this.opts.memoryMb} MB, all in use)`, 1, {
        memoryMb: this.opts.memoryMb,
        memoryUsedMb: this.usedMb(),
        requestedMb: memoryMb,
      });
    }
    // The new slot takes over the victims' memory at once, so nobody else counts on it.
    const slot = this.addSlot(memoryMb, allowEgress, 'acquire');
    const gone = victims.map((v) => {
      v.counted = false;
      return this.destroySlot(v);
    });
    try {
      // Only start once the evicted instances are really gone: the budget is physical.
      await Promise.all(gone);
      if (this.closing) throw new PlatformError('EXECUTOR_DRAINING', 'executor is draining', { retryable: true });
      const instance = await this.opts.backend.createInstance({ memoryMb, allowEgress });
      slot.instance = instance;
      this.byInstance.set(instance, slot);
      if (this.closing) throw new PlatformError('EXECUTOR_DRAINING', 'executor is draining', { retryable: true });
    } catch (err) {
      this.destroySlot(slot);
      throw err;
    }
    slot.state = 'initializing';
    return slot;
  }

  private pendingDestroys(): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const s of this.slots) if (s.state === 'destroying' && s.counted && s.destroyed) out.push(s.destroyed);
    return out;
  }

  private addSlot(memoryMb: number, allowEgress: boolean, purpose: Slot['purpose']): Slot {
    const slot: Slot = { seq: ++this.seq, memoryMb, allowEgress, state: 'starting', purpose, lastUsed: Date.now(), counted: true, cancelled: false, runs: 0, retiring: false };
    this.slots.add(slot);
    return slot;
  }

  /** Start destroying a slot (idempotent); resolves once its instance is gone and the slot removed. */
  private destroySlot(slot: Slot): Promise<void> {
    if (slot.destroyed) return slot.destroyed;
    const wasStarting = slot.state === 'starting';
    slot.state = 'destroying';
    slot.cancelled = true;
    slot.destroyed = (async () => {
      try {
        const instance = wasStarting && slot.creating ? await slot.creating : slot.instance;
        if (instance !== undefined && slot.paused !== undefined) await this.thaw(slot, instance);
        await instance?.destroy();
      } catch (err) {
        this.opts.logger?.warn({ err, slot: slot.seq }, 'destroying an instance failed');
      } finally {
        this.slots.delete(slot);
        if (slot.instance) this.byInstance.delete(slot.instance);
        this.changed();
        this.refill();
      }
    })();
    return slot.destroyed;
  }

  // ---------------------------------------------------------------------------
  // Generic pool

  private recordColdStart(memoryMb: number, allowEgress: boolean): void {
    const key = poolKeyOf(memoryMb, allowEgress);
    let p = this.pools.get(key);
    if (p === undefined) {
      p = { memoryMb, allowEgress, base: 0, target: 0, lastColdAt: 0, retryAt: 0 };
      this.pools.set(key, p);
    }
    // A cold start means the pool was too small for the recent rate of new functions.
    p.target = Math.min(Math.max(this.opts.poolMax, p.base), p.target + 1);
    p.lastColdAt = Date.now();
  }

  /** Start generic instances up to each pool's target, within free memory only (never evicting). */
  private refill(): void {
    if (this.closing) return;
    const now = Date.now();
    const have = new Map<string, number>();
    for (const s of this.slots) {
      if (s.state === 'stem' || (s.state === 'starting' && s.purpose === 'stem')) {
        const k = poolKeyOf(s.memoryMb, s.allowEgress);
        have.set(k, (have.get(k) ?? 0) + 1);
      }
    }
    for (const [key, p] of this.pools) {
      let n = have.get(key) ?? 0;
      while (n < p.target && now >= p.retryAt && this.opts.memoryMb - this.usedMb() >= p.memoryMb) {
        this.startStem(p);
        n++;
      }
    }
  }

  private startStem(p: PoolTarget): void {
    const slot = this.addSlot(p.memoryMb, p.allowEgress, 'stem');
    slot.creating = this.opts.backend.createInstance({ memoryMb: p.memoryMb, allowEgress: p.allowEgress }).then(
      (instance) => {
        slot.instance = instance;
        this.byInstance.set(instance, slot);
        if (slot.cancelled || this.closing) {
          if (!slot.destroyed) this.destroySlot(slot);
          return instance;
        }
        slot.state = 'stem';
        slot.lastUsed = Date.now();
        this.refillFailures = 0;
        this.changed();
        return instance;
      },
      (err: unknown) => {
        this.opts.logger?.warn({ err, memoryMb: p.memoryMb }, 'pre-starting a pool instance failed');
        this.holdRefill(p);
        this.slots.delete(slot);
        this.changed();
        return undefined;
      },
    );
  }

  /**
   * After a failed pre-start: no more pre-starts in that pool until the
   * backoff of this round has passed. The pools share one backend, so the
   * rounds (and the growing pause) are counted for all of them together.
   */
  private holdRefill(p: PoolTarget): void {
    if (this.refillTimer === undefined && !this.closing) {
      this.refillHoldMs = backoffDelay(this.refillBackoff, this.refillFailures++);
      this.refillTimer = setTimeout(() => {
        this.refillTimer = undefined;
        // Timers may fire a millisecond "early" by Date.now(); the wait is over either way.
        for (const q of this.pools.values()) q.retryAt = 0;
        this.refill();
      }, this.refillHoldMs);
      this.refillTimer.unref();
    }
    p.retryAt = Date.now() + this.refillHoldMs;
  }

  // ---------------------------------------------------------------------------
  // Housekeeping

  private sweep(): void {
    if (this.closing) return;
    const now = Date.now();
    const { idleTtlMs, pauseIdleAfterMs } = this.opts;
    for (const s of [...this.slots]) {
      if (s.state !== 'idle') continue;
      const idleFor = now - s.lastUsed;
      if (idleFor >= idleTtlMs) this.destroySlot(s);
      else if (pauseIdleAfterMs !== undefined && idleFor >= pauseIdleAfterMs && s.paused === undefined && s.instance?.pause) {
        s.paused = s.instance.pause();
        s.paused.catch((err: unknown) => {
          this.opts.logger?.warn({ err }, 'pausing an idle instance failed; destroying it');
          if (s.state === 'idle') this.destroySlot(s);
        });
      }
    }
    const quietMs = this.opts.poolQuietMs ?? 60_000;
    for (const [key, p] of this.pools) {
      if (p.target > p.base && now - p.lastColdAt >= quietMs) p.target = p.base;
      // Also catches cold-started instances handed back to the pool when their code failed to load.
      this.trimPool(key, p.target);
      if (p.base === 0 && p.target === 0 && this.countStems(key) === 0) this.pools.delete(key);
    }
    this.refill();
  }

  private countStems(key: string): number {
    let n = 0;
    for (const s of this.slots) if ((s.state === 'stem' || (s.state === 'starting' && s.purpose === 'stem')) && poolKeyOf(s.memoryMb, s.allowEgress) === key) n++;
    return n;
  }

  /** Destroy generic instances beyond `target`, oldest first. */
  private trimPool(key: string, target: number): void {
    const stems = [...this.slots]
      .filter((s) => s.state === 'stem' && poolKeyOf(s.memoryMb, s.allowEgress) === key)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    const surplus = this.countStems(key) - target;
    for (const s of stems.slice(0, Math.max(0, surplus))) this.destroySlot(s);
  }

  private changed(): void {
    const waiters = [...this.changeWaiters];
    this.changeWaiters.clear();
    for (const w of waiters) w();
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => this.changeWaiters.add(resolve));
  }
}
