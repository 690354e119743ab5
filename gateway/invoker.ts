import { randomUUID } from 'node:crypto';
import type { Bus, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import { GatewayTimeoutError, PlatformError } from '../core/errors.js';
import { parseInvocationResult } from '../core/schemas.js';
import type { FunctionVersion, InvocationResult } from '../core/types.js';
import { fnLabel, type Metrics } from '../core/metrics.js';
import { newActivationId, type InvokeOptions, type Submitter } from '../invocations/submit.js';
import type { WarmDispatcher } from './warm-dispatcher.js';

interface Pending {
  resolve: (r: InvocationResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The gateway's side of a sync invocation: it builds the request (see
 * {@link Submitter}) naming this gateway's own reply queue, hands it to the
 * direct path (a warm instance known from heartbeats: straight to its
 * executor, see {@link WarmDispatcher}) or else to the invoke queue, and
 * waits on the reply queue for the result, matched by activation id. Async
 * invocations need no waiting: they go through the submitter directly.
 */
export class Invoker {
  /** Unique per process, so several gateways each get their own replies. */
  readonly gatewayId = `gw-${randomUUID().slice(0, 8)}`;
  private readonly pending = new Map<string, Pending>();
  private subscription: Subscription | undefined;

  constructor(
    private readonly deps: {
      bus: Bus;
      topology: Topology;
      submitter: Submitter;
      /** Extra wait beyond the function's timeout before a sync caller gets 504. */
      syncGraceMs?: number;
      metrics?: Metrics;
      /**
       * The direct path for warm sync calls (distributed mode): tried first;
       * whatever it does not take goes to the invoke queue.
       */
      direct?: WarmDispatcher;
    },
  ) {}

  private get replyQueue(): string {
    return this.deps.topology.replyQueue(this.gatewayId);
  }

  async start(): Promise<void> {
    const { bus, topology } = this.deps;
    await bus.assertQueue(topology.invokeQueue, { durable: true });
    await bus.assertQueue(this.replyQueue, { durable: false });
    this.subscription = await bus.consume<InvocationResult>(
      this.replyQueue,
      async (result) => this.settle(result),
      { prefetch: 1000, parse: parseInvocationResult, autoAck: true },
    );
    this.deps.direct?.start((lost) => this.settle(lost));
  }

  /** Stop waiting: every pending sync caller gets a retryable platform error. */
  async stop(): Promise<void> {
    this.deps.direct?.stop();
    await this.subscription?.cancel();
    this.subscription = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.deps.direct?.finished(id);
      p.reject(new PlatformError('GATEWAY_SHUTTING_DOWN', 'the gateway is shutting down', { data: { activationId: id } }));
    }
    this.pending.clear();
    await this.deps.bus.deleteQueue(this.replyQueue).catch(() => undefined);
  }

  newActivationId(): string {
    return newActivationId();
  }

  /** Run and wait for the result. Rejects with a platform error if none comes in time. */
  async invokeSync(fn: FunctionVersion, payload: string, opts: InvokeOptions = {}): Promise<InvocationResult> {
    const activationId = opts.activationId ?? newActivationId();
    const waitMs = fn.timeoutMs + (this.deps.syncGraceMs ?? 30_000);
    const now = Date.now();
    const request = await this.deps.submitter.newRequest(fn, payload, {
      ...opts,
      activationId,
      mode: 'sync',
      deadline: now + waitMs,
      now,
      replyTo: this.replyQueue,
    });
    const result = new Promise<InvocationResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(activationId);
        this.deps.direct?.finished(activationId);
        reject(new GatewayTimeoutError('no result arrived in time', { activationId }));
      }, waitMs);
      this.pending.set(activationId, { resolve, reject, timer });
    });
    try {
      const direct = await this.deps.direct?.dispatch(request);
      if (direct?.kind === 'answered') this.settle(direct.result);
      else if (direct?.kind !== 'sent') await this.deps.submitter.send(request);
    } catch (err) {
      this.fail(activationId, err as Error);
    }
    const m = this.deps.metrics;
    if (!m) return result;
    const t0 = performance.now();
    const label = fnLabel(fn.namespace, fn.name);
    return result.then(
      (r) => {
        m.invokeLatency.observe({ function: label }, (performance.now() - t0) / 1000);
        m.invocations.inc({ function: label, mode: 'sync', status: r.status });
        return r;
      },
      (err: unknown) => {
        m.invocations.inc({ function: label, mode: 'sync', status: 'platform_error' });
        throw err;
      },
    );
  }

  private settle(result: InvocationResult): void {
    this.deps.direct?.finished(result.activationId, result);
    const p = this.pending.get(result.activationId);
    if (!p) return; // the caller gave up already; the record holds the result
    this.pending.delete(result.activationId);
    clearTimeout(p.timer);
    p.resolve(result);
  }

  private fail(activationId: string, err: Error): void {
    this.deps.direct?.finished(activationId);
    const p = this.pending.get(activationId);
    if (!p) return;
    this.pending.delete(activationId);
    clearTimeout(p.timer);
    p.reject(err);
  }
}
