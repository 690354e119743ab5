import type { ScheduleClock } from '../../triggers/schedule-runner.js';

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when the test says so, for code that takes a
 * {@link ScheduleClock}. Unlike vitest's fake timers it fakes nothing
 * global, so a real Redis client in the same test keeps its own timers.
 */
export class ManualClock implements ScheduleClock {
  private timers: ManualTimer[] = [];
  private seq = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer: ManualTimer = { at: this.t + Math.max(0, ms), seq: ++this.seq, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing each timer that falls due at its own time, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}
