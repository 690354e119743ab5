import type { Subscription } from '../bus/types.js';

/**
 * Users' own message queues, which `queue` triggers consume. This is not
 * Brisk's bus: in distributed mode it is the user's queue on RabbitMQ
 * (`amqp-user-queues.ts`, a connection of its own), in standalone mode an
 * in-process queue on the memory bus (`bus-user-queues.ts`) that users fill
 * with `POST /v1/queues/{queue}/messages`.
 */
export interface UserQueues {
  readonly status: string;
  waitUntilReady(): Promise<void>;
  /** Idempotent. Unacknowledged deliveries go back to their queue. */
  close(): Promise<void>;

  /** Publish one message (the queue is declared durable when missing). Resolves once stored. */
  send(namespace: string, queue: string, body: Buffer, opts?: { contentType?: string; headers?: Record<string, string> }): Promise<void>;
  /** Deliver messages to `onMessage`, at most `prefetch` unsettled at once. */
  consume(namespace: string, queue: string, onMessage: (d: QueueDelivery) => void, opts: { prefetch: number }): Promise<Subscription>;
  /** Messages ready in a queue and in its `<queue>.dead` companion. */
  depth(namespace: string, queue: string): Promise<{ messages: number; deadLetters: number }>;
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
