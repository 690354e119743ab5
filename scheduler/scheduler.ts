import { randomUUID } from 'node:crypto';
import type { Bus, DeliveryInfo, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import type { ErrorCode } from '../core/error-codes.js';
import { HandedBackError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { parseCompletion, parseDispatch, parseHeartbeat, parseInvocationRequest } from '../core/schemas.js';
import type { Completion, Dispatch, Heartbeat, InvocationRequest, InvocationResult, PrewarmRequest } from '../core/types.js';
import { platformError, refusedRecord } from '../invocations/activation-records.js';
import type { KeyValueStore, MetadataStore } from '../storage/types.js';
import { CapacitySignal } from '../placement/capacity-signal.js';
import type { ConcurrencyCounter } from '../placement/concurrency-limiter.js';
import type { DeadLetterOffice } from '../invocations/dead-letter-office.js';
import type { DeadLetterReason } from '../invocations/dead-letters.js';
import type { RetryPolicy } from '../invocations/retry-policy.js';
import { functionVersionKey, type ExecutorRegistry } from '../placement/executor-registry.js';
import { choosePlacement, placementKey, slotMemoryMb, takenBy, type PlacementPolicy } from '../placement/placement.js';

export interface SchedulerOptions {
  metrics?: Metrics;
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  registry: ExecutorRegistry;
  limiter: ConcurrencyCounter;
  logger: Logger;
  policy: PlacementPolicy;
  hotSpotThreshold?: number;
  namespaceConcurrency: number;
  /** Invocations held at once while they wait for capacity or a limit (bus prefetch). */
  maxWaiting?: number;
  /** Where async invocations that finally fail go (dead-letter store, on-failure function). */
  deadLetters: DeadLetterOffice;
  /** The maximum event age (older async work is dead-lettered with EVENT_TOO_OLD) and the platform retries a lost run may take. */
  retry: RetryPolicy;
  /**
   * Shared state for once-only decisions among several schedulers (which one
   * asks for a pre-warm when an executor drains). Without it every scheduler asks.
   */
  kv?: KeyValueStore;
}

interface InFlight {
  namespace: string;
  fnKey: string;
}

/** How long a waiting invocation sleeps before asking placement again. */
const CAPACITY_RECHECK_MS = 100;
/**
 * Waiters woken per completion: one slot freed, plus one spare because the
 * first woken may wait for something else (another function's limit).
 */
const WAKE_PER_COMPLETION = 2;
/** How often executor health is re-evaluated (offline detection). */
const SWEEP_MS = 250;
/** How often a recovery consumer checks whether its executor came back (or was forgotten). */
const RECOVERY_POLL_MS = 100;

/**
 * The scheduler role: takes invocation requests from the invoke queue, applies
 * the concurrency limits, asks the placement policy for an executor and
 * dispatches to that executor's queue. Tracks executors through their
 * heartbeats; when one goes offline, the work left in its queue goes back to
 * the invoke queue (async) or fails fast with EXECUTOR_LOST (a sync run it had
 * started), so nothing is lost and no caller hangs.
 *
 * Several schedulers can run at once: the invoke queue gives each request to
 * exactly one of them.
 */
export class Scheduler {
  readonly id = `sch-${randomUUID().slice(0, 8)}`;
  private readonly subs: Subscription[] = [];
  /** Invocations waiting for room on an executor. */
  private readonly capacity = new CapacitySignal();
  /** Async invocations waiting for a concurrency slot (their function's or namespace's limit). */
  private readonly limits = new CapacitySignal();
  private readonly inFlight = new Map<string, InFlight>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Executors last seen draining, so a drain is acted on once. */
  private readonly draining = new Set<string>();
  /** Executors whose queue a recovery consumer is draining right now. */
  private readonly recovering = new Set<string>();

  constructor(private readonly o: SchedulerOptions) {}

  private get completionQueue(): string {
    return this.o.topology.schedulerQueue(this.id);
  }

  async start(): Promise<void> {
    const { bus, topology, registry } = this.o;
    await bus.assertQueue(topology.invokeQueue, { durable: true });
    await bus.assertQueue(this.completionQueue, { durable: false });
    registry.onOffline((executorId) => {
      this.o.logger.warn({ executorId }, 'executor offline; recovering its queue');
      this.recoverQueue(executorId).catch((err: unknown) => this.o.logger.error({ err, executorId }, 'queue recovery failed'));
    });
    this.subs.push(
      await bus.subscribe<Heartbeat>(topology.heartbeatTopic, (raw) => {
        let hb: Heartbeat;
        try {
          hb = parseHeartbeat(raw);
          registry.observe(hb);
        } catch (err) {
          this.o.logger.warn({ err }, 'malformed heartbeat ignored');
          return;
        }
        // A heartbeat can bring room (a new executor, instances evicted): everyone looks again.
        this.capacity.notifyAll();
        this.limits.notifyAll();
        this.noticeDrain(hb);
      }),
      await bus.consume<Completion>(this.completionQueue, async (c) => this.complete(c), {
        prefetch: 1000,
        parse: parseCompletion,
        autoAck: true,
      }),
      await bus.consume<InvocationRequest>(topology.invokeQueue, (r, info) => this.schedule(r, info), {
        prefetch: this.o.maxWaiting ?? 512,
        parse: parseInvocationRequest,
      }),
    );
    this.sweepTimer = setInterval(() => {
      registry.sweep();
      this.observe();
    }, SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Gauges: executors by state, and the invoke queue's depth. */
  private observe(): void {
    const m = this.o.metrics;
    if (!m) return;
    const counts: Record<string, number> = { healthy: 0, unhealthy: 0, offline: 0, draining: 0 };
    for (const e of this.o.registry.states()) counts[e.state] = (counts[e.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) m.executors.set({ state }, n);
    const queue = this.o.topology.invokeQueue;
    this.o.bus.queueDepth(queue).then(
      (n) => m.queueDepth.set({ queue }, n),
      () => undefined,
    );
  }

  /** Stop taking requests; requests held while waiting go back to the queue unacked. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all(this.subs.splice(0).map((s) => s.cancel()));
    await this.o.bus.deleteQueue(this.completionQueue).catch(() => undefined);
  }

  /**
   * Place one request. A retry arrives here only once its backoff is over: it
   * waited in the bus (a delayed send), not in this consumer.
   */
  private async schedule(req: InvocationRequest, _info: DeliveryInfo): Promise<void> {
    if (this.o.retry.tooOld(req)) return this.giveUp(req, 'EVENT_TOO_OLD', 'the event is older than the maximum event age');
    const { fn } = req;
    const fnKey = placementKey(fn.namespace, fn.name);
    // Limits: a sync call over the limit is refused at once (429); async work waits.
    // The gateway resolves the namespace's own limit (its quota) into the request.
    const nsMax = req.namespaceConcurrency ?? this.o.namespaceConcurrency;
    const limitTicket = this.limits.ticket();
    while (!(await this.o.limiter.tryAcquire(fn.namespace, fnKey, fn.maxConcurrency, nsMax))) {
      if (req.mode === 'sync') return this.refuse(req, 'throttled', 'CONCURRENCY_LIMIT', 'concurrency limit reached');
      try {
        await this.waitOrExpire(req, this.limits, limitTicket);
      } catch (err) {
        if (err instanceof EventTooOld) return this.giveUp(req, 'EVENT_TOO_OLD', 'the event is older than the maximum event age');
        if (err instanceof DeadlinePassed) return this.giveUp(req, 'NO_CAPACITY', 'the concurrency limit did not free up before the deadline');
        throw err;
      }
    }
    let dispatched = false;
    const capacityTicket = this.capacity.ticket();
    // Invocations already waiting for room go first: a newcomer does not take
    // the slot that one of them is being woken for.
    let mayPlace = this.capacity.waiting === 0;
    try {
      for (;; mayPlace = true) {
        const placement = mayPlace && choosePlacement({
          fn: { namespace: fn.namespace, name: fn.name, version: fn.version, memoryMb: slotMemoryMb(fn), instance: fn },
          executors: this.o.registry.states(),
          policy: this.o.policy,
          ...(this.o.hotSpotThreshold !== undefined ? { hotSpotThreshold: this.o.hotSpotThreshold } : {}),
          ring: this.o.registry.ring,
        });
        if (placement) {
          this.o.registry.reserve(placement.executorId, slotMemoryMb(fn), req.activationId, {
            ...takenBy(placement, fn),
            expiresAt: req.deadline + 60_000,
          });
          this.inFlight.set(req.activationId, { namespace: fn.namespace, fnKey });
          const d: Dispatch = { request: req, placement: placement.reason, scheduler: this.completionQueue };
          const q = this.o.topology.executorQueue(placement.executorId);
          try {
            // Sync: transient and unconfirmed, as the caller sent it (see `Submitter.send`).
            await this.o.bus.send(q, d, req.mode === 'sync' ? { confirm: false, transient: true } : {});
          } catch (err) {
            this.release(req.activationId, false);
            throw err;
          }
          this.o.metrics?.dispatches.inc({ placement: placement.reason });
          this.o.metrics?.queueing.observe(Math.max(0, Date.now() - Date.parse(req.queuedAt)) / 1000);
          dispatched = true;
          return;
        }
        // Backpressure: every executor is full (or none is there); the request waits here,
        // unacked, and the broker holds the rest of the queue.
        await this.waitOrExpire(req, this.capacity, capacityTicket);
      }
    } catch (err) {
      if (err instanceof EventTooOld) return this.giveUp(req, 'EVENT_TOO_OLD', 'the event is older than the maximum event age');
      if (err instanceof DeadlinePassed) {
        if (req.mode === 'async') return this.giveUp(req, 'NO_CAPACITY', 'no executor had capacity before the deadline');
        return this.refuse(req, 'platform_error', 'NO_CAPACITY', 'no executor had capacity before the deadline');
      }
      throw err;
    } finally {
      if (!dispatched && !this.inFlight.has(req.activationId)) {
        await this.o.limiter.release(fn.namespace, fnKey);
      }
    }
  }

  private async waitOrExpire(req: InvocationRequest, signal: CapacitySignal, ticket: number): Promise<void> {
    if (this.stopping) throw new HandedBackError('scheduler stopping; request left for another scheduler');
    if (this.o.retry.tooOld(req)) throw new EventTooOld();
    if (Date.now() > req.deadline) throw new DeadlinePassed();
    await signal.wait(CAPACITY_RECHECK_MS, ticket);
  }

  private async complete(c: Completion): Promise<void> {
    if (c.systemError) this.o.registry.recordSystemError(c.executorId);
    else this.o.registry.recordSuccess(c.executorId);
    this.release(c.activationId);
    this.capacity.notify(WAKE_PER_COMPLETION);
    this.limits.notify(WAKE_PER_COMPLETION);
  }

  /** `ran`: false when the dispatch was never sent, or its executor is gone (see `ExecutorRegistry.releaseReservation`). */
  private release(activationId: string, ran = true): void {
    this.o.registry.releaseReservation(activationId, { ran });
    const f = this.inFlight.get(activationId);
    if (!f) return;
    this.inFlight.delete(activationId);
    Promise.resolve(this.o.limiter.release(f.namespace, f.fnKey)).catch((err: unknown) =>
      this.o.logger.warn({ err, activationId }, 'concurrency slot not released'),
    );
  }

  /** Tell a waiting caller (sync) or the record (async) that the platform could not run it. */
  private async refuse(req: InvocationRequest, status: 'throttled' | 'platform_error', code: ErrorCode, message: string): Promise<void> {
    const error = platformError(code, message);
    if (req.replyTo !== undefined) {
      const reply: InvocationResult = { activationId: req.activationId, status, error, coldStart: false, durationMs: 0 };
      await this.o.bus.send(req.replyTo, reply, { confirm: false, expirationMs: 60_000 });
    }
    if (req.mode === 'async' || status === 'platform_error') await this.o.store.finishActivation(refusedRecord(req, error));
  }

  /**
   * An async invocation the platform stops trying: final record (platform
   * error with the reason) and a dead letter carrying the last attempt's error.
   */
  private async giveUp(req: InvocationRequest, reason: DeadLetterReason, message: string): Promise<void> {
    const error = platformError(reason, message);
    const previous = await this.o.store.getActivation(req.fn.namespace, req.activationId);
    const finished = await this.o.store.finishActivation(refusedRecord(req, error));
    if (!finished) return; // a final record exists: another delivery of this message already ended it
    await this.o.deadLetters.bury(req, { reason, status: 'platform_error', lastError: previous?.error ?? error });
  }

  /**
   * An executor went offline: move what waits in its queue back to the invoke
   * queue. A message the dead executor had already received (redelivered) was
   * possibly running: async work is run again elsewhere (at-least-once; its
   * `platformRetries` is raised so the new run is not taken for a duplicate,
   * and the final record is still written once) unless it already finished,
   * or its executors were lost too often: then it is a dead letter
   * (`EXECUTOR_LOST`, see `invocations/retry-policy.ts`), so a message that kills whatever
   * runs it cannot take down every executor in turn. A sync caller gets
   * EXECUTOR_LOST at once instead of waiting for its timeout, and its
   * invocation is not run again.
   *
   * The broker hands back a dead consumer's unacked messages only when it
   * notices the lost connection (at once for a killed process, up to two AMQP
   * heartbeats for a hung one), so the recovery consumer stays until the
   * executor is back or forgotten.
   */
  private async recoverQueue(executorId: string): Promise<void> {
    if (this.recovering.has(executorId)) return;
    this.recovering.add(executorId);
    const { bus, topology } = this.o;
    const queue = topology.executorQueue(executorId);
    for (const id of this.o.registry.reservedActivations(executorId)) this.release(id, false);
    try {
      const sub = await bus.consume<Dispatch>(
        queue,
        async (d, info) => {
          const req = d.request;
          if (info.redeliveries === 0) return bus.send(topology.invokeQueue, req);
          if (req.mode === 'sync') {
            return this.refuse(req, 'platform_error', 'EXECUTOR_LOST', `executor ${executorId} stopped while running this invocation`);
          }
          // It may have finished (record written) just before its executor died, unacknowledged.
          const existing = await this.o.store.getActivation(req.fn.namespace, req.activationId);
          if (existing && existing.status !== 'queued' && existing.status !== 'running' && existing.attempts >= req.attempt) return;
          const next = this.o.retry.afterExecutorLoss(req, executorId);
          if ('retry' in next) return bus.send(topology.invokeQueue, next.retry);
          this.o.logger.warn({ activationId: req.activationId, executorId, reason: next.deadLetter }, 'lost with its executor too often; dead-lettered');
          await this.giveUp(req, next.deadLetter, next.message);
        },
        { prefetch: 100, parse: parseDispatch },
      );
      while (!this.stopping && this.o.registry.get(executorId)?.state === 'offline') await sleep(RECOVERY_POLL_MS);
      await sub.cancel();
    } finally {
      this.recovering.delete(executorId);
    }
  }

  /**
   * An executor started draining: for each function version it holds warm,
   * ask another executor with room (not a hot spot) to load an instance, so
   * the function stays warm when the drained one leaves. One scheduler asks
   * (a short lease in the key-value store); best effort, never blocking.
   */
  private noticeDrain(hb: Heartbeat): void {
    if (!hb.draining || hb.leaving) {
      this.draining.delete(hb.executorId);
      return;
    }
    if (this.draining.has(hb.executorId)) return;
    this.draining.add(hb.executorId);
    this.prewarmElsewhere(hb).catch((err: unknown) => this.o.logger.warn({ err, executorId: hb.executorId }, 'pre-warm on drain failed'));
  }

  private async prewarmElsewhere(hb: Heartbeat): Promise<void> {
    const seen = new Set<string>();
    for (const w of hb.warm) {
      const key = functionVersionKey(w.namespace, w.function, w.version);
      if (seen.has(key)) continue;
      seen.add(key);
      const fn = await this.o.store.getFunctionVersion(w.namespace, w.function, w.version);
      if (!fn) continue;
      const others = this.o.registry
        .states()
        .filter((e) => e.executorId !== hb.executorId && !e.warm.some((x) => functionVersionKey(x.namespace, x.function, x.version) === key));
      const placement = choosePlacement({
        fn: { namespace: fn.namespace, name: fn.name, version: fn.version, memoryMb: fn.memoryMb },
        executors: others,
        policy: this.o.policy,
        ...(this.o.hotSpotThreshold !== undefined ? { hotSpotThreshold: this.o.hotSpotThreshold } : {}),
        ring: this.o.registry.ring,
      });
      // "When the pool allows": only onto a healthy executor with room that is not a hot spot.
      if (!placement || placement.reason === 'hot-spot' || placement.reason === 'degraded') continue;
      const lease = `prewarm:${hb.executorId}:${key}`;
      if (this.o.kv && !(await this.o.kv.set(lease, this.id, { ifAbsent: true, ttlMs: 60_000 }))) continue;
      const msg: PrewarmRequest = { kind: 'prewarm', executorId: placement.executorId, fn };
      await this.o.bus.publish(this.o.topology.controlTopic, msg);
      this.o.logger.info({ from: hb.executorId, to: placement.executorId, fn: key }, 'pre-warming a draining executor\'s function elsewhere');
    }
  }
}

class EventTooOld extends Error {}
class DeadlinePassed extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
