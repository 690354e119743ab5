import { retry, type Backoff } from '../core/backoff.js';
import { FINAL_STATUSES, type Activation } from '../core/types.js';
import type { Submitter } from '../invocations/submit.js';
import type { FunctionRouter } from '../releases/function-router.js';
import { parseFunctionTarget } from '../releases/function-target.js';
import type { MetadataStore } from '../storage/types.js';
import { triggerLabel, type Trigger } from './types.js';

/**
 * Fires triggers: resolves the trigger's function (its latest version, or for
 * `name:alias` the version the alias routes this call to, so a trigger
 * follows its alias when it moves) and
 * invokes it asynchronously, so the activation record names the trigger
 * (`trigger: "<type>:<name>"`) and the function's async retry rules apply.
 * Works in any role that can submit: the gateway (topic triggers) and the
 * scheduler (schedules, queues, storage events); async submits need no reply queue.
 */
export class TriggerInvoker {
  private readonly poll: Backoff;

  constructor(
    private readonly deps: {
      submitter: Pick<Submitter, 'submitAsync'>;
      store: Pick<MetadataStore, 'getActivation'>;
      /** Resolves `name` and `name:alias`. */
      router: Pick<FunctionRouter, 'resolve'>;
      /** How often {@link waitForFinal} looks at the record. */
      pollMs?: number;
    },
  ) {
    // Backs off to 1 s: a function with retries may take a while, and every poll is a store read.
    this.poll = { type: 'exponential', initialMs: deps.pollMs ?? 100, factor: 1.5, maxMs: 1000 };
  }

  /** Invoke the trigger's function with `event`; resolves with the activation id once queued. */
  async fire(trigger: Trigger, event: unknown): Promise<string> {
    const { fn, alias } = await this.deps.router.resolve(trigger.namespace, parseFunctionTarget(trigger.function));
    return this.deps.submitter.submitAsync(fn, JSON.stringify(event), { trigger: triggerLabel(trigger), ...(alias !== undefined ? { alias } : {}) });
  }

  /**
   * Wait until the activation has its final record (after every retry the
   * function's `retries` allow). Rejects with the signal's reason when aborted.
   */
  async waitForFinal(namespace: string, activationId: string, signal?: AbortSignal): Promise<Activation> {
    const final = await retry(() => this.deps.store.getActivation(namespace, activationId), {
      backoff: this.poll,
      until: (a) => a !== undefined && FINAL_STATUSES.has(a.status),
      signal,
    });
    return final as Activation;
  }
}
