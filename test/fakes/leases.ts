import type { KeyValueStore } from '../../storage/types.js';

type SetOnly = Pick<KeyValueStore, 'set'>;

/** One settled attempt to take a lease (a set-if-absent). */
export interface LeaseAttempt {
  key: string;
  owner: string;
  won: boolean;
}

/**
 * Watches the leases several contenders (schedule runners, storage
 * listeners) take in one real store, so a test can wait until every
 * contender has tried, instead of sleeping "long enough" for a duplicate to
 * show up. Wrap each contender's store with {@link wrap}.
 */
export class LeaseRecorder {
  readonly attempts: LeaseAttempt[] = [];
  /** Attempts sent and not yet answered. */
  pending = 0;

  wrap(kv: SetOnly): SetOnly {
    return {
      set: async (key, value, opts) => {
        this.pending++;
        try {
          const won = await kv.set(key, value, opts);
          if (opts?.ifAbsent === true) this.attempts.push({ key, owner: value, won });
          return won;
        } finally {
          this.pending--;
        }
      },
    };
  }

  /** Settled attempts on leases whose key starts with `prefix`. */
  on(prefix: string): LeaseAttempt[] {
    return this.attempts.filter((a) => a.key.startsWith(prefix));
  }
}
