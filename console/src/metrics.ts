/**
 * Client-side metrics for the console's live charts, computed from the most
 * recent activation records (`GET /v1/activations?limit=1000`). Pure functions
 * with no DOM, so they are unit-tested (test/unit/console-metrics.test.ts).
 */

/** The fields of an activation the metrics read. */
export interface ActivationSample {
  status: string;
  queuedAt: string;
  endedAt?: string;
  durationMs?: number;
  coldStart?: boolean;
  startKind?: string;
}

export interface MetricsBucket {
  /** Bucket start and end, epoch ms (end exclusive). */
  start: number;
  end: number;
  /**
   * False when the sample may not reach back this far (the list was cut at its
   * limit and its oldest record is younger than the bucket's end): the bucket's
   * numbers would under-count, so charts leave it blank.
   */
  complete: boolean;
  invocations: number;
  perSecond: number;
  errors: number;
  /** errors / finished, 0..1; undefined with nothing finished. */
  errorRate: number | undefined;
  p50: number | undefined;
  p90: number | undefined;
  p99: number | undefined;
  cold: number;
  pool: number;
  warm: number;
}

export interface BucketOptions {
  now: number;
  windowMs: number;
  bucketMs: number;
  /** The `limit` the sample was fetched with; a sample this long may be cut short. */
  limit?: number;
}

const ERROR_STATUSES = new Set(['error', 'timeout', 'oom', 'platform_error']);
const OPEN_STATUSES = new Set(['queued', 'running']);

export function isErrorStatus(status: string): boolean {
  return ERROR_STATUSES.has(status);
}

/** Nearest-rank percentile of an ascending array; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** How the instance was obtained: `cold`, `pool` or `warm` (older records only have `coldStart`). */
export function startKindOf(a: ActivationSample): 'cold' | 'pool' | 'warm' {
  if (a.startKind === 'cold' || a.startKind === 'pool' || a.startKind === 'warm') return a.startKind;
  return a.coldStart ? 'cold' : 'warm';
}

/** When an activation counts: when it ended, or when it was queued if still open. */
export function timeOf(a: ActivationSample): number {
  return Date.parse(a.endedAt ?? a.queuedAt);
}

/**
 * Splits the last `windowMs` into buckets of `bucketMs`, aligned to multiples
 * of `bucketMs` so a bucket keeps its numbers from one poll to the next. The
 * bucket still filling (the one holding `now`) is left out: its rate would
 * read low and jump around.
 */
export function bucketize(samples: readonly ActivationSample[], opts: BucketOptions): MetricsBucket[] {
  const { bucketMs } = opts;
  const end = Math.floor(opts.now / bucketMs) * bucketMs;
  const count = Math.max(1, Math.round(opts.windowMs / bucketMs));
  const first = end - count * bucketMs;
  const groups: ActivationSample[][] = Array.from({ length: count }, () => []);
  let oldest = Infinity;
  for (const a of samples) {
    const t = timeOf(a);
    if (!Number.isFinite(t)) continue;
    oldest = Math.min(oldest, t);
    if (t < first || t >= end) continue;
    groups[Math.floor((t - first) / bucketMs)]?.push(a);
  }
  const cut = opts.limit !== undefined && samples.length >= opts.limit;
  return groups.map((group, i) => {
    const start = first + i * bucketMs;
    return { ...summarize(group, bucketMs), start, end: start + bucketMs, complete: !cut || oldest < start };
  });
}

/** The numbers of one group of activations spread over `spanMs`. */
export function summarize(group: readonly ActivationSample[], spanMs: number): Omit<MetricsBucket, 'start' | 'end' | 'complete'> {
  let errors = 0;
  let finished = 0;
  const kinds = { cold: 0, pool: 0, warm: 0 };
  const durations: number[] = [];
  for (const a of group) {
    if (OPEN_STATUSES.has(a.status)) continue;
    finished++;
    if (isErrorStatus(a.status)) errors++;
    if (typeof a.durationMs === 'number') durations.push(a.durationMs);
    kinds[startKindOf(a)]++;
  }
  durations.sort((x, y) => x - y);
  return {
    invocations: group.length,
    perSecond: group.length / (spanMs / 1000),
    errors,
    errorRate: finished > 0 ? errors / finished : undefined,
    p50: percentile(durations, 50),
    p90: percentile(durations, 90),
    p99: percentile(durations, 99),
    ...kinds,
  };
}

/** The activations of the last `spanMs` before `now`. */
export function recent<T extends ActivationSample>(samples: readonly T[], now: number, spanMs: number): T[] {
  return samples.filter((a) => {
    const t = timeOf(a);
    return t >= now - spanMs && t <= now;
  });
}

/** Total generic pool instances over all executors (the `pool` map is per memory size). */
export function poolSize(executors: readonly { pool: Record<string, number>; state?: string }[]): number {
  let n = 0;
  for (const e of executors) {
    if (e.state === 'offline') continue;
    for (const v of Object.values(e.pool)) n += v;
  }
  return n;
}
