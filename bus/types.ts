/**
 * The message bus between Brisk's roles (the lecture's "message bus and
 * scheduler": publication / subscription between front ends and execution
 * engines).
 *
 * Two kinds of channel:
 * - **queues**: durable, competing consumers, at-least-once. A message is
 *   acknowledged only when its handler's promise resolves. A handler that
 *   throws a non-retryable error (or a message that fails validation) sends the
 *   message to the dead-letter queue; a retryable error redelivers it, up to a
 *   delivery limit, then dead-letters it. A poison message never kills a
 *   consumer and never loops forever. An outage of a dependency
 *   (`isOutage`: Redis, S3 unreachable) is not the message's fault: it is
 *   redelivered after {@link OUTAGE_RETRY_MS}, held meanwhile, and not counted
 *   toward the limit, so work waits out a restart instead of being
 *   dead-lettered in the first milliseconds of it. A consumer that gives a
 *   message back untouched (`HandedBackError`: a scheduler stopping) has it
 *   redelivered at once, uncounted too. The decision is written once, in
 *   `delivery-policy.ts`.
 * - **topics**: fan-out to every current subscriber, fire-and-forget
 *   (heartbeats, function-updated notices). Nothing is stored for absent
 *   subscribers.
 *
 * Implementations: `memory-bus.ts` (standalone and unit tests) and
 * `amqp-bus.ts` (RabbitMQ). The RabbitMQ bus signs every message and hands a
 * handler only messages signed for the queue or topic it came from: others
 * on the broker (users' producers) cannot speak for the platform. The memory
 * bus lives inside one process, where nobody else can reach it, and does not. The queue names are built by `topology.ts`;
 * dead-lettered messages land in `Topology.deadLetterQueue` with
 * {@link DEAD_LETTER_HEADERS}.
 */

/** Pause before redelivering a message whose handler met an outage. */
export const OUTAGE_RETRY_MS = 250;

/** Longest `delayMs` a send may ask for; a longer delay is cut to it. */
export const MAX_SEND_DELAY_MS = 24 * 3600 * 1000;

export type ConnectionStatus = 'connecting' | 'ready' | 'reconnecting' | 'closing' | 'closed';

export interface DeliveryInfo {
  /** How many times this message has been delivered before (0 on the first). */
  redeliveries: number;
  /** Message headers set by the sender. */
  headers: Record<string, string | number | boolean>;
}

export type MessageHandler<T = unknown> = (body: T, info: DeliveryInfo) => Promise<void>;

export interface QueueOptions {
  /**
   * Durable queues survive a broker restart and hold work that must not be
   * lost. Transient queues (a gateway's reply queue) disappear with their
   * consumer.
   */
  durable: boolean;
  /** Deliveries after which a message that keeps failing is dead-lettered. Default 5. */
  deliveryLimit?: number;
  /**
   * Owned by this connection (with `durable: false`): only it may consume, and
   * the broker deletes the queue and what it holds the moment that connection
   * is gone (a killed process at once, a hung one within two AMQP
   * heartbeats). Others may still send to it. An executor's direct queue.
   */
  exclusive?: boolean;
}

export interface ConsumeOptions {
  /** How many unacknowledged messages this consumer holds at once. */
  prefetch: number;
  /**
   * Validates and narrows a raw message before the handler sees it. Throwing
   * here dead-letters the message (it is malformed and will never succeed).
   */
  parse?: (raw: unknown) => unknown;
  /**
   * Settle each message as it is delivered instead of after its handler: no
   * ack travels back, and a message whose handler fails is logged and
   * dropped, never redelivered or dead-lettered. Only for transient queues
   * whose messages are worthless once their consumer is gone (a gateway's
   * replies, a scheduler's completions).
   */
  autoAck?: boolean;
}

export interface SendOptions {
  headers?: Record<string, string | number | boolean>;
  /**
   * Drop the message if not consumed within this many ms (e.g. a sync reply).
   * Ignored on a delayed send (`delayMs`): a delayed message does not expire.
   */
  expirationMs?: number;
  /**
   * Deliver the message to `queue` only after this many ms (a retry's
   * backoff). Until then it waits in the broker, not in any consumer, and is
   * not counted by `queueDepth(queue)`. RabbitMQ rounds the delay up to a
   * step of a small ladder (one delay queue per step); the memory bus keeps
   * it in a timer, lost with the process like everything else it holds.
   * Capped at {@link MAX_SEND_DELAY_MS}.
   */
  delayMs?: number;
  /**
   * Wait for the broker to confirm the message is stored. Default true; replies
   * to a waiting caller may skip it for latency.
   */
  confirm?: boolean;
  /**
   * Keep the message in memory only, even on a durable queue: RabbitMQ does
   * not write it to disk, and a broker restart loses it. For messages whose
   * loss a waiting caller is told about anyway (a warm sync dispatch: the
   * gateway answers `EXECUTOR_LOST`), never for work that must not be lost.
   * Default false (durable queues get persistent messages). The memory bus
   * keeps nothing on disk and ignores it.
   */
  transient?: boolean;
}

export interface Subscription {
  /** Stop receiving. In-flight handlers finish; their messages are still acked. */
  cancel(): Promise<void>;
}

/** `x-brisk-dead-reason` values (see {@link DEAD_LETTER_HEADERS}). */
export type DeadReason = 'malformed' | 'rejected' | 'delivery-limit' | 'unauthenticated';

/**
 * Headers a dead-lettered message carries in the dead-letter queue
 * (`topology.deadLetterQueue`), whatever the implementation.
 */
export const DEAD_LETTER_HEADERS = {
  /** Queue the message was first sent to. */
  originalQueue: 'x-brisk-original-queue',
  /**
   * Why it was dead-lettered: `malformed`, `rejected`, `delivery-limit`, or
   * `unauthenticated` (RabbitMQ: no valid signature, so not sent by a Brisk
   * role; see `message-signer.ts`).
   */
  reason: 'x-brisk-dead-reason',
  /** The error message of the last failure, if any. */
  error: 'x-brisk-dead-error',
} as const;

export interface Bus {
  readonly status: ConnectionStatus;
  /** Resolves when connected and the topology is declared; rejects if the first connect fails. */
  waitUntilReady(): Promise<void>;
  /** Idempotent. Cancels consumers, waits for in-flight handlers, closes the connection. */
  close(): Promise<void>;

  /** Declare a queue (idempotent). Must precede send/consume on it. */
  assertQueue(queue: string, opts: QueueOptions): Promise<void>;
  /** Delete a queue and its messages (an executor leaving for good). */
  deleteQueue(queue: string): Promise<void>;
  /** Messages waiting in a queue (not counting unacked ones). */
  queueDepth(queue: string): Promise<number>;
  /**
   * Consumers attached to a queue right now; an `exclusive` queue of another
   * connection counts 1 (the broker shows it only to its owner, which is
   * alive while the queue exists). Throws `NotFoundError` for a queue that
   * does not exist (any more): an exclusive queue whose owner is gone.
   */
  queueConsumers(queue: string): Promise<number>;
  /** Send one message to a queue. Resolves once it is safely stored (see `confirm`). */
  send(queue: string, body: unknown, opts?: SendOptions): Promise<void>;
  consume<T>(queue: string, handler: MessageHandler<T>, opts: ConsumeOptions): Promise<Subscription>;

  /** Fan-out to every current subscriber of a topic. */
  publish(topic: string, body: unknown): Promise<void>;
  subscribe<T>(topic: string, handler: (body: T) => void | Promise<void>): Promise<Subscription>;
}
