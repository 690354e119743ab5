import { randomUUID } from 'node:crypto';
import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import { fnLabel, type Metrics } from '../core/metrics.js';
import type { FunctionVersion, InvocationRequest } from '../core/types.js';
import type { MetadataStore } from '../storage/types.js';
import { queuedRecord } from './activation-records.js';
import type { RetryPolicy } from './retry-policy.js';

export interface InvokeOptions {
  /** What started the invocation (`topic:orders`, `redrive`, `on-failure:f` …), kept on its record. */
  trigger?: string;
  /** Use this id instead of a fresh one (the caller already told the client, or derived it). */
  activationId?: string;
  /** The alias the caller named, kept on the request and its record (`fn` is the version it routed to). */
  alias?: string;
}

/** How a new invocation is asked for; see {@link Submitter.newRequest}. */
export interface NewRequest extends InvokeOptions {
  mode: 'sync' | 'async';
  /** Epoch ms after which nobody waits for its result (sync) or it is not run any more (async). */
  deadline: number;
  /** Sync: the queue the caller waits on. */
  replyTo?: string;
  /** Epoch ms it is queued at (its `queuedAt`), the instant `deadline` was counted from; default: now. */
  now?: number;
}

export interface SubmitterDeps {
  bus: Bus;
  topology: Topology;
  store: Pick<MetadataStore, 'putActivation'>;
  /** How long an async invocation may live (the maximum event age). */
  retry: RetryPolicy;
  /** Counts accepted async invocations (a gateway's `/metrics`). */
  metrics?: Metrics;
  /** The namespace's concurrency quota, passed to the scheduler with each request (a gateway knows it). */
  namespaceConcurrency?: (namespace: string) => Promise<number>;
}

/** A fresh activation id: 32 hex characters. */
export function newActivationId(): string {
  return randomUUID().replace(/-/g, '');
}

/**
 * Putting new invocations on the invoke queue. Every way in uses it: the
 * gateway's invoke and web routes (sync and async), trigger runners, a
 * dead-letter redrive, an on-failure notification. A sync caller then waits
 * for its reply (the gateway's `Invoker`); an async invocation is recorded
 * `queued` first, so it can be looked up the moment its id is returned.
 */
export class Submitter {
  constructor(private readonly deps: SubmitterDeps) {}

  /** A new invocation of `fn` with `payload` (JSON text): attempt 1, queued now. */
  async newRequest(fn: FunctionVersion, payload: string, opts: NewRequest): Promise<InvocationRequest> {
    const now = opts.now ?? Date.now();
    const request: InvocationRequest = {
      activationId: opts.activationId ?? newActivationId(),
      fn,
      mode: opts.mode,
      payload,
      ...(opts.replyTo !== undefined ? { replyTo: opts.replyTo } : {}),
      deadline: opts.deadline,
      attempt: 1,
      queuedAt: new Date(now).toISOString(),
      ...(opts.trigger !== undefined ? { trigger: opts.trigger } : {}),
      ...(opts.alias !== undefined ? { alias: opts.alias } : {}),
    };
    if (this.deps.namespaceConcurrency) request.namespaceConcurrency = await this.deps.namespaceConcurrency(fn.namespace);
    return request;
  }

  /**
   * Hand a request to the schedulers. Async work resolves once the broker has
   * stored it on disk (persistent, confirmed): it must not be lost. A sync
   * request is transient and unconfirmed: its caller waits and is told when
   * it is lost (at most once, see the README's delivery guarantees), so the
   * disk write and the confirm round trip would buy nothing.
   */
  async send(request: InvocationRequest): Promise<void> {
    const opts = request.mode === 'sync' ? { confirm: false, transient: true } : {};
    await this.deps.bus.send(this.deps.topology.invokeQueue, request, opts);
  }

  /**
   * Record a queued async invocation and hand it to the bus; resolves with its
   * activation id once the bus has it. It may wait and be retried until it is
   * as old as the maximum event age.
   */
  async submitAsync(fn: FunctionVersion, payload: string, opts: InvokeOptions = {}): Promise<string> {
    const now = Date.now();
    const request = await this.newRequest(fn, payload, { ...opts, mode: 'async', deadline: this.deps.retry.asyncDeadline(now), now });
    await this.deps.store.putActivation(queuedRecord(request));
    await this.send(request);
    this.deps.metrics?.invocations.inc({ function: fnLabel(fn.namespace, fn.name), mode: 'async', status: 'queued' });
    return request.activationId;
  }
}
