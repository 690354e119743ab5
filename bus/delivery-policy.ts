import { BriskError, HandedBackError, isOutage } from '../core/errors.js';
import { errMessage } from '../core/util.js';
import { OUTAGE_RETRY_MS, type DeadReason } from './types.js';

/** Deliveries after which a message that keeps failing is dead-lettered, unless its queue says otherwise. */
export const DEFAULT_DELIVERY_LIMIT = 5;

/** Why a message without a valid signature was never handled (the dead letter's `x-brisk-dead-error`). */
export const UNSIGNED_ERROR = 'the message has no valid signature for this queue: it was not sent by a holder of the bus key';

/**
 * What a driver does with a message its consumer did not handle. The driver
 * only carries it out; {@link DeliveryPolicy} decides.
 */
export type DeliveryVerdict =
  /**
   * Copy it to the dead-letter queue with `reason` and `error` in
   * {@link DEAD_LETTER_HEADERS}, then remove the original (a message already
   * settled on delivery is only copied).
   */
  | { action: 'dead-letter'; reason: DeadReason; error: string }
  /** Put it back at the end of its queue after `delayMs`, now counting `redeliveries` failed deliveries. */
  | { action: 'redeliver'; redeliveries: number; delayMs: number }
  /** Remove it for good and log `why`: nobody could ever use it, and dead-lettering it would loop or is not wanted. */
  | { action: 'drop'; why: string; error: string };

/** Where the message was and how it was consumed; built by the driver on the failure path only. */
export interface FailedDelivery {
  /** The queue (or topic) the message was consumed from. */
  queue: string;
  /** Settled on delivery (`ConsumeOptions.autoAck`, topics): it cannot be kept or redelivered. */
  autoAck: boolean;
  /** How many deliveries of this message failed before this one. */
  redeliveries: number;
  /** The queue's `QueueOptions.deliveryLimit`, if it set one. */
  deliveryLimit: number | undefined;
}

/**
 * The delivery-failure decision of every {@link Bus}, written once (after
 * moleculer's transporter base): the drivers (`memory-bus.ts`, `amqp-bus.ts`)
 * only connect, declare, send and consume, and ask here what to do with a
 * message that was not handled.
 *
 * - malformed (not JSON, or the consumer's `parse` threw) → dead-letter, reason `malformed`;
 * - no valid signature → dead-letter, reason `unauthenticated`;
 * - the handler threw:
 *   - a dependency outage ({@link isOutage}) → redeliver after {@link OUTAGE_RETRY_MS}, uncounted;
 *   - {@link HandedBackError} (a consumer stopping) → redeliver at once, uncounted;
 *   - a non-retryable {@link BriskError} → dead-letter, reason `rejected`;
 *   - the delivery limit reached → dead-letter, reason `delivery-limit`;
 *   - else → redeliver with the count raised.
 *
 * A message settled on delivery (`autoAck`) cannot be kept: it is dropped
 * (logged), except that an unauthenticated one still leaves a copy for the
 * operators. Nothing is ever dead-lettered from the dead-letter queue itself:
 * that would loop for ever, so it is dropped, loudly.
 *
 * Called only when a message was not handled; the handled path asks nothing.
 */
export class DeliveryPolicy {
  constructor(private readonly deadLetterQueue: string) {}

  /** The body is not JSON, or the consumer's `parse` refused it: it will never succeed. */
  malformed(d: Pick<FailedDelivery, 'queue' | 'autoAck'>, err: unknown): DeliveryVerdict {
    if (d.autoAck) return { action: 'drop', why: 'dropping a malformed message', error: errMessage(err) };
    return this.deadLetter(d.queue, 'malformed', errMessage(err));
  }

  /** No valid signature for the queue it came from: not sent by a Brisk role, never handled. */
  unauthenticated(d: Pick<FailedDelivery, 'queue'>): DeliveryVerdict {
    return this.deadLetter(d.queue, 'unauthenticated', UNSIGNED_ERROR);
  }

  /** The handler threw `err` (or the consumer vanished mid-way, which counts the same). */
  failed(d: FailedDelivery, err: unknown): DeliveryVerdict {
    if (d.autoAck) return { action: 'drop', why: 'handler failed; message dropped', error: errMessage(err) };
    // A dependency is down: hold the message a moment, then try again, uncounted.
    if (isOutage(err)) return { action: 'redeliver', redeliveries: d.redeliveries, delayMs: OUTAGE_RETRY_MS };
    // Given back untouched (a consumer stopping): for another consumer, at once, uncounted.
    if (err instanceof HandedBackError) return { action: 'redeliver', redeliveries: d.redeliveries, delayMs: 0 };
    if (err instanceof BriskError && !err.retryable) return this.deadLetter(d.queue, 'rejected', errMessage(err));
    if (d.redeliveries + 1 >= (d.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT)) return this.deadLetter(d.queue, 'delivery-limit', errMessage(err));
    return { action: 'redeliver', redeliveries: d.redeliveries + 1, delayMs: 0 };
  }

  private deadLetter(queue: string, reason: DeadReason, error: string): DeliveryVerdict {
    if (queue === this.deadLetterQueue) return { action: 'drop', why: `dropping a message that failed on the dead-letter queue (${reason})`, error };
    return { action: 'dead-letter', reason, error };
  }
}
