import { performance } from 'node:perf_hooks';
import { backoffDelay, type Backoff } from '../core/backoff.js';
import { BuildError, PlatformError, ThrottledError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { pythonModuleOf } from '../core/python.js';
import { runtimeOf, type FunctionRuntime, type FunctionVersion, type StartKind, type WarmInstanceInfo } from '../core/types.js';
import type { InitRequest } from '../runtime/protocol.js';
import { instancesWanted, MovingAverage, startsAllowed } from './start-policy.js';
import { poolKeyOf } from '../placement/pool-keys.js';
import type { ExecutorBackend, Instance, InstanceSpec } from './types.js';

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
  /**
   * Generic pre-started instances kept per pool when quiet. A pool is per
   * runtime (and egress) when the backend can resize an instance's memory
   * limit ({@link ExecutorBackend.resizable}), else per memory size too.
   */
  poolSize: number;
  /** Upper bound the adaptive pool target may grow to. */
  poolMax: number;
  /**
   * Memory sizes that get a generic pool from the start. Default [256]. With
   * a resizable backend only the first counts: it is the size pre-started
   * instances are created with, and each is resized to its function's size
   * when it is taken.
   */
  poolMemorySizes?: number[];
  /**
   * Runtimes whose generic pools are filled from the start. Default
   * ['nodejs']; any other runtime gets a pool after its first cold start (the
   * adaptive target), like any other pool.
   */
  poolRuntimes?: Exclude<FunctionRuntime, 'image'>[];
  /**
   * Instances being created at once, pre-starts and cold starts together
   * (the creation budget). More wait for a turn, cold starts first. Default
   * {@link DEFAULT_MAX_CREATING}.
   */
  maxCreating?: number;
  /** What a cold start (create + /init) is assumed to take until one was seen, in ms. Default 300. */
  coldStartHintMs?: number;
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
  /** The same per pool key (runtime, size or `any`, egress: see {@link poolKeyOf}): what a placement can match a function against. */
  stems: Record<string, number>;
  warm: WarmInstanceInfo[];
  /** Memory the pool gives up on demand: generic instances and idle loaded ones that are not provisioned. */
  reclaimableMb: number;
  /** Provisioned instances loaded (idle or busy), per `namespace/name@version`. */
  provisioned: Record<string, number>;
}

/** One version's share of provisioned instances on this executor (see {@link WarmPool.provision}). */
export interface ProvisionedShare {
  fn: FunctionVersion;
  instances: number;
}

/**
 * Life of a slot:
 * starting → stem (generic, in the pool) → initializing → busy ⇄ idle → destroying
 * starting → initializing (a cold start: handed to a queued call as soon as it is ready)
 * busy → busy (handed straight to a call queued for the same version on release)
 */
type SlotState = 'starting' | 'stem' | 'initializing' | 'busy' | 'idle' | 'destroying';

interface Slot {
  readonly seq: number;
  /** Its memory limit; changes when a generic instance is resized for its function. */
  memoryMb: number;
  readonly allowEgress: boolean;
  /** What the instance was created as (runtime, image, size at creation, egress): see {@link poolKeyOf}. */
  readonly spec: InstanceSpec;
  state: SlotState;
  /** Why a starting slot exists: a pool refill, or a cold start for queued calls. */
  purpose: 'stem' | 'acquire';
  instance?: Instance;
  fn?: FunctionVersion;
  fnKey?: string;
  lastUsed: number;
  /** When it was last handed out (performance.now()), to learn the version's run time. */
  busySince?: number;
  /** Counts against the budget; false once its memory was handed to a new slot. */
  counted: boolean;
  /** A starting slot that was evicted before its instance existed. */
  cancelled: boolean;
  /** Calls running on a busy instance: up to its function's `concurrency`. */
  runs: number;
  /** Takes no new call and is destroyed when its last call ends (one of its calls failed it). */
  retiring: boolean;
  /** A provisioned instance: never destroyed for being idle or to make room, never paused. */
  pinned: boolean;
  /** The version a slot handed to a queued call is being loaded with, until it is ready. */
  loading?: FunctionVersion;
  /** Instances evicted so this generic one could grow for its function: its resize waits for them (the budget is physical). */
  roomMade?: Promise<void>;
  /** Taken from the pool (or cold-started): its first release starts the pool's refill (see {@link initSlot}). */
  refillOnRelease?: boolean;
  /** Pending or done pause; cleared by resume. */
  paused?: Promise<void>;
  destroyed?: Promise<void>;
  creating?: Promise<Instance | undefined>;
}

/** Adaptive target of one generic pool (see {@link WarmPool.poolKey}). */
interface PoolTarget {
  /** The memory limit its instances are created with. */
  readonly memoryMb: number;
  readonly allowEgress: boolean;
  /** What its instances are created as. */
  readonly spec: InstanceSpec;
  /** Where the target falls back to when quiet. */
  readonly base: number;
  target: number;
  lastColdAt: number;
  retryAt: number;
}

/** How a queued call got its instance. */
interface Handout {
  slot: Slot;
  startKind: StartKind;
}

/** A call that found no idle instance of its version and no generic one. */
interface Waiter {
  readonly fn: FunctionVersion;
  readonly key: string;
  readonly poolKey: string;
  /** Waited a cold start's time already: wants a new instance whatever the estimate says. */
  overdue: boolean;
  /**
   * Loading a provisioned instance, not a call: wants a new instance, so it
   * is never handed one of its version's loaded instances (that would add
   * nothing), and it does not count as a cold start that grows the pool.
   */
  preload?: boolean;
  timer?: NodeJS.Timeout;
  /** Fails the call with EXECUTOR_FULL at the caller's `waitUntil`. */
  giveUp?: NodeJS.Timeout;
  /** A released instance is being destroyed to make room for it. */
  reclaiming?: boolean;
  resolve: (h: Handout) => void;
  reject: (err: unknown) => void;
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

/** The instance a version needs: its runtime (and image), memory and egress. */
const specOf = (fn: FunctionVersion): InstanceSpec => {
  const runtime = runtimeOf(fn);
  return { memoryMb: fn.memoryMb, allowEgress: fn.allowEgress, ...(runtime !== 'nodejs' ? { runtime } : {}), ...(fn.image !== undefined ? { image: fn.image } : {}) };
};

/** A generic spec: `nodejs` stays implicit, so its instances look as they did before runtimes existed. */
const genericSpec = (runtime: FunctionRuntime, memoryMb: number, allowEgress: boolean): InstanceSpec => ({ memoryMb, allowEgress, ...(runtime !== 'nodejs' ? { runtime } : {}) });

/**
 * Cap on the pause between pre-start rounds that keep failing (a backend
 * down): long enough not to hammer it, short enough that the pool is full
 * again soon after it is back (a cold start meanwhile creates its own instance).
 */
export const REFILL_BACKOFF_MAX_MS = 10_000;

/**
 * How long a refill waits at most for the instance just taken from the pool
 * to answer its first call (see WarmPool.refillAfterFirstAnswer): longer than
 * a trivial call's init and run, short beside a runtime's start (~50 ms for a
 * process, 150 ms and up for a container).
 */
const REFILL_AFTER_TAKE_MS = 100;
/**
 * An idle loaded instance unused this long may give way to a pre-started one
 * of the configured pool. Long enough that no instance between two calls of
 * a busy function qualifies; as short as a second, because a cold start
 * would evict the least recently used idle instance anyway (at any age):
 * evicting it ahead of time only turns the next new function's cold start
 * into a pool hit.
 */
export const RESERVE_EVICT_IDLE_MS = 1000;

/**
 * Default creation budget. On the 2-core machine of bench/README.md, dockerd
 * starts ~4 containers in parallel before each start gets slower (the burst
 * floor there); more at once only makes every one of them late.
 */
export const DEFAULT_MAX_CREATING = 4;

/** How long loading a provisioned instance waits for room before it gives up until the next round. */
const PRELOAD_WAIT_MS = 30_000;

/** How often a call past its `waitUntil` that is waiting for an instance being started checks again. */
const GIVE_UP_RECHECK_MS = 50;

/**
 * Instances for an executor, over any {@link ExecutorBackend}: warm (loaded
 * with the exact function version, idle), generic pre-started "stem cells"
 * that a cold function can `/init` into (resized to its memory when the
 * backend can), and fresh ones. Keeps the sum of instance memory within a
 * budget by evicting idle instances, least recently used first.
 *
 * Calls that find no idle instance queue: each is handed an instance of its
 * version as soon as one is released, a pre-started one as soon as one is
 * ready, or a new one; how many new ones start is the start policy's
 * decision (start-policy.ts), within a budget of creations at once.
 *
 * Every choice of an instance happens synchronously, so two concurrent
 * acquires never get the same one.
 */
export class WarmPool {
  private readonly slots = new Set<Slot>();
  private readonly byInstance = new Map<Instance, Slot>();
  private readonly pools = new Map<string, PoolTarget>();
  private readonly waiters: Waiter[] = [];
  private readonly runMs = new Map<string, MovingAverage>();
  private readonly createMs = new MovingAverage();
  private readonly initMs = new MovingAverage();
  private readonly resizable: boolean;
  private readonly stemMb: number;
  private readonly maxCreating: number;
  /** backend.createInstance calls in flight. */
  private creating = 0;
  /** A dispatch is waiting for instances being destroyed to free memory. */
  private awaitingDestroys = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private refillTimer: NodeJS.Timeout | undefined;
  /** The latest a refill waits for an instance just taken from the pool to answer (see {@link initSlot}). */
  private takeRefillTimer: NodeJS.Timeout | undefined;
  private readonly refillBackoff: Backoff;
  /** Pre-start rounds that failed in a row (reset by a success). */
  private refillFailures = 0;
  /** The pause of the current failed round. */
  private refillHoldMs = 0;
  private readonly changeWaiters = new Set<() => void>();
  private seq = 0;
  /** Provisioned instances wanted here, per version key (see {@link provision}). */
  private provisioned = new Map<string, ProvisionedShare>();
  /** Provisioned instances being loaded, per version key. */
  private readonly preloading = new Map<string, number>();
  /** After failed loads of a provisioned version: how many in a row, and no new try before `at`. */
  private readonly preloadHold = new Map<string, { failures: number; at: number }>();
  private closing = false;
  private closePromise: Promise<void> | undefined;
  /**
   * Whether the configured pools (each its `poolSize` pre-started instances)
   * take at most a quarter of the budget: only then do idle instances give
   * way to them (see {@link makeRoomForStem}). In a smaller executor the pool
   * would push out the warm instances it holds room for (a function called
   * every two seconds would lose its instance between every two calls).
   */
  private readonly reserveFits: boolean;

  constructor(private readonly opts: WarmPoolOptions) {
    const initialMs = opts.refillBackoffMs ?? 1000;
    this.refillBackoff = { type: 'exponential', initialMs, maxMs: Math.max(initialMs, REFILL_BACKOFF_MAX_MS) };
    this.resizable = opts.backend.resizable === true;
    this.maxCreating = Math.max(1, opts.maxCreating ?? DEFAULT_MAX_CREATING);
    const sizes = opts.poolMemorySizes ?? [256];
    this.stemMb = sizes[0] ?? 256;
    const now = Date.now();
    for (const runtime of opts.poolRuntimes ?? ['nodejs']) {
      for (const memoryMb of this.resizable ? sizes.slice(0, 1) : sizes) {
        const spec = genericSpec(runtime, memoryMb, false);
        this.pools.set(this.poolKey(spec), { memoryMb, allowEgress: false, spec, base: opts.poolSize, target: opts.poolSize, lastColdAt: now, retryAt: 0 });
      }
    }
    // Only these pools have a base; the ones cold starts add later grow from 0.
    let reserved = 0;
    for (const p of this.pools.values()) reserved += p.base * p.memoryMb;
    this.reserveFits = reserved * 4 <= opts.memoryMb;
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
   * pool initialised now, else one that frees up or is started for it (see
   * {@link WarmPool}). Throws ThrottledError `EXECUTOR_FULL` when the budget
   * cannot fit it and nothing of its version will free up, or nothing came by
   * `waitUntil` (epoch ms; default: wait as long as it takes), BuildError when the
   * function fails to init, InstanceFailure / PlatformError when the backend does.
   */
  async acquire(fn: FunctionVersion, { waitUntil }: { waitUntil?: number } = {}): Promise<AcquiredInstance> {
    if (this.closing) throw draining();
    const t0 = performance.now();
    const key = fnKeyOf(fn);

    // A function with concurrency > 1: a call joins a busy instance of its version while it has a free place.
    const shared = this.takeShared(key, fn.concurrency ?? 1);
    if (shared !== undefined) return { instance: shared.instance!, startKind: 'warm', startMs: performance.now() - t0 };

    for (let warm = this.takeIdle(key); warm !== undefined; warm = this.takeIdle(key)) {
      if (await this.wake(warm)) return { instance: warm.instance!, startKind: 'warm', startMs: performance.now() - t0 };
    }

    return this.load(fn, key, t0, waitUntil, false);
  }

  /** A new instance of `fn`: a generic one initialised now, else one that frees up or is started for it. */
  private async load(fn: FunctionVersion, key: string, t0: number, waitUntil: number | undefined, preload: boolean): Promise<AcquiredInstance> {
    const stem = this.takeStem(fn);
    const { slot, startKind } = stem !== undefined ? { slot: stem, startKind: 'pool' as const } : await this.enqueue(fn, key, waitUntil, preload);
    if (startKind === 'warm') return { instance: slot.instance!, startKind, startMs: performance.now() - t0 };
    if (startKind === 'cold' && !preload) this.recordColdStart(fn);
    await this.initSlot(slot, fn, this.opts.prepareInit(fn)).catch((err: unknown) => loadFailed(err, startKind, t0));
    return { instance: slot.instance!, startKind, startMs: performance.now() - t0 };
  }

  /**
   * The provisioned instances this executor keeps: for each version, that
   * many instances loaded with it at all times (the provisioner's share for
   * this executor, replacing the last one). Instances of the version already
   * loaded are provisioned first; the rest are loaded now, in the background.
   * A provisioned instance is never destroyed for being idle or to make room
   * and never paused; one that fails is replaced at the next call of this
   * (the provisioner repeats it every round) or the next sweep. A version
   * left out goes back to the idle timeout, counted from now.
   */
  provision(shares: readonly ProvisionedShare[]): void {
    if (this.closing) return;
    this.provisioned = new Map(shares.filter((s) => s.instances > 0).map((s) => [fnKeyOf(s.fn), s]));
    this.keepProvisioned();
  }

  /**
   * Hand back one call's use of an instance: to a call queued for its version,
   * idle for reuse when healthy and its last call, destroyed when unhealthy. An
   * instance shared by several calls (concurrency > 1) that one call found
   * unhealthy takes no new call and is destroyed when its other calls end.
   */
  release(instance: Instance, { healthy }: { healthy: boolean }): void {
    const slot = this.byInstance.get(instance);
    if (slot === undefined) {
      void instance.destroy().catch((err: unknown) => this.opts.logger?.warn({ err }, 'destroying an unknown instance failed'));
      return;
    }
    if (slot.state !== 'busy') return;
    if (slot.refillOnRelease === true) {
      slot.refillOnRelease = false;
      // On the next turn: the caller sends its answer first.
      setImmediate(() => this.refill()).unref();
    }
    slot.runs = Math.max(0, slot.runs - 1);
    if (!healthy || this.closing) slot.retiring = true;
    if (slot.runs > 0) {
      // Other calls still run on it: the freed place goes to a call queued for its version, if any.
      this.shareWithQueued(slot);
      this.changed();
      return;
    }
    if (slot.fnKey !== undefined && slot.busySince !== undefined) this.runAverage(slot.fnKey).add(performance.now() - slot.busySince);
    if (slot.retiring) {
      void this.destroySlot(slot);
      return;
    }
    slot.lastUsed = Date.now();
    const oldest = this.waiters[0];
    if (oldest !== undefined && oldest.key !== slot.fnKey && !slot.pinned && this.starved(oldest)) {
      // Fair across functions: the oldest queued call has nothing that will free up for it and no
      // room, so this instance makes room for it instead of serving its own version's queue again.
      oldest.reclaiming = true;
      void this.destroySlot(slot);
      return;
    }
    const next = this.waiters.find((w) => w.key === slot.fnKey && w.preload !== true);
    if (next !== undefined) {
      this.hand(next, slot, 'warm');
      this.shareWithQueued(slot);
      this.dispatch();
      return;
    }
    slot.state = 'idle';
    slot.busySince = undefined;
    this.changed();
  }

  stats(): WarmPoolStats {
    const pool: Record<string, number> = {};
    for (const p of this.pools.values()) pool[String(p.memoryMb)] ??= 0;
    const stems: Record<string, number> = {};
    const warm: WarmInstanceInfo[] = [];
    const provisioned: Record<string, number> = {};
    let inFlight = 0;
    let reclaimableMb = 0;
    for (const s of this.slots) {
      if (s.state === 'stem') {
        pool[String(s.memoryMb)] = (pool[String(s.memoryMb)] ?? 0) + 1;
        const key = this.poolKey(s.spec);
        stems[key] = (stems[key] ?? 0) + 1;
        reclaimableMb += s.memoryMb;
      }
      if (s.state === 'idle' && !s.pinned) reclaimableMb += s.memoryMb;
      const acquired = s.state === 'busy' || s.state === 'initializing' || (s.state === 'starting' && s.purpose === 'acquire');
      if (acquired) inFlight += s.state === 'busy' ? Math.max(1, s.runs) : 1;
      if (s.fn !== undefined && (s.state === 'idle' || s.state === 'busy' || s.state === 'initializing')) {
        const info: WarmInstanceInfo = { namespace: s.fn.namespace, function: s.fn.name, version: s.fn.version, state: s.state === 'idle' ? 'idle' : 'busy' };
        // A shared instance (concurrency > 1) has places beyond what its state says.
        const concurrency = s.fn.concurrency ?? 1;
        if (concurrency > 1 && s.state !== 'initializing') info.places = s.state === 'idle' ? concurrency : s.retiring ? 0 : Math.max(0, concurrency - s.runs);
        warm.push(info);
        if (s.pinned && s.state !== 'initializing') {
          const key = `${s.fn.namespace}/${s.fn.name}@${s.fn.version}`;
          provisioned[key] = (provisioned[key] ?? 0) + 1;
        }
      }
    }
    return { memoryMb: this.opts.memoryMb, memoryUsedMb: this.usedMb(), inFlight, pool, stems, warm, reclaimableMb, provisioned };
  }

  /** Current pool targets per memory size of their instances (summed over egress), for tests and debugging. */
  poolTargets(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.pools.values()) out[String(p.memoryMb)] = (out[String(p.memoryMb)] ?? 0) + p.target;
    return out;
  }

  /** Calls queued for an instance, and instances being created, for tests and debugging. */
  queueStats(): { queued: number; creating: number } {
    return { queued: this.waiters.length, creating: this.creating };
  }

  /**
   * Stop pre-starting, destroy every idle and generic instance, wait for the
   * busy ones to come back (they are destroyed on release), then resolve.
   * Queued calls fail with EXECUTOR_DRAINING. After `graceMs` (default: no
   * limit) instances still busy are destroyed under their callers, whose runs
   * then fail. Idempotent: later calls share the first one's promise.
   */
  drain(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing = true;
      clearInterval(this.sweepTimer);
      if (this.refillTimer) clearTimeout(this.refillTimer);
      clearTimeout(this.takeRefillTimer);
      for (const w of [...this.waiters]) this.fail(w, draining());
      for (const s of [...this.slots]) {
        if (s.state === 'stem' || s.state === 'idle' || (s.state === 'starting' && s.purpose === 'stem')) void this.destroySlot(s);
      }
      const force = Number.isFinite(graceMs)
        ? setTimeout(() => {
            // Cold starts still being created notice `closing` themselves.
            for (const s of [...this.slots]) if (s.state !== 'starting') void this.destroySlot(s);
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

  /** The pool a spec's generic instances come from (see {@link poolKeyOf}). */
  private poolKey(spec: InstanceSpec): string {
    return poolKeyOf(spec, this.resizable);
  }

  /** The most recently used idle instance of exactly this version, marked busy. */
  private takeIdle(key: string): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.state === 'idle' && s.fnKey === key && (best === undefined || s.lastUsed > best.lastUsed)) best = s;
    }
    if (best) {
      best.state = 'busy';
      best.runs = 1;
      best.busySince = performance.now();
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

  /** Calls queued for a busy shared instance's version take its free places (concurrency > 1). */
  private shareWithQueued(slot: Slot): void {
    const concurrency = slot.fn?.concurrency ?? 1;
    if (concurrency <= 1 || slot.retiring || slot.state !== 'busy') return;
    for (const w of [...this.waiters]) {
      if (slot.runs >= concurrency) break;
      if (w.key !== slot.fnKey || w.preload === true) continue;
      this.unqueue(w);
      slot.runs++;
      slot.lastUsed = Date.now();
      w.resolve({ slot, startKind: 'warm' });
    }
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
      void this.destroySlot(slot);
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

  /**
   * The oldest generic instance that can serve `fn`, marked initializing and
   * counted at `fn`'s memory size. Growing it to a larger size takes the
   * difference from free memory, evicting idle instances for it as a cold
   * start would (its resize waits until they are gone, see initSlot):
   * removing an idle container and resizing a ready one is far quicker than
   * creating one. Undefined when not even eviction makes the room.
   */
  private takeStem(fn: FunctionVersion): Slot | undefined {
    const key = this.poolKey(specOf(fn));
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.state === 'stem' && this.poolKey(s.spec) === key && (best === undefined || s.lastUsed < best.lastUsed)) best = s;
    }
    if (best === undefined) return undefined;
    // Taken before choosing victims, so that it is not one of them.
    best.state = 'initializing';
    const victims = fn.memoryMb > best.memoryMb ? this.pickVictims(fn.memoryMb - best.memoryMb, key) : [];
    if (victims === undefined) {
      best.state = 'stem';
      return undefined;
    }
    if (victims.length > 0) {
      // Their memory is the grown instance's at once, so nobody else counts on it.
      const gone = victims.map((v) => {
        v.counted = false;
        return this.destroySlot(v);
      });
      best.roomMade = Promise.allSettled(gone).then(() => undefined);
    }
    best.memoryMb = fn.memoryMb;
    return best;
  }

  private fitsResize(slot: Slot, memoryMb: number): boolean {
    return memoryMb <= slot.memoryMb || this.opts.memoryMb - this.usedMb() >= memoryMb - slot.memoryMb;
  }

  /**
   * Load `fn` into a generic or new instance (state 'initializing', counted
   * at fn's size already): resize it when its limit differs, show it its
   * package, /init.
   */
  private async initSlot(slot: Slot, fn: FunctionVersion, code: Promise<InitPayload>): Promise<void> {
    const t0 = performance.now();
    slot.state = 'initializing';
    // Resizing (a `docker update`, tens of ms, after the instances evicted for it are gone) overlaps fetching the code.
    const instance = slot.instance!;
    const roomMade = slot.roomMade;
    slot.roomMade = undefined;
    const resized = instance.spec.memoryMb !== fn.memoryMb ? (roomMade ?? Promise.resolve()).then(() => this.resize(instance, fn.memoryMb)) : undefined;
    resized?.catch(() => undefined);
    let payload: InitPayload;
    try {
      payload = await code;
    } catch (err) {
      slot.loading = undefined;
      // The instance is untouched but for its size: give it back to the pool.
      const ok = await resized?.then(() => true, () => false);
      if (slot.state === 'initializing') {
        if (ok === false) void this.destroySlot(slot);
        else this.backToPool(slot);
      }
      throw err;
    }
    slot.fn = fn;
    slot.fnKey = fnKeyOf(fn);
    // Replace the generic instance just taken (or grow after a cold start), but not
    // while this one initialises and answers its first call: not earlier, since a
    // failed code load hands the instance back, and not beside it, since starting a
    // runtime (a fork, then an interpreter loading) takes the CPU that call needs.
    this.refillAfterFirstAnswer(slot);
    try {
      await resized;
    } catch (err) {
      void this.destroySlot(slot);
      throw err;
    }
    let packageDir: string | undefined;
    try {
      if (payload.fillPackage) packageDir = await slot.instance!.preparePackage(payload.fillPackage);
    } catch (err) {
      // Its package directory may be half filled: never hand this instance to another function.
      void this.destroySlot(slot);
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
      ...(runtimeOf(fn) === 'python' ? { module: pythonModuleOf(fn.handler) } : {}),
      ...(fn.concurrency !== undefined ? { concurrency: fn.concurrency } : {}),
    };
    try {
      await slot.instance!.init(req);
    } catch (err) {
      slot.loading = undefined;
      // A half-initialised runtime cannot be reused (a second /init is refused).
      void this.destroySlot(slot);
      throw err;
    }
    this.initMs.add(performance.now() - t0);
    slot.loading = undefined;
    slot.state = 'busy';
    slot.runs = 1;
    slot.busySince = performance.now();
    slot.lastUsed = Date.now();
    // Calls of its version queued meanwhile share it up to its concurrency instead of waiting for more instances.
    this.shareWithQueued(slot);
  }

  /** Change a generic instance's memory limit (only reached on a resizable backend, or for a new instance's own size). */
  private async resize(instance: Instance, memoryMb: number): Promise<void> {
    if (instance.resize === undefined) {
      throw new PlatformError('INSTANCE_RESIZE_FAILED', `instance ${instance.id} has ${instance.spec.memoryMb} MB and cannot be resized to ${memoryMb} MB`);
    }
    await instance.resize(memoryMb);
  }

  /** An instance whose code could not be fetched goes back to the pool, unused. */
  private backToPool(slot: Slot): void {
    // Counted at the function's size since it was taken; its limit is still its own.
    if (slot.instance !== undefined) slot.memoryMb = slot.instance.spec.memoryMb;
    slot.state = 'stem';
    slot.purpose = 'stem';
    slot.busySince = undefined;
    if (this.closing) void this.destroySlot(slot);
    this.changed();
    this.dispatch();
  }

  // ---------------------------------------------------------------------------
  // Queued calls and the creation budget

  /** Queue a call; resolves once an instance is handed to it (see {@link dispatch}). */
  private enqueue(fn: FunctionVersion, key: string, waitUntil: number | undefined, preload = false): Promise<Handout> {
    return new Promise<Handout>((resolve, reject) => {
      const w: Waiter = { fn, key, poolKey: this.poolKey(specOf(fn)), overdue: false, ...(preload ? { preload } : {}), resolve, reject };
      // Waiting longer than a cold start takes is never the better choice: ask for one then.
      w.timer = setTimeout(() => {
        w.overdue = true;
        this.dispatch();
      }, Math.max(1, Math.ceil(this.coldStartMs())));
      w.timer.unref();
      if (waitUntil !== undefined) this.armGiveUp(w, waitUntil - Date.now());
      this.waiters.push(w);
      this.dispatch();
    });
  }

  /**
   * At the caller's `waitUntil`, a call still without room for an instance
   * (every instance busy, none starting for its pool) is throttled, as a full
   * executor always was. One with an instance starting for its pool waits on:
   * a start is bounded by the backend's own ready timeout, and failing the
   * call would throw that start away.
   */
  private armGiveUp(w: Waiter, delayMs: number): void {
    w.giveUp = setTimeout(() => {
      if (this.coming(w.poolKey) === 0 && this.pickVictims(w.fn.memoryMb, w.poolKey) === undefined) this.fail(w, this.full(w.fn.memoryMb));
      // Looked at again soon: the instance starting may go to an older call.
      else this.armGiveUp(w, GIVE_UP_RECHECK_MS);
    }, Math.max(0, delayMs));
    w.giveUp.unref();
  }

  private hand(w: Waiter, slot: Slot, startKind: StartKind): void {
    this.unqueue(w);
    if (startKind === 'warm') {
      slot.state = 'busy';
      slot.runs = 1;
      slot.busySince = performance.now();
    } else {
      slot.memoryMb = w.fn.memoryMb;
      slot.state = 'initializing';
      slot.loading = w.fn;
    }
    w.resolve({ slot, startKind });
  }

  private fail(w: Waiter, err: unknown): void {
    this.unqueue(w);
    w.reject(err);
  }

  private unqueue(w: Waiter): void {
    clearTimeout(w.timer);
    clearTimeout(w.giveUp);
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /**
   * Match queued calls with what is there (synchronously): generic instances
   * ready go to the oldest calls they fit; then, per pool, as many new
   * instances start as the start policy wants beyond those already coming,
   * within the creation budget and the memory budget. A call nothing can
   * serve (no room, nothing of its version busy, nothing coming) fails with
   * EXECUTOR_FULL. Pre-starts get what the budget has left.
   */
  private dispatch(): void {
    if (this.closing) {
      for (const w of [...this.waiters]) this.fail(w, draining());
      return;
    }
    if (this.waiters.length > 0) {
      if ([...this.slots].some((s) => s.state === 'stem')) {
        for (const w of [...this.waiters]) {
          const stem = this.takeStem(w.fn);
          if (stem !== undefined) this.hand(w, stem, 'pool');
        }
      }
      const busy = this.busyByVersion();
      const wantedByPool = new Map<string, { wanted: number; first: Waiter }>();
      for (const [key, queue] of this.queuesByVersion()) {
        const first = queue[0]!;
        const concurrency = Math.max(1, first.fn.concurrency ?? 1);
        // Concurrency > 1: an instance being loaded for the version takes that many calls once ready
        // (one is its own), and every new instance serves that many queued calls at once.
        const unplaced = Math.max(0, queue.length - this.placesComing(key, concurrency));
        const wanted = instancesWanted({
          queued: Math.ceil(unplaced / concurrency),
          busy: busy.get(key) ?? 0,
          runMs: this.runMs.get(key)?.get(),
          coldStartMs: this.coldStartMs(),
          overdue: queue.filter((w) => w.overdue).length,
        });
        if (wanted === 0) continue;
        const entry = wantedByPool.get(first.poolKey);
        if (entry === undefined) wantedByPool.set(first.poolKey, { wanted, first });
        else entry.wanted += wanted;
      }
      for (const [poolKey, { wanted, first }] of wantedByPool) {
        let n = startsAllowed(wanted, this.coming(poolKey), this.creating, this.maxCreating);
        for (; n > 0; n--) if (!this.startCreate(first.fn)) break;
      }
      this.failUnservable(busy);
    }
    this.refill();
  }

  /**
   * Queued calls that can never be served here: larger than the whole budget,
   * or no room while nothing at all is busy or starting that could free some.
   * A call whose memory is held by other functions' busy instances waits: the
   * next of them released makes room for it (see {@link release}), or its
   * caller's `waitUntil` throttles it.
   */
  private failUnservable(busy: Map<string, number>): void {
    for (const w of [...this.waiters]) {
      if (w.fn.memoryMb > this.opts.memoryMb) {
        this.fail(w, this.full(w.fn.memoryMb));
        continue;
      }
      if ((busy.get(w.key) ?? 0) > 0 || this.coming(w.poolKey) > 0 || this.pickVictims(w.fn.memoryMb, w.poolKey) !== undefined) continue;
      if (this.pendingDestroys().length > 0) {
        this.retryAfterDestroys();
        continue;
      }
      if ([...this.slots].some((s) => s.state === 'busy' || s.state === 'initializing' || s.state === 'starting')) continue;
      this.fail(w, this.full(w.fn.memoryMb));
    }
  }

  /** A queued call with nothing of its version busy, nothing coming for its pool, no room, and no room being made. */
  private starved(w: Waiter): boolean {
    return !w.reclaiming && (this.busyByVersion().get(w.key) ?? 0) === 0 && this.coming(w.poolKey) === 0 && this.pickVictims(w.fn.memoryMb, w.poolKey) === undefined;
  }

  private full(requestedMb: number): ThrottledError {
    return new ThrottledError('EXECUTOR_FULL', `no room for a ${requestedMb} MB instance (budget ${this.opts.memoryMb} MB, all in use)`, 1, {
      memoryMb: this.opts.memoryMb,
      memoryUsedMb: this.usedMb(),
      requestedMb,
    });
  }

  /** Memory is being freed right now (expired or failed instances): look again once it is. */
  private retryAfterDestroys(): void {
    if (this.awaitingDestroys) return;
    this.awaitingDestroys = true;
    void Promise.all(this.pendingDestroys()).then(() => {
      this.awaitingDestroys = false;
      this.dispatch();
    });
  }

  /** Queued calls by version, oldest call first, versions in the order of their oldest call. */
  private queuesByVersion(): Map<string, Waiter[]> {
    const out = new Map<string, Waiter[]>();
    for (const w of this.waiters) {
      const q = out.get(w.key);
      if (q === undefined) out.set(w.key, [w]);
      else q.push(w);
    }
    return out;
  }

  /** Per version, its instances that will free up after their run: busy, or loading it now. */
  private busyByVersion(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.slots) {
      if ((s.state === 'busy' || s.state === 'initializing') && s.fnKey !== undefined) out.set(s.fnKey, (out.get(s.fnKey) ?? 0) + 1);
    }
    return out;
  }

  /** Free places, for queued calls, of instances being loaded for a version with concurrency > 1. */
  private placesComing(key: string, concurrency: number): number {
    if (concurrency <= 1) return 0;
    let n = 0;
    for (const s of this.slots) {
      if (s.state === 'initializing' && s.loading !== undefined && fnKeyOf(s.loading) === key) n += concurrency - 1;
    }
    return n;
  }

  /** Instances of a pool being created (pre-starts included): each goes to a queued call when ready. */
  private coming(poolKey: string): number {
    let n = 0;
    for (const s of this.slots) if (s.state === 'starting' && !s.cancelled && this.poolKey(s.spec) === poolKey) n++;
    return n;
  }

  private runAverage(key: string): MovingAverage {
    let avg = this.runMs.get(key);
    if (avg === undefined) {
      avg = new MovingAverage();
      this.runMs.set(key, avg);
    }
    return avg;
  }

  /** What starting and loading a new instance takes, as observed (the hint until then). */
  private coldStartMs(): number {
    const create = this.createMs.get();
    if (create === undefined) return this.opts.coldStartHintMs ?? 300;
    return create + (this.initMs.get() ?? 0);
  }

  /**
   * Start one instance for queued calls of `fn`'s pool, at `fn`'s size,
   * evicting idle instances if it must. False when nothing can be evicted.
   * The instance goes to the oldest call of its pool still queued when it is
   * ready (maybe not the one it was started for: that one may have got a
   * released instance meanwhile), or into the pool.
   */
  private startCreate(fn: FunctionVersion): boolean {
    const poolKey = this.poolKey(specOf(fn));
    const victims = this.pickVictims(fn.memoryMb, poolKey);
    if (victims === undefined) return false;
    // The new slot takes over the victims' memory at once, so nobody else counts on it.
    const spec = specOf(fn);
    const slot = this.addSlot(spec, 'acquire');
    const gone = victims.map((v) => {
      v.counted = false;
      return this.destroySlot(v);
    });
    this.creating++;
    const t0 = performance.now();
    slot.creating = (async () => {
      try {
        // Only start once the evicted instances are really gone: the budget is physical.
        await Promise.all(gone);
        if (this.closing) throw draining();
        const instance = await this.opts.backend.createInstance(spec);
        this.createMs.add(performance.now() - t0);
        slot.instance = instance;
        this.byInstance.set(instance, slot);
        return instance;
      } finally {
        this.creating--;
      }
    })().then(
      (instance) => {
        if (slot.cancelled || this.closing) {
          if (slot.destroyed === undefined) void this.destroySlot(slot);
        } else {
          this.readyForQueue(slot);
        }
        return instance;
      },
      (err: unknown) => {
        this.slots.delete(slot);
        const w = this.waiters.find((x) => x.poolKey === poolKey);
        if (w !== undefined) this.fail(w, err);
        else this.opts.logger?.warn({ err }, 'starting an instance for queued calls failed');
        this.changed();
        this.dispatch();
        return undefined;
      },
    );
    return true;
  }

  /** A new instance: to the oldest queued call it fits, else into the pool. */
  private readyForQueue(slot: Slot): void {
    const poolKey = this.poolKey(slot.spec);
    const w = this.waiters.find((x) => x.poolKey === poolKey && this.fitsResize(slot, x.fn.memoryMb));
    if (w !== undefined) {
      // The call waited for this instance to be created, pre-start or not: a cold start.
      this.hand(w, slot, 'cold');
    } else {
      slot.state = 'stem';
      slot.purpose = 'stem';
      slot.lastUsed = Date.now();
    }
    this.changed();
    this.dispatch();
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
  private pickVictims(memoryMb: number, poolKey: string): Slot[] | undefined {
    const free = this.opts.memoryMb - this.usedMb();
    if (free >= memoryMb) return [];
    const byAge = (a: Slot, b: Slot): number => a.lastUsed - b.lastUsed;
    const counted = [...this.slots].filter((s) => s.counted);
    const order = [
      ...counted.filter((s) => s.state === 'stem' && this.poolKey(s.spec) !== poolKey).sort(byAge),
      ...counted.filter((s) => s.state === 'idle' && !s.pinned).sort(byAge),
      ...counted.filter((s) => s.state === 'stem' && this.poolKey(s.spec) === poolKey).sort(byAge),
      ...counted.filter((s) => s.state === 'starting' && s.purpose === 'stem').sort(byAge),
    ];
    return victimsFor(memoryMb, free, order);
  }

  private pendingDestroys(): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const s of this.slots) if (s.state === 'destroying' && s.counted && s.destroyed) out.push(s.destroyed);
    return out;
  }

  private addSlot(spec: InstanceSpec, purpose: Slot['purpose']): Slot {
    const slot: Slot = { seq: ++this.seq, memoryMb: spec.memoryMb, allowEgress: spec.allowEgress, spec, state: 'starting', purpose, lastUsed: Date.now(), counted: true, cancelled: false, runs: 0, retiring: false, pinned: false };
    this.slots.add(slot);
    return slot;
  }

  /** Start destroying a slot (idempotent); resolves once its instance is gone and the slot removed. */
  private destroySlot(slot: Slot): Promise<void> {
    if (slot.destroyed !== undefined) return slot.destroyed;
    const wasStarting = slot.state === 'starting';
    slot.state = 'destroying';
    slot.cancelled = true;
    slot.destroyed = (async () => {
      try {
        const instance = wasStarting && slot.creating !== undefined ? await slot.creating : slot.instance;
        if (instance !== undefined && slot.paused !== undefined) await this.thaw(slot, instance);
        await instance?.destroy();
      } catch (err) {
        this.opts.logger?.warn({ err, slot: slot.seq }, 'destroying an instance failed');
      } finally {
        this.slots.delete(slot);
        if (slot.instance) this.byInstance.delete(slot.instance);
        // The room made is there now: whoever still lacks it may have another made.
        for (const w of this.waiters) w.reclaiming = false;
        // A version with no instance left forgets its run time (versions come and go; the map must not grow).
        if (slot.fnKey !== undefined && ![...this.slots].some((x) => x.fnKey === slot.fnKey)) this.runMs.delete(slot.fnKey);
        this.changed();
        this.dispatch();
      }
    })();
    // Calls queued on this instance may now want a new one.
    if (this.waiters.length > 0) queueMicrotask(() => this.dispatch());
    return slot.destroyed;
  }

  // ---------------------------------------------------------------------------
  // Generic pool

  private recordColdStart(fn: FunctionVersion): void {
    const key = this.poolKey(specOf(fn));
    let p = this.pools.get(key);
    if (p === undefined) {
      const memoryMb = this.resizable ? this.stemMb : fn.memoryMb;
      p = { memoryMb, allowEgress: fn.allowEgress, spec: { ...specOf(fn), memoryMb }, base: 0, target: 0, lastColdAt: 0, retryAt: 0 };
      this.pools.set(key, p);
    }
    // A cold start means the pool was too small for the recent rate of new functions.
    p.target = Math.min(Math.max(this.opts.poolMax, p.base), p.target + 1);
    p.lastColdAt = Date.now();
  }

  /**
   * Start generic instances up to each pool's target, within free memory only
   * and within what the creation budget leaves once queued calls had their
   * turn: the pool refills at a bounded rate in the background. Room for a
   * pool below its configured size is made by the sweep
   * ({@link makeRoomForStem}), never on a call's path; the adaptive growth
   * above that size never evicts.
   */
  private refill(): void {
    if (this.closing) return;
    if (this.takeRefillTimer !== undefined) {
      clearTimeout(this.takeRefillTimer);
      this.takeRefillTimer = undefined;
    }
    const now = Date.now();
    const have = new Map<string, number>();
    for (const s of this.slots) {
      if (s.state === 'stem' || (s.state === 'starting' && s.purpose === 'stem')) {
        const k = this.poolKey(s.spec);
        have.set(k, (have.get(k) ?? 0) + 1);
      }
    }
    for (const [key, p] of this.pools) {
      let n = have.get(key) ?? 0;
      // Queued calls of this pool take every instance that comes; pre-start only once they are served.
      if (this.waiters.some((w) => w.poolKey === key)) continue;
      while (n < p.target && now >= p.retryAt && this.creating < this.maxCreating && this.opts.memoryMb - this.usedMb() >= p.memoryMb) {
        this.startStem(p);
        n++;
      }
    }
  }

  /**
   * Destroy the least recently used idle loaded instances (unpinned, unused
   * for {@link RESERVE_EVICT_IDLE_MS}) that make room for one instance of
   * pool `p`, unless room is already on its way (instances being destroyed).
   * Once they are gone, the refill that follows starts the instance.
   */
  private makeRoomForStem(p: PoolTarget, now: number): void {
    let room = this.opts.memoryMb - this.usedMb();
    for (const s of this.slots) if (s.state === 'destroying' && s.counted) room += s.memoryMb;
    if (room >= p.memoryMb) return;
    const candidates = [...this.slots].filter((s) => s.counted && s.state === 'idle' && !s.pinned && now - s.lastUsed >= RESERVE_EVICT_IDLE_MS).sort((a, b) => a.lastUsed - b.lastUsed);
    const victims = victimsFor(p.memoryMb, room, candidates);
    if (victims === undefined) return;
    this.opts.logger?.debug({ pool: p.memoryMb, evicted: victims.length }, 'idle instances give way to the configured pool');
    for (const v of victims) void this.destroySlot(v);
  }

  /**
   * Refill once `slot` (just taken from the pool or cold-started) has answered
   * its first call, or after {@link REFILL_AFTER_TAKE_MS} if that takes longer
   * (or never comes: a failed load). On the process backend the refill beside
   * the pool hit made it about twice as slow here: client p50 of 12 pool hits
   * in the bench's loop (standalone), Python 24.7 → 12.8 ms, Node 44.6 → 24.0 ms.
   */
  private refillAfterFirstAnswer(slot: Slot): void {
    slot.refillOnRelease = true;
    if (this.takeRefillTimer !== undefined || this.closing) return;
    this.takeRefillTimer = setTimeout(() => {
      this.takeRefillTimer = undefined;
      this.refill();
    }, REFILL_AFTER_TAKE_MS);
    this.takeRefillTimer.unref();
  }

  private startStem(p: PoolTarget): void {
    const slot = this.addSlot(p.spec, 'stem');
    this.creating++;
    const t0 = performance.now();
    slot.creating = this.opts.backend.createInstance(p.spec, { prestart: true }).then(
      (instance) => {
        this.creating--;
        this.createMs.add(performance.now() - t0);
        slot.instance = instance;
        this.byInstance.set(instance, slot);
        if (slot.cancelled || this.closing) {
          if (slot.destroyed === undefined) void this.destroySlot(slot);
          return instance;
        }
        this.refillFailures = 0;
        this.readyForQueue(slot);
        return instance;
      },
      (err: unknown) => {
        this.creating--;
        this.opts.logger?.warn({ err, memoryMb: p.memoryMb }, 'pre-starting a pool instance failed');
        this.holdRefill(p);
        this.slots.delete(slot);
        this.changed();
        this.dispatch();
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
  // Provisioned instances

  /**
   * Make the pinned instances match {@link provisioned}: unpin what is no
   * longer wanted (its idle timeout starts now), pin loaded instances of a
   * wanted version up to its count, and load the rest.
   */
  private keepProvisioned(): void {
    if (this.closing) return;
    const now = Date.now();
    const pinned = new Map<string, number>();
    // Pinned ones first, so a round does not move pins between instances.
    const loaded = [...this.slots]
      .filter((s) => s.fnKey !== undefined && (s.state === 'idle' || s.state === 'busy') && !s.retiring)
      .sort((a, b) => Number(b.pinned) - Number(a.pinned));
    for (const s of loaded) {
      const want = this.provisioned.get(s.fnKey!)?.instances ?? 0;
      const have = pinned.get(s.fnKey!) ?? 0;
      if (have < want) {
        if (!s.pinned && s.state === 'idle' && s.paused !== undefined) this.thawIdle(s);
        s.pinned = true;
        pinned.set(s.fnKey!, have + 1);
      } else if (s.pinned) {
        s.pinned = false;
        s.lastUsed = now;
      }
    }
    for (const [key, share] of this.provisioned) {
      if ((this.preloadHold.get(key)?.at ?? 0) > now) continue;
      const missing = share.instances - (pinned.get(key) ?? 0) - (this.preloading.get(key) ?? 0);
      for (let i = 0; i < missing; i++) void this.preload(share.fn, key);
    }
    for (const key of this.preloadHold.keys()) if (!this.provisioned.has(key)) this.preloadHold.delete(key);
  }

  /**
   * Resume an idle instance paused before it was provisioned, so a
   * provisioned instance is never frozen. A call that takes it meanwhile
   * waits for the resume (see {@link wake}); a resume that fails destroys it
   * (it is replaced in the next sweep).
   */
  private thawIdle(s: Slot): void {
    const paused = s.paused!;
    const resumed: Promise<void> = paused
      .then(() => s.instance?.resume?.())
      .then(() => {
        if (s.paused === resumed) s.paused = undefined;
      });
    s.paused = resumed;
    resumed.catch((err: unknown) => {
      this.opts.logger?.warn({ err }, 'resuming a provisioned instance failed; destroying it');
      if (s.state === 'idle') void this.destroySlot(s);
    });
  }

  /** Load one provisioned instance of `fn` and pin it (if it is still wanted once loaded). */
  private async preload(fn: FunctionVersion, key: string): Promise<void> {
    this.preloading.set(key, (this.preloading.get(key) ?? 0) + 1);
    try {
      const { instance } = await this.load(fn, key, performance.now(), Date.now() + PRELOAD_WAIT_MS, true);
      const slot = this.byInstance.get(instance);
      if (slot !== undefined) {
        const want = this.provisioned.get(key)?.instances ?? 0;
        let have = 0;
        for (const s of this.slots) if (s.pinned && s.fnKey === key) have++;
        slot.pinned = have < want;
      }
      this.release(instance, { healthy: true });
      this.preloadHold.delete(key);
    } catch (err) {
      // A version that does not load (a broken backend, code that throws at import) is tried again after a growing pause.
      const failures = (this.preloadHold.get(key)?.failures ?? 0) + 1;
      const pauseMs = backoffDelay(this.refillBackoff, failures - 1);
      this.preloadHold.set(key, { failures, at: Date.now() + pauseMs });
      this.opts.logger?.warn({ err, fn: key, retryInMs: pauseMs }, 'loading a provisioned instance failed');
    } finally {
      const left = (this.preloading.get(key) ?? 1) - 1;
      if (left > 0) this.preloading.set(key, left);
      else this.preloading.delete(key);
    }
  }

  // ---------------------------------------------------------------------------
  // Housekeeping

  private sweep(): void {
    if (this.closing) return;
    const now = Date.now();
    const { idleTtlMs, pauseIdleAfterMs } = this.opts;
    if (this.provisioned.size > 0) this.keepProvisioned();
    for (const s of [...this.slots]) {
      if (s.state !== 'idle' || s.pinned) continue;
      const idleFor = now - s.lastUsed;
      if (idleFor >= idleTtlMs) void this.destroySlot(s);
      else if (pauseIdleAfterMs !== undefined && idleFor >= pauseIdleAfterMs && s.paused === undefined && s.instance?.pause) {
        s.paused = s.instance.pause();
        s.paused.catch((err: unknown) => {
          this.opts.logger?.warn({ err }, 'pausing an idle instance failed; destroying it');
          if (s.state === 'idle') void this.destroySlot(s);
        });
      }
    }
    const quietMs = this.opts.poolQuietMs ?? 60_000;
    for (const [key, p] of this.pools) {
      if (p.target > p.base && now - p.lastColdAt >= quietMs) p.target = p.base;
      // Also catches instances a burst started that no queued call needed any more.
      this.trimPool(key, p.target);
      if (p.base === 0 && p.target === 0 && this.countStems(key) === 0) this.pools.delete(key);
    }
    // Instances a burst started for a pool with no target (e.g. of another size, before one was recorded).
    for (const s of [...this.slots]) if (s.state === 'stem' && !this.pools.has(this.poolKey(s.spec))) void this.destroySlot(s);
    if (this.reserveFits) {
      for (const [key, p] of this.pools) {
        // As the refill: queued calls of the pool take every instance that comes first.
        if (p.base === 0 || now < p.retryAt || this.creating >= this.maxCreating || this.waiters.some((w) => w.poolKey === key)) continue;
        if (this.countStems(key) < p.base) this.makeRoomForStem(p, now);
      }
    }
    this.refill();
  }

  private countStems(key: string): number {
    let n = 0;
    for (const s of this.slots) if ((s.state === 'stem' || (s.state === 'starting' && s.purpose === 'stem')) && this.poolKey(s.spec) === key) n++;
    return n;
  }

  /** Destroy generic instances beyond `target`, oldest first. */
  private trimPool(key: string, target: number): void {
    const stems = [...this.slots].filter((s) => s.state === 'stem' && this.poolKey(s.spec) === key).sort((a, b) => a.lastUsed - b.lastUsed);
    const surplus = this.countStems(key) - target;
    for (const s of stems.slice(0, Math.max(0, surplus))) void this.destroySlot(s);
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

/**
 * The first of `candidates`, in their order, whose memory added to `room`
 * makes `memoryMb` fit; undefined when all of them are not enough.
 */
function victimsFor(memoryMb: number, room: number, candidates: Slot[]): Slot[] | undefined {
  const victims: Slot[] = [];
  for (const s of candidates) {
    if (room >= memoryMb) break;
    victims.push(s);
    room += s.memoryMb;
  }
  return room >= memoryMb ? victims : undefined;
}

function draining(): PlatformError {
  return new PlatformError('EXECUTOR_DRAINING', 'executor is draining', { retryable: true });
}
