import { NotFoundError } from '../core/errors.js';
import { FINAL_STATUSES, type Activation } from '../core/types.js';
import type { Submitter } from '../invocations/submit.js';
import type { MetadataStore } from '../storage/types.js';
import { triggerLabel, type Trigger } from './types.js';

/**
 * Fires triggers: resolves the trigger's function (latest version) and
 * invokes it asynchronously, so the activation record names the trigger
 * (`trigger: "<type>:<name>"`) and the function's async retry rules apply.
 * Works in any role that can submit: the gateway (topic triggers) and the
 * scheduler (schedules, queues, storage events); async submits need no reply queue.
 */
export class TriggerInvoker {
  private readonly pollMs: number;

  constructor(
    private readonly deps: {
      submitter: Pick<Submitter, 'submitAsync'>;
      store: Pick<MetadataStore, 'getFunction' | 'getActivation'>;
      /** How often {@link waitForFinal} looks at the record. */
      pollMs?: number;
    },
  ) {
    this.pollMs = deps.pollMs ?? 100;
  }

  /** Invoke the trigger's function with `event`; resolves with the activation id once queued. */
  async fire(trigger: Trigger, event: unknown): Promise<string> {
    const rec = await this.deps.store.getFunction(trigger.namespace, trigger.function);
    if (!rec) throw new NotFoundError('function', trigger.function);
    return this.deps.submitter.submitAsync(rec.latest, JSON.stringify(event), { trigger: triggerLabel(trigger) });
  }

  /**
   * Wait until the activation has its final record (after every retry the
   * function's `retries` allow). Rejects with the signal's reason when aborted.
   */
  async waitForFinal(namespace: string, activationId: string, signal?: AbortSignal): Promise<Activation> {
    let delay = this.pollMs;
    for (;;) {
      signal?.throwIfAborted();
      const a = await this.deps.store.getActivation(namespace, activationId);
      if (a && FINAL_STATUSES.has(a.status)) return a;
      await sleep(delay, signal);
      // Back off to 1 s: a function with retries may take a while, and every poll is a store read.
      delay = Math.min(1000, Math.round(delay * 1.5));
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
