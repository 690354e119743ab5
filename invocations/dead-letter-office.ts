import { NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Activation, ActivationStatus, InvocationRequest } from '../core/types.js';
import type { FunctionRouter, RoutedFunction } from '../releases/function-router.js';
import { parseFunctionTarget } from '../releases/function-target.js';
import type { MetadataStore } from '../storage/types.js';
import { DeadLetterStore, type DeadLetter, type DeadLetterReason } from './dead-letters.js';
import type { Submitter } from './submit.js';

export interface DeadLetterOfficeOptions {
  letters: DeadLetterStore;
  store: Pick<MetadataStore, 'getActivation'>;
  /** Resolves the on-failure target (`name`: its latest version, `name:alias`: the alias's routing). */
  router: Pick<FunctionRouter, 'resolve'>;
  /** Submits the on-failure invocation (like any async invocation: it may wait and retry up to the maximum event age). */
  submitter: Pick<Submitter, 'submitAsync'>;
  logger: Logger;
}

/** Trigger of an on-failure invocation; also what stops an on-failure function from feeding itself. */
export const ON_FAILURE_TRIGGER_PREFIX = 'on-failure:';

/**
 * Where async invocations that finally failed go: the dead-letter store, and,
 * when the function was deployed with `onFailure`, an async invocation of that
 * function with the dead letter as its event. Used by executors (retries
 * exhausted) and schedulers (too old, no capacity).
 *
 * The event the on-failure function receives is
 * `{ source: 'brisk.dead-letter', deadLetter: <DeadLetter without payload>, event: <the original event> }`.
 * An invocation that was itself an on-failure call is dead-lettered but never
 * notified again, so a failing on-failure function cannot loop.
 */
export class DeadLetterOffice {
  constructor(private readonly o: DeadLetterOfficeOptions) {}

  /** Store the dead letter, then notify the on-failure function (best effort: the letter is the record). */
  async bury(
    req: InvocationRequest,
    outcome: { reason: DeadLetterReason; status: ActivationStatus; lastError?: Activation['error'] },
  ): Promise<DeadLetter> {
    const letter = DeadLetterStore.entryFor(req, outcome);
    await this.o.letters.put(letter);
    this.o.logger.warn({ activationId: req.activationId, function: req.fn.name, reason: outcome.reason }, 'async invocation dead-lettered');
    const target = req.fn.onFailure;
    if (target !== undefined && !(req.trigger ?? '').startsWith(ON_FAILURE_TRIGGER_PREFIX)) {
      await this.notify(target, letter).catch((err: unknown) =>
        this.o.logger.warn({ err, activationId: req.activationId, onFailure: target }, 'on-failure function not invoked'),
      );
    }
    return letter;
  }

  private async notify(target: string, letter: DeadLetter): Promise<void> {
    let routed: RoutedFunction;
    try {
      routed = await this.o.router.resolve(letter.namespace, parseFunctionTarget(target));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      this.o.logger.warn({ namespace: letter.namespace, onFailure: target, code: err.code }, 'on-failure function (or its alias) does not exist');
      return;
    }
    const { payload, ...deadLetter } = letter;
    const event = { source: 'brisk.dead-letter', deadLetter, event: safeParse(payload) };
    // Derived from the failed activation, so a duplicate bury (a message delivered twice) notifies once.
    const activationId = `f${letter.activationId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 40)}`;
    if ((await this.o.store.getActivation(letter.namespace, activationId)) !== undefined) return; // already notified
    await this.o.submitter.submitAsync(routed.fn, JSON.stringify(event), {
      activationId,
      ...(routed.alias !== undefined ? { alias: routed.alias } : {}),
      trigger: `${ON_FAILURE_TRIGGER_PREFIX}${letter.function}`,
    });
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
