import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import { NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import type { Dispatch, InvocationRequest, InvocationResult } from '../core/types.js';
import { platformError, refusedRecord } from '../invocations/activation-records.js';
import { CapacitySignal } from '../placement/capacity-signal.js';
import type { ConcurrencyCounter } from '../placement/concurrency-limiter.js';
import { functionVersionKey, type ExecutorRegistry } from '../placement/executor-registry.js';
import { choosePlacement, placementKey, takenBy, type PlacementPolicy } from '../placement/placement.js';
import type { MetadataStore } from '../storage/types.js';

/** The `placement` a direct dispatch carries (and its activation record shows). */
export const DIRECT_PLACEMENT = 'direct';

/**
 * What became of a sync call offered to the direct path: sent to an executor
 * (its reply will come to the invoker's queue), answered at once (over a
 * concurrency limit), or left for a scheduler (no warm instance to take).
 */
export type DirectOutcome = { kind: 'sent' } | { kind: 'answered'; result: InvocationResult } | { kind: 'scheduler' };

export interface WarmDispatcherDeps {
  bus: Bus;
  topology: Topology;
  /** The gateway's view of the executors, fed by heartbeats (the `ExecutorMonitor`'s registry). */
  registry: ExecutorRegistry;
  /** Concurrency slots shared with every scheduler and gateway (the same counters). */
  limiter: ConcurrencyCounter;
  policy: PlacementPolicy;
  hotSpotThreshold?: number;
  /** A namespace's in-flight cap when the request does not carry its quota. */
  namespaceConcurrency: number;
  /** Where a call lost with its executor is recorded (`EXECUTOR_LOST`). */
  store: Pick<MetadataStore, 'finishActivation'>;
  logger: Logger;
  metrics?: Metrics;
}

interface Sent {
  request: InvocationRequest;
  executorId: string;
  warmKey: string;
}

/** How often the registry is swept (offline executors noticed within a heartbeat-ish). */
const SWEEP_MS = 250;
/**
 * Safety net of a call waiting for one of this gateway's own runs of its
 * function to end: a run can end where this gateway cannot see it (the
 * executor evicted the instance, another gateway's run freed one).
 */
const RECHECK_MS = 50;
/** Waiters woken per run that ends: the instance it frees, plus one spare. */
const WAKE_PER_END = 2;

/**
 * The gateway's half of placement for warm sync calls (OpenWhisk's controller
 * embeds its load balancer the same way). From the executors' heartbeats it
 * knows which executor holds an idle warm instance of a function version;
 * such a call is placed with the one placement policy (`placement/`), its
 * concurrency slot taken from the counters the schedulers share, and its
 * dispatch sent straight to the executor's direct queue: transient (not written to
 * disk) and unconfirmed. The executor's reply, to the invoker's queue, ends it.
 * Two hand-offs instead of four, and no scheduler work at all. A call with
 * no warm instance anywhere takes the same path to an executor holding a
 * ready pre-started instance that can load it (placement reason `pool`, from
 * the heartbeats' `stems`): a new function's first call is a pool hit
 * without the scheduler's two hand-offs and run claim.
 *
 * Everything else goes through a scheduler as before (`{ kind: 'scheduler' }`):
 * async work, full cold starts (no warm or pre-started instance to take),
 * retries. One exception keeps a hot function off the scheduler: when every
 * warm instance is busy with this gateway's own runs and no executor has room
 * for another, the call waits here for one of them to end — the scheduler
 * would only hear of it at the next heartbeat.
 *
 * Delivery is at-most-once: a call whose executor goes offline (no heartbeat
 * for three intervals) fails at once with `EXECUTOR_LOST`, and is recorded so;
 * an executor never runs a direct dispatch delivered to it a second time.
 */
export class WarmDispatcher {
  private readonly sent = new Map<string, Sent>();
  /** This gateway's direct runs in flight, per function version. */
  private readonly own = new Map<string, number>();
  /** Calls waiting for one of those runs to end, per function version. */
  private readonly freed = new Map<string, CapacitySignal>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly unlisten: Array<() => void> = [];
  private onLost: (result: InvocationResult) => void = () => undefined;
  private stopping = false;
  /** Executors seen offline that still hold calls of ours: are they really gone? See {@link checkSuspects}. */
  private readonly suspects = new Set<string>();
  private checking = false;

  constructor(private readonly deps: WarmDispatcherDeps) {}

  /** Watch the executors; `onLost` receives the answer of each call lost with its executor. */
  start(onLost: (result: InvocationResult) => void): void {
    this.onLost = onLost;
    this.stopping = false;
    this.unlisten.push(
      this.deps.registry.onOffline((executorId) => {
        if ([...this.sent.values()].some((s) => s.executorId === executorId)) this.suspects.add(executorId);
      }),
    );
    this.sweepTimer = setInterval(() => {
      try {
        this.deps.registry.sweep();
      } catch (err) {
        this.deps.logger.warn({ err }, 'executor view sweep failed');
      }
      if (this.suspects.size > 0) void this.checkSuspects();
      // A heartbeat may have brought an idle instance: waiters look again.
      for (const s of this.freed.values()) s.notifyAll();
    }, SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Stop placing; calls still waiting go to a scheduler. Held slots stay until their replies (or the invoker's stop). */
  stop(): void {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const off of this.unlisten.splice(0)) off();
    for (const s of this.freed.values()) s.notifyAll();
  }

  /** Direct runs in flight (tests, metrics). */
  get inFlight(): number {
    return this.sent.size;
  }

  /** Place a sync call on an idle warm instance and send it there, if there is one (see the class). */
  async dispatch(request: InvocationRequest): Promise<DirectOutcome> {
    const { fn } = request;
    const warmKey = functionVersionKey(fn.namespace, fn.name, fn.version);
    const signal = this.signalOf(warmKey);
    const ticket = signal.ticket();
    // Calls already waiting for this function go first.
    let mayPlace = signal.waiting === 0;
    try {
      for (;; mayPlace = true) {
        if (this.stopping || Date.now() >= request.deadline) return { kind: 'scheduler' };
        const placement = mayPlace
          ? choosePlacement({
              fn: { namespace: fn.namespace, name: fn.name, version: fn.version, memoryMb: fn.memoryMb, instance: fn },
              // Executors of a version without a direct queue (a rolling upgrade) get their calls through a scheduler.
              executors: this.deps.registry.states().filter((e) => e.acceptsDirect),
              policy: this.deps.policy,
              ...(this.deps.hotSpotThreshold !== undefined ? { hotSpotThreshold: this.deps.hotSpotThreshold } : {}),
              ring: this.deps.registry.ring,
            })
          : undefined;
        // An idle warm instance, or a pre-started one that loads the function in a few milliseconds.
        if (placement?.reason === 'warm' || placement?.reason === 'pool') return await this.send(request, placement.executorId, warmKey, takenBy(placement, fn));
        // Room for a full cold start, or no run of ours to wait for: the scheduler's work.
        if (mayPlace && (placement !== undefined || (this.own.get(warmKey) ?? 0) === 0)) return { kind: 'scheduler' };
        await signal.wait(RECHECK_MS, ticket);
      }
    } finally {
      if (signal.waiting === 0 && (this.own.get(warmKey) ?? 0) === 0) this.freed.delete(warmKey);
    }
  }

  /** A reply arrived (or the caller stopped waiting): free the instance's reservation and the concurrency slot. */
  finished(activationId: string, result?: InvocationResult): void {
    const s = this.sent.get(activationId);
    if (s === undefined) return;
    if (result?.executorId === s.executorId) {
      if (result.systemError === true) this.deps.registry.recordSystemError(s.executorId);
      else this.deps.registry.recordSuccess(s.executorId);
    }
    this.release(activationId, s);
  }

  private async send(request: InvocationRequest, executorId: string, warmKey: string, taken: ReturnType<typeof takenBy>): Promise<DirectOutcome> {
    const { fn } = request;
    const nsMax = request.namespaceConcurrency ?? this.deps.namespaceConcurrency;
    // Reserved in the same turn as it was chosen: another call placed while
    // this one waits for its concurrency slot (a lease refill is a round
    // trip to the shared counters) must not count the same instance idle.
    this.deps.registry.reserve(executorId, fn.memoryMb, request.activationId, { ...taken, expiresAt: request.deadline + 60_000 });
    let admitted: boolean;
    try {
      admitted = await this.deps.limiter.tryAcquire(fn.namespace, placementKey(fn.namespace, fn.name), fn.maxConcurrency, nsMax);
    } catch (err) {
      this.unreserve(request.activationId, warmKey);
      // The shared counters are unreachable: the scheduler's path knows how to wait out an outage.
      this.deps.logger.warn({ err, activationId: request.activationId }, 'concurrency counters unavailable; call sent through a scheduler');
      return { kind: 'scheduler' };
    }
    if (!admitted) {
      this.unreserve(request.activationId, warmKey);
      const error = platformError('CONCURRENCY_LIMIT', 'concurrency limit reached');
      return { kind: 'answered', result: { activationId: request.activationId, status: 'throttled', error, coldStart: false, durationMs: 0 } };
    }
    const entry: Sent = { request, executorId, warmKey };
    this.sent.set(request.activationId, entry);
    this.own.set(warmKey, (this.own.get(warmKey) ?? 0) + 1);
    const dispatch: Dispatch = { request, placement: DIRECT_PLACEMENT };
    try {
      await this.deps.bus.send(this.deps.topology.directQueue(executorId), dispatch, { confirm: false, transient: true });
    } catch (err) {
      this.release(request.activationId, entry, false);
      this.deps.logger.warn({ err, activationId: request.activationId }, 'direct dispatch not sent; sent through a scheduler');
      return { kind: 'scheduler' };
    }
    this.deps.metrics?.dispatches.inc({ placement: DIRECT_PLACEMENT });
    return { kind: 'sent' };
  }

  /** A reservation made for a call that is not sent after all: the instance is free again for the calls waiting for one. */
  private unreserve(activationId: string, warmKey: string): void {
    this.deps.registry.releaseReservation(activationId, { ran: false });
    this.freed.get(warmKey)?.notify(WAKE_PER_END);
  }

  /** `ran`: false when the call never reached its executor, or the executor is gone (see `ExecutorRegistry.releaseReservation`). */
  private release(activationId: string, s: Sent, ran = true): void {
    this.sent.delete(activationId);
    this.deps.registry.releaseReservation(activationId, { ran });
    const n = (this.own.get(s.warmKey) ?? 1) - 1;
    if (n > 0) this.own.set(s.warmKey, n);
    else this.own.delete(s.warmKey);
    this.freed.get(s.warmKey)?.notify(WAKE_PER_END);
    const { fn } = s.request;
    Promise.resolve(this.deps.limiter.release(fn.namespace, placementKey(fn.namespace, fn.name))).catch((err: unknown) =>
      this.deps.logger.warn({ err, activationId }, 'concurrency slot not released'),
    );
  }

  /**
   * Executors silent for three heartbeats that still hold calls of ours. Late
   * heartbeats alone do not fail a call (a busy machine delays them while the
   * run goes on); the broker decides: the executor's direct queue is
   * exclusive to its connection, so once the queue is gone (at once for a
   * killed process, within two AMQP heartbeats for a hung one) the executor
   * and what it held are gone, and its calls are lost. One that heartbeats
   * again is cleared.
   */
  private async checkSuspects(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const executorId of [...this.suspects]) {
        const state = this.deps.registry.get(executorId)?.state;
        if (state !== undefined && state !== 'offline') {
          this.suspects.delete(executorId);
          continue;
        }
        let consumers = 0;
        try {
          if (state === 'offline') consumers = await this.deps.bus.queueConsumers(this.deps.topology.directQueue(executorId));
        } catch (err) {
          // No direct queue: the broker deleted it with the executor's connection. A bus outage: asked again next sweep.
          if (!(err instanceof NotFoundError)) continue;
        }
        if (consumers > 0) continue;
        this.suspects.delete(executorId);
        this.executorLost(executorId);
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'checking silent executors failed');
    } finally {
      this.checking = false;
    }
  }

  /**
   * An executor is gone: every call sent to it fails now with
   * `EXECUTOR_LOST` (a platform fault; the caller may retry) instead of
   * waiting for its deadline, and its record says so. What still waited in
   * its direct queue went with the queue: never run.
   */
  private executorLost(executorId: string): void {
    const lost = [...this.sent].filter(([, s]) => s.executorId === executorId);
    if (lost.length > 0) this.deps.logger.warn({ executorId, calls: lost.length }, 'executor offline; its direct calls fail with EXECUTOR_LOST');
    for (const [activationId, s] of lost) {
      this.release(activationId, s, false);
      const error = platformError('EXECUTOR_LOST', `executor ${executorId} went silent while it held this invocation`);
      this.deps.store.finishActivation(refusedRecord(s.request, error)).catch((err: unknown) =>
        this.deps.logger.warn({ err, activationId }, 'EXECUTOR_LOST record not written'),
      );
      this.onLost({ activationId, status: 'platform_error', error, coldStart: false, durationMs: 0 });
    }
  }

  private signalOf(warmKey: string): CapacitySignal {
    let s = this.freed.get(warmKey);
    if (s === undefined) {
      s = new CapacitySignal();
      this.freed.set(warmKey, s);
    }
    return s;
  }
}
