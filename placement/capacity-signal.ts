/**
 * Wakes invocations that wait for capacity (a free executor slot, or a
 * concurrency slot) when something that could free it happens, instead of
 * having each of them poll: a completion wakes the longest-waiting few, a
 * heartbeat (new executor, evicted instances) wakes everyone. A waiter also
 * wakes after `maxMs` on its own, as a safety net for capacity freed where this
 * scheduler cannot see it (another scheduler's slot in a shared limit).
 *
 * Waiters are ordered by a ticket taken once per invocation ({@link ticket}),
 * not by when they last started waiting: one that was woken, found nothing
 * and waits again keeps its place at the front instead of going to the back
 * (which let a few unlucky invocations wait many times longer than the rest).
 */
export class CapacitySignal {
  private waiters: Array<{ ticket: number; wake: () => void }> = [];
  private nextTicket = 0;

  /** A place in line for one invocation; pass it to every {@link wait} of that invocation. */
  ticket(): number {
    return ++this.nextTicket;
  }

  /** Resolves on the next notification that reaches this waiter, or after `maxMs`. */
  wait(maxMs: number, ticket = this.ticket()): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.wake !== wake);
        resolve();
      }, maxMs);
      // Insert in ticket order; the usual case (a new ticket) appends.
      let i = this.waiters.length;
      while (i > 0 && (this.waiters[i - 1] as { ticket: number }).ticket > ticket) i--;
      this.waiters.splice(i, 0, { ticket, wake });
    });
  }

  /** Wake the `n` with the oldest tickets. */
  notify(n = 1): void {
    for (const w of this.waiters.splice(0, n)) w.wake();
  }

  notifyAll(): void {
    this.notify(this.waiters.length);
  }

  get waiting(): number {
    return this.waiters.length;
  }
}
