import { randomUUID } from 'node:crypto';
import type { Bus, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import { GatewayTimeoutError, PlatformError } from '../core/errors.js';
import { parseInvocationResult } from '../core/schemas.js';
import type { Activation, FunctionVersion, InvocationRequest, InvocationResult } from '../core/types.js';
import { fnLabel, type Metrics } from '../core/metrics.js';
import type { MetadataStore } from '../storage/types.js';

interface Pending {
  resolve: (r: InvocationResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface InvokeOptions {
  trigger?: string;
  /** Use this id instead of a fresh one (the caller already told the client). */
  activationId?: string;
}

/**
 * The gateway's side of an invocation: it turns an HTTP call into an
 * {@link InvocationRequest} on the invoke queue and, for a sync call, waits on
 * this gateway's own reply queue for the result, matched by activation id.
 */
export class Invoker {
  /** Unique per process, so several gateways each get their own replies. */
  readonly gatewayId = `gw-${randomUUID().slice(0, 8)}`;
  private readonly pending = new Map<string, Pending>();
  private subscription: Subscription | undefined;

  constructor(
    private readonly deps: {
      bus: Bus;
      store: MetadataStore;
      topology: Topology;
      /** Extra wait beyond the function's timeout before a sync caller gets 504. */
      syncGraceMs?: number;
      metrics?: Metrics;
      /** The namespace's concurrency quota, passed to the scheduler with each request. */
      namespaceConcurrency?: (namespace: string) => Promise<number>;
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
  }

  /** Stop waiting: every pending sync caller gets a retryable platform error. */
  async stop(): Promise<void> {
    await this.subscription?.cancel();
    this.subscription = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new PlatformError('GATEWAY_SHUTTING_DOWN', 'the gateway is shutting down', { data: { activationId: id } }));
    }
    this.pending.clear();
    await this.deps.bus.deleteQueue(this.replyQueue).catch(() => undefined);
  }

  newActivationId(): string {
    return randomUUID().replace(/-/g, '');
  }

  /** Run and wait for the result. Rejects with a platform error if none comes in time. */
  async invokeSync(fn: FunctionVersion, payload: string, opts: InvokeOptions = {}): Promise<InvocationResult> {
    const activationId = opts.activationId ?? this.newActivationId();
    const waitMs = fn.timeoutMs + (this.deps.syncGraceMs ?? 30_000);
    const request = this.request(fn, payload, activationId, 'sync', waitMs, opts.trigger);
    if (this.deps.namespaceConcurrency) request.namespaceConcurrency = await this.deps.namespaceConcurrency(fn.namespace);
    const result = new Promise<InvocationResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(activationId);
        reject(new GatewayTimeoutError('no result arrived in time', { activationId }));
      }, waitMs);
      this.pending.set(activationId, { resolve, reject, timer });
    });
    try {
      await this.deps.bus.send(this.deps.topology.invokeQueue, request);
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

  /** Record a queued activation and hand it to the bus; returns once the bus has it. */
  async invokeAsync(fn: FunctionVersion, payload: string, opts: InvokeOptions = {}): Promise<string> {
    const activationId = opts.activationId ?? this.newActivationId();
    // Async work may wait for capacity and be retried; it lives for a day at most.
    const request = this.request(fn, payload, activationId, 'async', 24 * 3600 * 1000, opts.trigger);
    if (this.deps.namespaceConcurrency) request.namespaceConcurrency = await this.deps.namespaceConcurrency(fn.namespace);
    const record: Activation = {
      activationId,
      namespace: fn.namespace,
      function: fn.name,
      version: fn.version,
      status: 'queued',
      mode: 'async',
      logs: [],
      coldStart: false,
      attempts: 0,
      queuedAt: request.queuedAt,
      ...(opts.trigger !== undefined ? { trigger: opts.trigger } : {}),
    };
    await this.deps.store.putActivation(record);
    await this.deps.bus.send(this.deps.topology.invokeQueue, request);
    this.deps.metrics?.invocations.inc({ function: fnLabel(fn.namespace, fn.name), mode: 'async', status: 'queued' });
    return activationId;
  }

  private request(
    fn: FunctionVersion,
    payload: string,
    activationId: string,
    mode: 'sync' | 'async',
    waitMs: number,
    trigger: string | undefined,
  ): InvocationRequest {
    const now = Date.now();
    return {
      activationId,
      fn,
      mode,
      payload,
      ...(mode === 'sync' ? { replyTo: this.replyQueue } : {}),
      deadline: now + waitMs,
      attempt: 1,
      queuedAt: new Date(now).toISOString(),
      ...(trigger !== undefined ? { trigger } : {}),
    };
  }

  private settle(result: InvocationResult): void {
    const p = this.pending.get(result.activationId);
    if (!p) return; // the caller gave up already; the record holds the result
    this.pending.delete(result.activationId);
    clearTimeout(p.timer);
    p.resolve(result);
  }

  private fail(activationId: string, err: Error): void {
    const p = this.pending.get(activationId);
    if (!p) return;
    this.pending.delete(activationId);
    clearTimeout(p.timer);
    p.reject(err);
  }
}
