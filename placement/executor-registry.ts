/**
 * The scheduler's view of the executors: what each one last reported in its
 * heartbeat, whether it is fit to receive work, and what this scheduler has
 * sent it since.
 *
 * Pure bookkeeping — no timers, no bus. The scheduler feeds it heartbeats and
 * dispatch outcomes, calls {@link ExecutorRegistry.sweep} on a timer (once per
 * heartbeat interval is plenty), and hands {@link ExecutorRegistry.states} to
 * `choosePlacement`. Time comes from an injected clock so tests need no timers.
 *
 * Health follows OpenWhisk's invoker supervision, simplified:
 *
 * | state       | when                                                                 |
 * |-------------|----------------------------------------------------------------------|
 * | `offline`   | no heartbeat for `offlineAfterMs` (checked first; wins over the rest) |
 * | `draining`  | the last heartbeat said `draining: true`                             |
 * | `unhealthy` | `unhealthyAfterErrors` consecutive system errors                     |
 * | `healthy`   | otherwise — including from the very first heartbeat                  |
 *
 * An executor is forgotten (removed, off the hash ring) `forgetAfterMs` after
 * it went offline, or at once on a heartbeat with `leaving: true`.
 */
import type { Heartbeat, WarmInstanceInfo } from '../core/types.js';
import { ConsistentHashRing, DEFAULT_VIRTUAL_NODES } from './consistent-hash.js';

export type ExecutorState = 'healthy' | 'unhealthy' | 'offline' | 'draining';

/** Default executor heartbeat interval; mirrors `BRISK_HEARTBEAT_MS`'s default. */
export const DEFAULT_HEARTBEAT_MS = 1000;
/**
 * Missed heartbeats before an executor counts as offline. Three tolerates one
 * lost or late message plus GC/event-loop jitter without flapping, and still
 * notices a dead executor within ~3 s at the default interval.
 */
export const OFFLINE_AFTER_MISSED_HEARTBEATS = 3;
/**
 * Consecutive system (platform) errors before an executor is unhealthy. One or
 * two can be bad luck (a container that failed to start); three in a row means
 * the executor itself is broken.
 */
export const DEFAULT_UNHEALTHY_AFTER_ERRORS = 3;
/**
 * How long an offline executor is remembered before it is dropped. Long enough
 * that a restart or a network blip brings it back at the same ring position
 * (so functions keep their home), short enough that a dead one does not linger.
 */
export const DEFAULT_FORGET_AFTER_MS = 60_000;

export interface ExecutorRegistryOptions {
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
  /** The executors' heartbeat interval; only used to derive `offlineAfterMs`. */
  heartbeatMs?: number;
  /** Default `OFFLINE_AFTER_MISSED_HEARTBEATS × heartbeatMs` (3000 ms at 1 s heartbeats). */
  offlineAfterMs?: number;
  /** Default {@link DEFAULT_UNHEALTHY_AFTER_ERRORS}. */
  unhealthyAfterErrors?: number;
  /** Time spent offline before removal; default {@link DEFAULT_FORGET_AFTER_MS}. */
  forgetAfterMs?: number;
  /** Points per executor on the hash ring; default {@link DEFAULT_VIRTUAL_NODES}. */
  virtualNodes?: number;
}

/**
 * A snapshot of one executor as placement sees it. Memory figures are in MB.
 *
 * Effective usage combines the last heartbeat with this scheduler's own
 * reservations (dispatches sent but not yet finished):
 *
 *     usedMb = max(reportedUsedMb + pendingMb, reservedMb)
 *
 * - `pendingMb` is what was reserved *after* the last heartbeat arrived: the
 *   executor cannot have counted it yet, so it is added on top of the report.
 *   This is what stops a burst of dispatches between two heartbeats from all
 *   landing on the one executor that looked emptiest.
 * - Reservations made *before* the last heartbeat are assumed to be inside
 *   `reportedUsedMb` already (adding them would double-count), but the total
 *   `reservedMb` is kept as a floor in case the report is stale or the
 *   dispatches are still on the wire.
 * - Dispatches onto an idle warm instance add nothing to `pendingMb`, but the
 *   report counts an idle instance the executor may evict as free, so the
 *   instances such runs took beyond the runs the report saw running are
 *   added (`idleTakenMb`; without it a hot function with every instance busy looked
 *   like room for more, and its calls left the gateway's direct path for a
 *   scheduler). They also take the instance out
 *   of `idleWarm` while they run. One that ends gives its instance back at
 *   once, even when the last heartbeat showed it busy: idle warm = idle in the
 *   heartbeat + this registry's warm runs the heartbeat saw running (its
 *   `running` list) − this registry's warm runs outstanding now. A run still
 *   on its way when the executor composed the heartbeat is not in that list:
 *   the heartbeat counted its instance idle, and the run will take it (without
 *   the list, as from an older executor, every run outstanding when the
 *   heartbeat arrived counts as seen, which can count such an instance idle
 *   twice). (Others' runs on the same executor show only in the next heartbeat;
 *   an executor handed a call its instances cannot take at once waits a
 *   little for one, see `Executor.acquire`.)
 */
export interface ExecutorView {
  readonly executorId: string;
  readonly backend: Heartbeat['backend'];
  readonly state: ExecutorState;
  /** Memory budget. */
  readonly memoryMb: number;
  /** Memory in use per the last heartbeat. */
  readonly reportedUsedMb: number;
  /** All of this scheduler's outstanding reservations on the executor. */
  readonly reservedMb: number;
  /** The part of `reservedMb` reserved since the last heartbeat (excluding warm reuse). */
  readonly pendingMb: number;
  /** Effective usage, see above; never more than `memoryMb`. */
  readonly usedMb: number;
  /** `memoryMb − usedMb`, never negative. */
  readonly freeMb: number;
  /** `max(reported inFlight + dispatches since the heartbeat, outstanding reservations)`. */
  readonly inFlight: number;
  /**
   * Calls its loaded instances can take at once per {@link functionVersionKey}
   * (an idle instance of a function with `concurrency` N counts N, a busy one
   * its free places), minus those claimed since the heartbeat.
   */
  readonly idleWarm: Readonly<Record<string, number>>;
  /** Provisioned instances it holds loaded, per {@link functionVersionKey} (its heartbeat's). */
  readonly provisioned: Readonly<Record<string, number>>;
  /** Warm instances exactly as last reported. */
  readonly warm: readonly WarmInstanceInfo[];
  readonly pool: Readonly<Record<string, number>>;
  /** Pre-started instances ready per pool key (`stemFor`, placement/pool-keys.ts), less those this registry's dispatches took since the heartbeat. */
  readonly stems: Readonly<Record<string, number>>;
  /** Consecutive system errors as this registry counts them. */
  readonly systemErrors: number;
  /** When the last heartbeat arrived, by this registry's clock. */
  readonly lastHeartbeatAt: number;
  /** It takes warm sync calls straight from gateways (its heartbeat says so). */
  readonly acceptsDirect: boolean;
}

/** Reservation options. */
export interface ReserveOptions {
  /**
   * Set when the dispatch goes to an idle warm instance (placement reason
   * `warm`): the key of that function version, see {@link functionVersionKey}.
   */
  warmKey?: string;
  /**
   * Set when it goes to a pre-started instance (placement reason `pool`): the
   * pool key it takes one from (`stemFor`, placement/pool-keys.ts); such a reservation
   * holds memory like a cold start's, as a taken instance starts to count.
   */
  stemKey?: string;
  /**
   * With `stemKey`: the key of the function version the pre-started instance
   * is loaded with. When the run ends the executor holds an idle instance of
   * it, which the view counts until a heartbeat shows it (see `Loaded`).
   */
  loadsKey?: string;
  /**
   * Epoch ms after which the reservation is dropped by {@link ExecutorRegistry.sweep}
   * even if never released — a guard against results that never come back.
   * Typically the invocation deadline plus a margin.
   */
  expiresAt?: number;
}

export type OfflineListener = (executorId: string, activationIds: string[]) => void;
export type RemovedListener = (
  executorId: string,
  reason: 'left' | 'forgotten',
  activationIds: string[],
) => void;

/** The key of one function version, as used in {@link ExecutorView.idleWarm}. */
export function functionVersionKey(namespace: string, name: string, version: number): string {
  return `${namespace}/${name}@${version}`;
}

interface Reservation {
  activationId: string;
  executorId: string;
  memoryMb: number;
  warmKey: string | undefined;
  stemKey: string | undefined;
  loadsKey: string | undefined;
  expiresAt: number | undefined;
  /** Value of the registry's event counter when reserved; compared with the executor's last heartbeat. */
  seq: number;
}

interface ExecutorRecord {
  id: string;
  hb: Heartbeat;
  lastSeenAt: number;
  /** Registry event counter at the last heartbeat; reservations with a larger `seq` are pending. */
  heartbeatSeq: number;
  systemErrors: number;
  offlineNotified: boolean;
  reservations: Map<string, Reservation>;
  /**
   * Warm reservations outstanding when the last heartbeat arrived that it saw
   * running, per warm key (their instances were busy in it). A dispatch still
   * on its way when the executor composed the heartbeat is not among them: its
   * instance counted idle there, and the dispatch will take it.
   */
  warmAtHeartbeat: Map<string, number>;
  /**
   * Instances this registry's own pool dispatches left loaded and idle, not
   * yet in a heartbeat: without them a function's second call, right after
   * its first, would see no idle instance and take another pre-started one
   * (often on another executor) instead of the one its first call loaded.
   */
  loaded: Loaded[];
  /**
   * Pre-started instances our dispatches took whose runs ended before any
   * heartbeat came: the last heartbeat still counts them ready. Kept for two
   * heartbeats: the first may have been composed before the take.
   */
  stemsTaken: Array<{ key: string; beats: number }>;
}

/** An instance a pool dispatch of ours loaded (see `ExecutorRecord.loaded`). */
interface Loaded {
  activationId: string;
  key: string;
  /** Heartbeats seen since its run ended that did not show it: dropped at the second (the instance is gone, or its load failed). */
  missed: number;
}

export class ExecutorRegistry {
  readonly offlineAfterMs: number;
  readonly unhealthyAfterErrors: number;
  readonly forgetAfterMs: number;

  private readonly now: () => number;
  private readonly records = new Map<string, ExecutorRecord>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly offlineListeners = new Set<OfflineListener>();
  private readonly removedListeners = new Set<RemovedListener>();
  private readonly hashRing: ConsistentHashRing;
  /**
   * Executors that sent `leaving: true`: the `sentAt` of that heartbeat and when
   * it arrived. An older heartbeat reordered behind the goodbye must not bring
   * the executor back; entries are dropped after `forgetAfterMs`.
   */
  private readonly departed = new Map<string, { sentAt: number; at: number }>();
  /** Orders heartbeats and reservations without trusting clocks. */
  private seq = 0;

  constructor(opts: ExecutorRegistryOptions = {}) {
    this.now = opts.now ?? Date.now;
    const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.offlineAfterMs = opts.offlineAfterMs ?? OFFLINE_AFTER_MISSED_HEARTBEATS * heartbeatMs;
    this.unhealthyAfterErrors = opts.unhealthyAfterErrors ?? DEFAULT_UNHEALTHY_AFTER_ERRORS;
    this.forgetAfterMs = opts.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS;
    this.hashRing = new ConsistentHashRing([], { virtualNodes: opts.virtualNodes ?? DEFAULT_VIRTUAL_NODES });
  }

  /**
   * Every known executor (any state) on a consistent-hash ring; pass it to
   * `choosePlacement` so homes are computed without rebuilding a ring per call.
   * Unhealthy, draining and offline executors stay on it until forgotten, so a
   * function's home does not move during a short outage — placement steps past it.
   */
  get ring(): ConsistentHashRing {
    return this.hashRing;
  }

  /** Number of executors known (any state). */
  get size(): number {
    return this.records.size;
  }

  /**
   * Takes in one heartbeat. A `leaving: true` heartbeat removes the executor at
   * once; a heartbeat older (by `sentAt`) than the last one seen from the same
   * executor is ignored, since the bus may reorder. A heartbeat reporting
   * `systemErrors: 0` clears the error count (recovery); a non-zero one can only
   * raise it, because the executor and the scheduler see different failures.
   */
  observe(hb: Heartbeat): void {
    if (hb.leaving) {
      this.departed.set(hb.executorId, { sentAt: hb.sentAt, at: this.now() });
      this.remove(hb.executorId, 'left');
      return;
    }
    const goodbye = this.departed.get(hb.executorId);
    if (goodbye !== undefined) {
      if (hb.sentAt <= goodbye.sentAt) return;
      this.departed.delete(hb.executorId); // a restart under the same id
    }
    const existing = this.records.get(hb.executorId);
    if (existing !== undefined && hb.sentAt < existing.hb.sentAt) return;
    const seq = ++this.seq;
    if (existing === undefined) {
      this.records.set(hb.executorId, {
        id: hb.executorId,
        hb,
        lastSeenAt: this.now(),
        heartbeatSeq: seq,
        systemErrors: hb.systemErrors,
        offlineNotified: false,
        reservations: new Map(),
        warmAtHeartbeat: new Map(),
        loaded: [],
        stemsTaken: [],
      });
      this.hashRing.add(hb.executorId);
      return;
    }
    existing.hb = hb;
    existing.lastSeenAt = this.now();
    existing.heartbeatSeq = seq;
    existing.stemsTaken = existing.stemsTaken.filter((t) => ++t.beats < 2);
    // The warm runs this heartbeat saw busy: the ones it names running; without the list, every one outstanding now.
    const running = hb.running === undefined ? undefined : new Set(hb.running);
    existing.warmAtHeartbeat = warmCounts([...existing.reservations.values()].filter((r) => running === undefined || running.has(r.activationId)));
    // A heartbeat that saw the run keeps its instance counted here (it showed it busy); one that shows the version idle
    // or busy without the run was composed after it and counts it itself; one that shows neither, twice, means it is gone.
    const shown = new Set(hb.warm.map((w) => functionVersionKey(w.namespace, w.function, w.version)));
    existing.loaded = existing.loaded.filter((l) => {
      if (running?.has(l.activationId) === true) return true;
      if (shown.has(l.key)) return false;
      l.missed++;
      return l.missed < 2;
    });
    existing.offlineNotified = false;
    existing.systemErrors = hb.systemErrors === 0 ? 0 : Math.max(existing.systemErrors, hb.systemErrors);
  }

  /** A dispatch to this executor failed for platform reasons (not the function's fault). */
  recordSystemError(executorId: string): void {
    const rec = this.records.get(executorId);
    if (rec !== undefined) rec.systemErrors++;
  }

  /** A dispatch to this executor completed without a platform error; clears the error streak. */
  recordSuccess(executorId: string): void {
    const rec = this.records.get(executorId);
    if (rec !== undefined) rec.systemErrors = 0;
  }

  /**
   * Records that `activationId` was dispatched to `executorId` and will occupy
   * `memoryMb` there until {@link releaseReservation}. Reserving an activation
   * that already holds a reservation moves it (re-dispatch). Returns false, and
   * records nothing, for an unknown executor.
   */
  reserve(executorId: string, memoryMb: number, activationId: string, opts: ReserveOptions = {}): boolean {
    const rec = this.records.get(executorId);
    if (rec === undefined) return false;
    this.releaseReservation(activationId);
    const r: Reservation = {
      activationId,
      executorId,
      memoryMb,
      warmKey: opts.warmKey,
      stemKey: opts.stemKey,
      loadsKey: opts.loadsKey,
      expiresAt: opts.expiresAt,
      seq: ++this.seq,
    };
    rec.reservations.set(activationId, r);
    this.reservations.set(activationId, r);
    return true;
  }

  /**
   * Ends the reservation of `activationId`; false when it held none. Safe to
   * call twice. `ran: false` (the dispatch was never sent, or its executor is
   * gone) leaves no loaded instance or taken pre-started one behind in the view.
   */
  releaseReservation(activationId: string, { ran = true }: { ran?: boolean } = {}): boolean {
    const r = this.reservations.get(activationId);
    if (r === undefined) return false;
    this.reservations.delete(activationId);
    const rec = this.records.get(r.executorId);
    rec?.reservations.delete(activationId);
    if (!ran || rec === undefined) return true;
    if (r.loadsKey !== undefined) rec.loaded.push({ activationId, key: r.loadsKey, missed: 0 });
    if (r.stemKey !== undefined && r.seq > rec.heartbeatSeq) rec.stemsTaken.push({ key: r.stemKey, beats: 0 });
    return true;
  }

  /** Activation ids this scheduler has outstanding on `executorId`. */
  reservedActivations(executorId: string): string[] {
    return [...(this.records.get(executorId)?.reservations.keys() ?? [])];
  }

  /**
   * Called once when an executor goes offline (and again only if it came back
   * and went offline anew), with the activations still reserved on it so the
   * scheduler can re-dispatch its async work. Returns an unsubscribe function.
   */
  onOffline(listener: OfflineListener): () => void {
    this.offlineListeners.add(listener);
    return () => this.offlineListeners.delete(listener);
  }

  /** Called when an executor is removed (left or forgotten), with the reservations dropped with it. */
  onRemoved(listener: RemovedListener): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  /**
   * Applies the passage of time: drops expired reservations, marks silent
   * executors offline (firing `onOffline` once) and forgets long-offline ones
   * (firing `onRemoved`). The read methods below sweep first, so their answers
   * are always current; the scheduler should also call this on a timer so
   * `onOffline` fires even when nothing is being placed.
   */
  sweep(): void {
    const now = this.now();
    for (const r of [...this.reservations.values()]) {
      if (r.expiresAt !== undefined && r.expiresAt <= now) this.releaseReservation(r.activationId);
    }
    for (const [id, goodbye] of this.departed) {
      if (now - goodbye.at >= this.forgetAfterMs) this.departed.delete(id);
    }
    const wentOffline: ExecutorRecord[] = [];
    const forgotten: ExecutorRecord[] = [];
    for (const rec of this.records.values()) {
      const silentFor = now - rec.lastSeenAt;
      if (silentFor < this.offlineAfterMs) continue;
      if (!rec.offlineNotified) {
        rec.offlineNotified = true;
        wentOffline.push(rec);
      }
      if (silentFor >= this.offlineAfterMs + this.forgetAfterMs) forgotten.push(rec);
    }
    const errors: unknown[] = [];
    for (const rec of wentOffline) {
      const ids = [...rec.reservations.keys()];
      for (const l of [...this.offlineListeners]) callSafely(errors, () => l(rec.id, ids));
    }
    for (const rec of forgotten) {
      // Re-check: an offline listener may already have removed or revived it.
      if (this.records.get(rec.id) === rec && now - rec.lastSeenAt >= this.offlineAfterMs + this.forgetAfterMs) {
        this.remove(rec.id, 'forgotten', errors);
      }
    }
    rethrow(errors);
  }

  /** Every known executor, sorted by id. */
  states(): ExecutorView[] {
    this.sweep();
    return [...this.records.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((rec) => this.view(rec));
  }

  /** One executor, or undefined when unknown (never seen, left, or forgotten). */
  get(executorId: string): ExecutorView | undefined {
    this.sweep();
    const rec = this.records.get(executorId);
    return rec === undefined ? undefined : this.view(rec);
  }

  /**
   * The executors fit for new work: `healthy` ones. (Placement itself may fall
   * back to `unhealthy` ones when no healthy executor exists; give it
   * {@link states} for that.)
   */
  eligible(): ExecutorView[] {
    return this.states().filter((v) => v.state === 'healthy');
  }

  private stateOf(rec: ExecutorRecord): ExecutorState {
    if (this.now() - rec.lastSeenAt >= this.offlineAfterMs) return 'offline';
    if (rec.hb.draining) return 'draining';
    if (rec.systemErrors >= this.unhealthyAfterErrors) return 'unhealthy';
    return 'healthy';
  }

  private view(rec: ExecutorRecord): ExecutorView {
    const { hb } = rec;
    let reservedMb = 0;
    let pendingMb = 0;
    let pendingCount = 0;
    // Pre-started instances as reported, less those taken by our dispatches the heartbeat has not seen.
    const stems: Record<string, number> = { ...hb.stems };
    for (const { key } of rec.stemsTaken) stems[key] = Math.max(0, (stems[key] ?? 0) - 1);
    // Our warm runs outstanding now, and their instances' memory, per function version.
    const outstanding = new Map<string, number>();
    const warmMb = new Map<string, number>();
    for (const r of rec.reservations.values()) {
      reservedMb += r.memoryMb;
      if (r.warmKey !== undefined) {
        outstanding.set(r.warmKey, (outstanding.get(r.warmKey) ?? 0) + 1);
        warmMb.set(r.warmKey, r.memoryMb);
      }
      if (r.seq <= rec.heartbeatSeq) continue;
      pendingCount++;
      if (r.warmKey === undefined) pendingMb += r.memoryMb;
      if (r.stemKey !== undefined) stems[r.stemKey] = Math.max(0, (stems[r.stemKey] ?? 0) - 1);
    }
    const idleWarm: Record<string, number> = {};
    // Idle instances of one run at a time (the executor reports them free when evictable), and versions with shared ones.
    const idleSingle = new Map<string, number>();
    const shared = new Set<string>();
    for (const w of hb.warm) {
      const places = w.places ?? (w.state === 'idle' ? 1 : 0);
      if (places === 0 && w.places === undefined) continue;
      const key = functionVersionKey(w.namespace, w.function, w.version);
      if (w.places !== undefined) shared.add(key);
      else idleSingle.set(key, (idleSingle.get(key) ?? 0) + 1);
      if (places > 0) idleWarm[key] = (idleWarm[key] ?? 0) + places;
    }
    // Idle now = idle in the heartbeat + our warm runs it saw busy that ended since − our warm runs it did not see:
    // i.e. + (outstanding at the heartbeat and seen running by it) − (outstanding now). Without the first term an
    // instance this registry's own run left would look busy until the next heartbeat (a second of a hot function queued).
    for (const l of rec.loaded) idleWarm[l.key] = (idleWarm[l.key] ?? 0) + 1;
    for (const key of new Set([...outstanding.keys(), ...rec.warmAtHeartbeat.keys()])) {
      const left = (idleWarm[key] ?? 0) + (rec.warmAtHeartbeat.get(key) ?? 0) - (outstanding.get(key) ?? 0);
      if (left > 0) idleWarm[key] = left;
      else delete idleWarm[key];
    }
    // Memory of the idle instances the heartbeat counted free that our warm runs took (see ExecutorView): per version,
    // the runs beyond those it saw running (those sit on instances it counted used), at most its idle instances less the
    // provisioned ones (never evicted, so reported used). A lower bound: another placer's run that ended since freed a
    // used instance we may have taken instead. Shared instances are left out (a run may take a place on a busy one).
    let idleTakenMb = 0;
    for (const [key, runs] of outstanding) {
      if (shared.has(key)) continue;
      const evictable = Math.max(0, (idleSingle.get(key) ?? 0) - (hb.provisioned?.[key] ?? 0));
      idleTakenMb += Math.min(evictable, Math.max(0, runs - (rec.warmAtHeartbeat.get(key) ?? 0))) * (warmMb.get(key) ?? 0);
    }
    const usedMb = Math.min(hb.memoryMb, Math.max(hb.memoryUsedMb + pendingMb + idleTakenMb, reservedMb));
    return {
      executorId: rec.id,
      backend: hb.backend,
      state: this.stateOf(rec),
      memoryMb: hb.memoryMb,
      reportedUsedMb: hb.memoryUsedMb,
      reservedMb,
      pendingMb,
      usedMb,
      freeMb: Math.max(0, hb.memoryMb - usedMb),
      inFlight: Math.max(hb.inFlight + pendingCount, rec.reservations.size),
      idleWarm,
      provisioned: hb.provisioned ?? {},
      warm: hb.warm,
      pool: hb.pool,
      stems,
      systemErrors: rec.systemErrors,
      lastHeartbeatAt: rec.lastSeenAt,
      acceptsDirect: hb.direct === true,
    };
  }

  private remove(executorId: string, reason: 'left' | 'forgotten', errors?: unknown[]): void {
    const rec = this.records.get(executorId);
    if (rec === undefined) return;
    this.records.delete(executorId);
    this.hashRing.remove(executorId);
    const ids = [...rec.reservations.keys()];
    for (const id of ids) this.reservations.delete(id);
    const collected = errors ?? [];
    for (const l of [...this.removedListeners]) callSafely(collected, () => l(executorId, reason, ids));
    if (errors === undefined) rethrow(collected);
  }
}

/** Outstanding warm reservations per warm key. */
function warmCounts(reservations: Iterable<Reservation>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of reservations) if (r.warmKey !== undefined) counts.set(r.warmKey, (counts.get(r.warmKey) ?? 0) + 1);
  return counts;
}

/** Runs a listener so one that throws cannot stop the others or corrupt the sweep. */
function callSafely(errors: unknown[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    errors.push(err);
  }
}

function rethrow(errors: unknown[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'executor registry listeners failed');
}
