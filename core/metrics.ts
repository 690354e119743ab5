import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds buckets from 0.5 ms to 60 s: warm invocations live at the bottom, cold starts in the middle. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Every Prometheus metric Brisk exports (prom-client), one registry per
 * process. Each role updates the ones it owns; all are registered so a
 * standalone process exports them together at `/metrics`.
 *
 * Label `function` is `<namespace>/<name>`.
 */
export class Metrics {
  readonly registry = new Registry();

  /** Gateway: invocations answered or accepted, by outcome. */
  readonly invocations = new Counter({
    name: 'brisk_invocations_total',
    help: 'Invocations by function, mode and final status',
    labelNames: ['function', 'mode', 'status'] as const,
    registers: [this.registry],
  });
  /** Gateway: sync invocation latency as the caller saw it. */
  readonly invokeLatency = new Histogram({
    name: 'brisk_invoke_latency_seconds',
    help: 'End-to-end latency of sync invocations at the gateway',
    labelNames: ['function'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Scheduler: time from queued to dispatched. */
  readonly queueing = new Histogram({
    name: 'brisk_queueing_seconds',
    help: 'Time an invocation waited between the gateway and its dispatch to an executor',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Scheduler: dispatches by placement reason. */
  readonly dispatches = new Counter({
    name: 'brisk_dispatches_total',
    help: 'Dispatches to executors by placement reason',
    labelNames: ['placement'] as const,
    registers: [this.registry],
  });
  /** Scheduler: messages waiting in the invoke queue. */
  readonly queueDepth = new Gauge({
    name: 'brisk_queue_depth',
    help: 'Messages waiting in a bus queue',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  /** Scheduler: executors by health state. */
  readonly executors = new Gauge({
    name: 'brisk_executors',
    help: 'Executors known to the scheduler, by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  /** Executor: runs finished, by status. */
  readonly runs = new Counter({
    name: 'brisk_executor_runs_total',
    help: 'Activations run by this executor, by function and status',
    labelNames: ['function', 'status'] as const,
    registers: [this.registry],
  });
  /** Executor: time spent obtaining and loading an instance. */
  readonly startLatency = new Histogram({
    name: 'brisk_start_seconds',
    help: 'Time to obtain a loaded instance, by start kind (warm, pool, cold)',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Executor: starts by kind. */
  readonly starts = new Counter({
    name: 'brisk_starts_total',
    help: 'Instance starts by kind: warm (reuse), pool (pre-started), cold (created)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  /** Executor: the function's own run time. */
  readonly execution = new Histogram({
    name: 'brisk_execution_seconds',
    help: 'Run time of activations inside their instance',
    labelNames: ['function'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Executor: generic instances ready, per memory size. */
  readonly poolSize = new Gauge({
    name: 'brisk_warm_pool_instances',
    help: 'Pre-started generic instances ready, per memory size',
    labelNames: ['memory_mb'] as const,
    registers: [this.registry],
  });
  /** Executor: loaded instances. */
  readonly warmInstances = new Gauge({
    name: 'brisk_warm_instances',
    help: 'Instances loaded with a function, by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly capacity = new Gauge({
    name: 'brisk_executor_memory_mb',
    help: 'Executor memory budget and use',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  /** Any role: the bus connection was lost and re-established. */
  readonly busReconnects = new Counter({
    name: 'brisk_bus_reconnects_total',
    help: 'Reconnections to the message bus',
    registers: [this.registry],
  });
  /** Any role: a store call failed because its backend was unreachable or refused. */
  readonly storeErrors = new Counter({
    name: 'brisk_store_errors_total',
    help: 'Store operations that failed with a service error',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean; role?: string } = {}) {
    if (opts.role !== undefined) this.registry.setDefaultLabels({ role: opts.role });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Prometheus text exposition. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** `<namespace>/<name>`, the function label. */
export function fnLabel(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
