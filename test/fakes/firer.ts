import { NotFoundError } from '../../core/errors.js';
import type { Activation } from '../../core/types.js';
import type { Trigger } from '../../triggers/types.js';

/** A function name the fake firer treats as deleted: firing a trigger on it throws NotFoundError. */
export const MISSING_FUNCTION = 'deleted';

/** One invocation a trigger fired. */
export interface Firing<E> {
  trigger: Trigger;
  event: E;
  activationId: string;
}

/**
 * Stands in for the TriggerInvoker in trigger tests: records every firing
 * (activation ids `act-1`, `act-2` …) and decides each activation's final
 * status, per function ({@link outcome}) or for all ({@link defaultStatus}).
 * Status `running` never finishes on its own: {@link finish} or an abort of
 * the waiter ends it, so a test controls when a message may be acked.
 */
export class FakeFirer<E = unknown> {
  readonly fired: Firing<E>[] = [];
  /** Final status by function name. */
  readonly outcome = new Map<string, Activation['status']>();
  /** Final status of functions not in {@link outcome}. */
  defaultStatus: Activation['status'] = 'success';
  private readonly finals = new Map<string, (status: Activation['status']) => void>();

  async fire(trigger: Trigger, event: unknown): Promise<string> {
    if (trigger.function === MISSING_FUNCTION) throw new NotFoundError('function', trigger.function);
    const activationId = `act-${this.fired.length + 1}`;
    this.fired.push({ trigger, event: event as E, activationId });
    return activationId;
  }

  async waitForFinal(_namespace: string, activationId: string, signal?: AbortSignal): Promise<Activation> {
    const fn = this.fired.find((f) => f.activationId === activationId)?.trigger.function ?? '';
    let status = this.outcome.get(fn) ?? this.defaultStatus;
    if (status === 'running') {
      status = await new Promise<Activation['status']>((resolve, reject) => {
        this.finals.set(activationId, resolve);
        signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    }
    return { activationId, status } as Activation;
  }

  /** End a `running` activation with `status`. */
  finish(activationId: string, status: Activation['status']): void {
    this.finals.get(activationId)?.(status);
  }
}
