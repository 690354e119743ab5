import { randomUUID } from 'node:crypto';
import type { Bus, DeliveryInfo, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import type { Logger } from '../core/logger.js';
import { parseCompletion, parseDispatch, parseHeartbeat, parseInvocationRequest } from '../core/schemas.js';
import type { Activation, Completion, Dispatch, Heartbeat, InvocationRequest, InvocationResult } from '../core/types.js';
import type { MetadataStore } from '../storage/types.js';
import type { ConcurrencyCounter } from './concurrency-limiter.js';
import { functionVersionKey, type ExecutorRegistry } from './executor-registry.js';
import { choosePlacement, placementKey, type PlacementPolicy } from './placement.js';

export interface SchedulerOptions {
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
}

interface InFlight {
  namespace: string;
  fnKey: string;
}

/** How long a waiting invocation sleeps before asking placement again. */
const CAPACITY_POLL_MS = 10;
/** How often executor health is re-evaluated (offline detection). */
const SWEEP_MS = 250;

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
  private readonly inFlight = new Map<string, InFlight>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopping = false;

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
        try {
          registry.observe(parseHeartbeat(raw));
        } catch (err) {
          this.o.logger.warn({ err }, 'malformed heartbeat ignored');
        }
      }),
      await bus.consume<Completion>(this.completionQueue, async (c) => this.complete(c), {
        prefetch: 1000,
        parse: parseCompletion,
      }),
      await bus.consume<InvocationRequest>(topology.invokeQueue, (r, info) => this.schedule(r, info), {
        prefetch: this.o.maxWaiting ?? 512,
        parse: parseInvocationRequest,
      }),
    );
    this.sweepTimer = setInterval(() => registry.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Stop taking requests; requests held while waiting go back to the queue unacked. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all(this.subs.splice(0).map((s) => s.cancel()));
    await this.o.bus.deleteQueue(this.completionQueue).catch(() => undefined);
  }

  private async schedule(req: InvocationRequest, _info: DeliveryInfo): Promise<void> {
    if (req.notBefore !== undefined && req.notBefore > Date.now()) await sleep(req.notBefore - Date.now());
    const { fn } = req;
    const fnKey = placementKey(fn.namespace, fn.name);
    // Limits: a sync call over the limit is refused at once (429); async work waits.
    while (!(await this.o.limiter.tryAcquire(fn.namespace, fnKey, fn.maxConcurrency, this.o.namespaceConcurrency))) {
      if (req.mode === 'sync') return this.refuse(req, 'throttled', 'CONCURRENCY_LIMIT', 'concurrency limit reached');
      await this.waitOrExpire(req);
    }
    let dispatched = false;
    try {
      for (;;) {
        const placement = choosePlacement({
          fn: { namespace: fn.namespace, name: fn.name, version: fn.version, memoryMb: fn.memoryMb },
          executors: this.o.registry.states(),
          policy: this.o.policy,
          ...(this.o.hotSpotThreshold !== undefined ? { hotSpotThreshold: this.o.hotSpotThreshold } : {}),
          ring: this.o.registry.ring,
        });
        if (placement) {
          const warmKey = placement.reason === 'warm' ? functionVersionKey(fn.namespace, fn.name, fn.version) : undefined;
          this.o.registry.reserve(placement.executorId, fn.memoryMb, req.activationId, {
            ...(warmKey !== undefined ? { warmKey } : {}),
            expiresAt: req.deadline + 60_000,
          });
          this.inFlight.set(req.activationId, { namespace: fn.namespace, fnKey });
          const d: Dispatch = { request: req, placement: placement.reason, scheduler: this.completionQueue };
          const q = this.o.topology.executorQueue(placement.executorId);
          try {
            await this.o.bus.send(q, d);
          } catch (err) {
            this.release(req.activationId);
            throw err;
          }
          dispatched = true;
          return;
        }
        // Backpressure: every executor is full (or none is there); the request waits here,
        // unacked, and the broker holds the rest of the queue.
        await this.waitOrExpire(req);
      }
    } catch (err) {
      if (err instanceof DeadlinePassed) return this.refuse(req, 'platform_error', 'NO_CAPACITY', 'no executor had capacity before the deadline');
      throw err;
    } finally {
      if (!dispatched && !this.inFlight.has(req.activationId)) {
        await this.o.limiter.release(fn.namespace, fnKey);
      }
    }
  }

  private async waitOrExpire(req: InvocationRequest): Promise<void> {
    if (this.stopping) throw new Error('scheduler stopping; request left for another scheduler');
    if (Date.now() > req.deadline) throw new DeadlinePassed();
    await sleep(CAPACITY_POLL_MS);
  }

  private async complete(c: Completion): Promise<void> {
    if (c.systemError) this.o.registry.recordSystemError(c.executorId);
    else this.o.registry.recordSuccess(c.executorId);
    this.release(c.activationId);
  }

  private release(activationId: string): void {
    this.o.registry.releaseReservation(activationId);
    const f = this.inFlight.get(activationId);
    if (!f) return;
    this.inFlight.delete(activationId);
    void this.o.limiter.release(f.namespace, f.fnKey);
  }

  /** Tell a waiting caller (sync) or the record (async) that the platform could not run it. */
  private async refuse(req: InvocationRequest, status: 'throttled' | 'platform_error', code: string, message: string): Promise<void> {
    const error = { code, message };
    if (req.replyTo !== undefined) {
      const reply: InvocationResult = { activationId: req.activationId, status, error, coldStart: false, durationMs: 0 };
      await this.o.bus.send(req.replyTo, reply, { confirm: false, expirationMs: 60_000 });
    }
    if (req.mode === 'async' || status === 'platform_error') await this.o.store.finishActivation(record(req, 'platform_error', error));
  }

  /**
   * An executor went offline: move what waits in its queue back to the invoke
   * queue. A message the dead executor had already received (redelivered) was
   * possibly running: async work is run again elsewhere (at-least-once, the
   * final record is still written once), a sync caller gets EXECUTOR_LOST.
   */
  private async recoverQueue(executorId: string): Promise<void> {
    const { bus, topology } = this.o;
    const queue = topology.executorQueue(executorId);
    for (const id of this.o.registry.reservedActivations(executorId)) this.release(id);
    const sub = await bus.consume<Dispatch>(
      queue,
      async (d, info) => {
        const req = d.request;
        if (info.redeliveries > 0 && req.mode === 'sync') {
          await this.refuse(req, 'platform_error', 'EXECUTOR_LOST', `executor ${executorId} stopped while running this invocation`);
        } else {
          await bus.send(topology.invokeQueue, req);
        }
      },
      { prefetch: 100, parse: parseDispatch },
    );
    // The broker returns the dead consumer's unacked messages when it notices the
    // lost connection; keep draining until the queue stays empty for a while.
    let quiet = 0;
    while (quiet < 10 && !this.stopping) {
      await sleep(100);
      const depth = await bus.queueDepth(queue).catch(() => 0);
      quiet = depth === 0 ? quiet + 1 : 0;
      if (this.o.registry.get(executorId)?.state === 'healthy') break; // it came back
    }
    await sub.cancel();
  }
}

class DeadlinePassed extends Error {}

function record(req: InvocationRequest, status: Activation['status'], error: { code: string; message: string }): Activation {
  const now = new Date().toISOString();
  return {
    activationId: req.activationId,
    namespace: req.fn.namespace,
    function: req.fn.name,
    version: req.fn.version,
    status,
    mode: req.mode,
    error,
    logs: [],
    coldStart: false,
    attempts: req.attempt,
    ...(req.trigger !== undefined ? { trigger: req.trigger } : {}),
    queuedAt: req.queuedAt,
    endedAt: now,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
