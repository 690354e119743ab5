import type { ConnectionStatus, Subscription } from '../bus/types.js';
import { ValidationError } from '../core/errors.js';
import { QUEUE_PATTERN } from './types.js';

/**
 * Users' own message queues, which `queue` triggers consume. This is not
 * Brisk's bus: in distributed mode it is a queue on RabbitMQ
 * (`amqp-user-queues.ts`, a connection of its own), in standalone mode an
 * in-process queue on the memory bus (`bus-user-queues.ts`) that users fill
 * with `POST /v1/queues/{queue}/messages`.
 *
 * Every queue belongs to a namespace: the user names it `jobs`, the broker
 * holds it as `<prefix>.userq.<namespace>.jobs` ({@link userQueueBrokerName}),
 * so a tenant can neither reach a platform queue (`<prefix>.invoke` …) nor
 * another namespace's queue of the same name.
 */
export interface UserQueues {
  readonly status: ConnectionStatus;
  waitUntilReady(): Promise<void>;
  /** Idempotent. Unacknowledged deliveries go back to their queue. */
  close(): Promise<void>;

  /** The broker's name of a namespace's queue; throws ValidationError INVALID_QUEUE for a name a user may not use. */
  brokerName(namespace: string, queue: string): string;

  /** Publish one message (the queue is declared durable when missing). Resolves once stored. */
  send(namespace: string, queue: string, body: Buffer, opts?: { contentType?: string; headers?: Record<string, string> }): Promise<void>;
  /** Deliver messages to `onMessage`, at most `prefetch` unsettled at once. */
  consume(namespace: string, queue: string, onMessage: (d: QueueDelivery) => void, opts: { prefetch: number }): Promise<Subscription>;
  /** Messages ready in a queue and in its `<queue>.dead` companion. */
  depth(namespace: string, queue: string): Promise<{ messages: number; deadLetters: number }>;
  /**
   * Delete every queue `namespace` has used, and its `<queue>.dead`
   * companion, with their messages: the namespace is being deleted, and one
   * created later under its name must not inherit them. Idempotent. Returns
   * how many queues were deleted.
   */
  deleteNamespace(namespace: string): Promise<number>;
}

/** Headers Brisk sets on a message it dead-letters. */
export const QUEUE_DEAD_HEADERS = {
  reason: 'x-brisk-dead-reason',
  originalQueue: 'x-brisk-original-queue',
  trigger: 'x-brisk-trigger',
  activationId: 'x-brisk-activation-id',
} as const;

/** One message, settled exactly once by one of its three methods. */
export interface QueueDelivery {
  body: Buffer;
  contentType?: string;
  messageId?: string;
  headers: Record<string, unknown>;
  redelivered: boolean;
  /** Done: remove it from the queue. */
  ack(): Promise<void>;
  /**
   * Failed for good. `queue` copies it to `<queue>.dead` with `headers` (see
   * {@link QUEUE_DEAD_HEADERS}) and removes it; `reject` nacks it without
   * requeue (RabbitMQ routes it to the queue's own dead-letter exchange).
   */
  deadLetter(mode: 'queue' | 'reject', headers: Record<string, string>): Promise<void>;
  /** Not handled (shutting down): it will be delivered again. */
  requeue(): Promise<void>;
}

/** Name of the companion queue dead-lettered messages are copied to. */
export function deadQueueName(queue: string): string {
  return `${queue}.dead`;
}

/** AMQP's limit on a queue name (a short string), in bytes. */
const MAX_BROKER_NAME_BYTES = 255;

/**
 * Refuse a user queue name that is malformed or reserved: `amq.` (the
 * broker's own) and the platform's prefix (`<prefix>` itself or
 * `<prefix>.…`). Scoping already keeps such a name away from the platform's
 * queues; refusing it too keeps the answer plain instead of surprising.
 */
export function assertUserQueueName(prefix: string, queue: string): void {
  if (!QUEUE_PATTERN.test(queue)) {
    throw new ValidationError('INVALID_QUEUE', 'queue must match [A-Za-z0-9][A-Za-z0-9._:-]{0,199} and not start with amq.');
  }
  if (queue.startsWith('amq.') || queue === prefix || queue.startsWith(`${prefix}.`)) {
    throw new ValidationError('INVALID_QUEUE', `queue '${queue}' is reserved: names starting with 'amq.' or '${prefix}.' belong to the broker and the platform`);
  }
}

/**
 * The broker queue behind `queue` of `namespace`: `<prefix>.userq.<namespace>.<queue>`.
 * Namespace names have no dot, so two namespaces can never map to one name,
 * and nothing a user names can be a platform queue. Checks the name, and that
 * the longest name it leads to (its `.dead` companion) fits in AMQP.
 */
export function userQueueBrokerName(prefix: string, namespace: string, queue: string): string {
  assertUserQueueName(prefix, queue);
  const name = `${prefix}.userq.${namespace}.${queue}`;
  if (Buffer.byteLength(deadQueueName(name)) > MAX_BROKER_NAME_BYTES) {
    throw new ValidationError('INVALID_QUEUE', `queue '${queue}' is too long: its broker name ${deadQueueName(name)} would pass AMQP's ${MAX_BROKER_NAME_BYTES} bytes`);
  }
  return name;
}
