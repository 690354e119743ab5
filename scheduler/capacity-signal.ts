/**
 * Wakes invocations that wait for capacity (a free executor slot, or a
 * concurrency slot) when something that could free it happens, instead of
 * having each of them poll: a completion wakes the longest-waiting few, a
 * heartbeat (new executor, evicted instances) wakes everyone. A waiter also
 * wakes after `maxMs` on its own, as a safety net for capacity freed where this
 * scheduler cannot see it (another scheduler's slot in a shared limit).
 */
export class CapacitySignal {
  private waiters: Array<() => void> = [];

  /** Resolves on the next notification that reaches this waiter, or after `maxMs`. */
  wait(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const wake = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve();
      }, maxMs);
      this.waiters.push(wake);
    });
  }

  /** Wake the `n` longest-waiting (first in, first out). */
  notify(n = 1): void {
    for (const wake of this.waiters.splice(0, n)) wake();
  }

  notifyAll(): void {
    this.notify(this.waiters.length);
  }

  get waiting(): number {
    return this.waiters.length;
  }
}
