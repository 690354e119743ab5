/**
 * When the warm pool starts a new instance for calls that found no idle one,
 * and when it lets them queue for a busy instance instead. Pure functions over
 * what the pool observed, so the policy is tested on its own
 * (test/unit/start-policy.test.ts) and the pool only counts.
 *
 * The problem it solves: a burst of N calls onto a function with one warm
 * instance used to start N − 1 instances at once, a creation storm that kept
 * the machine busy starting containers for longer than the warm instance
 * would have taken to serve the whole queue. Now a call waits for a busy
 * instance when that instance will be free sooner than a new one would be
 * ready; new instances are started only for the rest of the queue, and only a
 * few at a time (the creation budget), so the ones that do start come up at
 * the rate the engine manages instead of all together.
 */

/**
 * Queued calls per loaded instance that count as "enough queue": beyond it
 * the pool starts instances even when waiting would be faster for each call,
 * so a sustained load (not a short burst) still spreads over instances.
 * Two: one call running and one about to, per instance.
 */
export const QUEUE_PER_INSTANCE = 2;

/** Weight of the newest sample in the moving averages below (≈ the last 5 samples count). */
const EWMA_WEIGHT = 0.2;

/** An exponentially weighted moving average; undefined until the first sample. */
export class MovingAverage {
  private value: number | undefined;

  add(sample: number): void {
    this.value = this.value === undefined ? sample : this.value + EWMA_WEIGHT * (sample - this.value);
  }

  get(): number | undefined {
    return this.value;
  }
}

/** What the pool knows about one function version when calls queue for it. */
export interface QueueView {
  /** Calls of this version waiting for an instance. */
  queued: number;
  /** Its instances that are busy or initialising (each frees up after one run). */
  busy: number;
  /** Observed time from handing out one of its instances to getting it back; undefined before the first run ended. */
  runMs: number | undefined;
  /** Observed time to start and load a new instance (create + /init). */
  coldStartMs: number;
  /** Queued calls that waited a cold start's time already: each wants a new instance whatever the estimate says. */
  overdue: number;
}

/**
 * How many of the queued calls of one version want a new instance; the others
 * wait for a busy one. With no busy instance, or no run time observed yet,
 * every queued call does. Otherwise a call queued at position i (0-based)
 * expects to wait ≈ runMs × (⌊i / busy⌋ + 1); those whose wait would reach a
 * cold start want one, and so does the part of the queue beyond
 * {@link QUEUE_PER_INSTANCE} per instance.
 */
export function instancesWanted(v: QueueView): number {
  if (v.queued <= 0) return 0;
  if (v.busy <= 0 || v.runMs === undefined) return v.queued;
  // Positions served by a busy instance before a cold start would be ready.
  const rounds = Math.max(0, Math.ceil(v.coldStartMs / Math.max(v.runMs, 0.01)) - 1);
  const servedByBusy = v.busy * rounds;
  const forLatency = Math.max(0, v.queued - servedByBusy);
  const forThroughput = Math.max(0, v.queued - v.busy * QUEUE_PER_INSTANCE);
  return Math.min(v.queued, Math.max(forLatency, forThroughput, v.overdue));
}

/**
 * New instances to start now for one pool: what is wanted, less what is
 * already coming (instances being created or pre-started for that pool),
 * within what the creation budget has left.
 */
export function startsAllowed(wanted: number, coming: number, creating: number, maxCreating: number): number {
  return Math.max(0, Math.min(wanted - coming, maxCreating - creating));
}
