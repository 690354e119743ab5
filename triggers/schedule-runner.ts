import { Cron } from 'croner';
import { NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { KeyValueStore } from '../storage/types.js';
import type { TriggerInvoker } from './trigger-invoker.js';
import { triggerLabel, triggerRevision, type ScheduleEvent, type Trigger, type TriggerOf } from './types.js';

/** Longest single timer: Node caps setTimeout at 2^31-1 ms, so far-off ticks are re-planned. */
const MAX_TIMER_MS = 2 ** 30;
/** A tick more than this late (the process stalled) is skipped rather than fired in a burst. */
const MAX_LATENESS_MS = 30_000;

export interface ScheduleRunnerDeps {
  firer: Pick<TriggerInvoker, 'fire'>;
  kv: Pick<KeyValueStore, 'set'>;
  logger: Logger;
  /** Written into each lease, for diagnosis (which scheduler fired a tick). */
  ownerId: string;
  /**
   * How long a tick's lease lives. It must outlast the spread between the
   * schedulers' clocks and timers for one tick; 10 minutes is far beyond that.
   */
  leaseTtlMs?: number;
  /** Time and timers; default {@link realClock}. */
  clock?: ScheduleClock;
}

/**
 * Where the runner reads the time and arms its timers. Injected so a test can
 * drive ticks with a fake clock while everything else (a real Redis, its
 * client's own timers) keeps real time.
 */
export interface ScheduleClock {
  now(): number;
  /** Arm a one-shot timer that does not keep the process alive; returns its handle. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/**
 * The process clock. Reads the globals at each call (not at import), so
 * vitest's fake timers drive it too.
 */
export const realClock: ScheduleClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Job {
  revision: string;
  trigger: TriggerOf<'schedule'>;
  cron: Cron;
  timer: unknown;
}

/**
 * Runs `schedule` triggers in the scheduler role. Every scheduler plans every
 * tick, and each tick is fired by the one that first takes its lease in the
 * key-value store (`lease:schedule:<ns>:<name>:<tickEpochMs>`, set-if-absent):
 * several schedulers give fault tolerance without double firing. The tick
 * time is computed from the cron expression, not read from the clock, so
 * every scheduler names the same tick the same way; it is in the event as
 * `scheduledTime`. Ticks while no scheduler runs are not caught up.
 */
export class ScheduleRunner {
  private readonly jobs = new Map<string, Job>();
  private readonly clock: ScheduleClock;
  private stopped = false;

  constructor(private readonly deps: ScheduleRunnerDeps) {
    this.clock = deps.clock ?? realClock;
  }

  private now(): number {
    return this.clock.now();
  }

  /** Start, restart or stop jobs to match the current list of triggers. */
  reconcile(all: Trigger[]): void {
    if (this.stopped) return;
    const wanted = new Map<string, TriggerOf<'schedule'>>();
    for (const t of all) if (t.type === 'schedule') wanted.set(`${t.namespace}/${t.name}`, t);
    for (const [key, job] of this.jobs) {
      const t = wanted.get(key);
      if (!t || triggerRevision(t) !== job.revision) this.cancel(key);
    }
    for (const [key, t] of wanted) if (!this.jobs.has(key)) this.begin(key, t);
  }

  /** Number of schedules being run (for tests and logs). */
  get size(): number {
    return this.jobs.size;
  }

  stop(): void {
    this.stopped = true;
    for (const key of [...this.jobs.keys()]) this.cancel(key);
  }

  private begin(key: string, trigger: TriggerOf<'schedule'>): void {
    let cron: Cron;
    try {
      cron = new Cron(trigger.cron, { timezone: trigger.timezone, paused: true });
    } catch (err) {
      // Validated at PUT time; only a store edited by hand gets here.
      this.deps.logger.error({ err, trigger: trigger.name }, 'schedule trigger has an invalid cron; ignored');
      return;
    }
    const job: Job = { revision: triggerRevision(trigger), trigger, cron, timer: undefined };
    this.jobs.set(key, job);
    this.plan(key, job, new Date(this.now()));
  }

  private cancel(key: string): void {
    const job = this.jobs.get(key);
    if (!job) return;
    if (job.timer !== undefined) this.clock.clearTimer(job.timer);
    job.cron.stop();
    this.jobs.delete(key);
  }

  /** Arm the timer for the first tick strictly after `after`. */
  private plan(key: string, job: Job, after: Date): void {
    const next = job.cron.nextRun(after);
    if (next === null) return; // the expression has no future tick
    const tick = next.getTime();
    const delay = tick - this.now();
    if (delay > MAX_TIMER_MS) {
      job.timer = this.clock.setTimer(() => this.plan(key, job, after), MAX_TIMER_MS);
    } else {
      job.timer = this.clock.setTimer(() => this.onTick(key, job, tick), Math.max(0, delay));
    }
  }

  private onTick(key: string, job: Job, tick: number): void {
    if (this.jobs.get(key) !== job) return; // cancelled meanwhile
    // setTimeout may fire a millisecond early; never plan the same tick twice.
    const from = this.now() - tick > MAX_LATENESS_MS ? new Date(this.now()) : new Date(tick);
    this.plan(key, job, from);
    if (this.now() - tick > MAX_LATENESS_MS) {
      this.deps.logger.warn({ trigger: job.trigger.name, tick: new Date(tick).toISOString() }, 'schedule tick skipped: too late');
      return;
    }
    void this.fireTick(job.trigger, tick);
  }

  /** Take the tick's lease and, if it is ours, invoke the function. Exposed for tests. */
  async fireTick(trigger: TriggerOf<'schedule'>, tick: number): Promise<string | undefined> {
    const lease = `lease:schedule:${trigger.namespace}:${trigger.name}:${tick}`;
    try {
      const ours = await this.deps.kv.set(lease, this.deps.ownerId, { ifAbsent: true, ttlMs: this.deps.leaseTtlMs ?? 10 * 60_000 });
      if (!ours) return undefined;
      const event: ScheduleEvent = {
        type: 'schedule',
        trigger: triggerLabel(trigger),
        scheduledTime: new Date(tick).toISOString(),
        cron: trigger.cron,
        timezone: trigger.timezone,
        ...(trigger.data !== undefined ? { data: trigger.data } : {}),
      };
      return await this.deps.firer.fire(trigger, event);
    } catch (err) {
      const ctx = { err, trigger: trigger.name, namespace: trigger.namespace, tick: new Date(tick).toISOString() };
      // A deleted function leaves its triggers behind: the user's problem, not the platform's.
      if (err instanceof NotFoundError) this.deps.logger.warn(ctx, 'schedule tick not fired: the function does not exist');
      else this.deps.logger.error(ctx, 'schedule tick not fired');
      return undefined;
    }
  }
}
