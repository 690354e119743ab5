import type { Bus, ConnectionStatus, Subscription } from '../bus/types.js';
import { BriskError } from '../core/errors.js';
import { deadQueueName, userQueueBrokerName, type QueueDelivery, type UserQueues } from './user-queues.js';

/** What a user message looks like on the memory bus (bodies are passed by reference, never mutated). */
interface StoredMessage {
  body: Buffer;
  contentType?: string;
  headers: Record<string, string>;
  messageId: string;
}

/**
 * {@link UserQueues} on Brisk's own bus, for standalone mode where there is no
 * RabbitMQ: each user queue is a bus queue named
 * `<prefix>.userq.<namespace>.<queue>` ({@link userQueueBrokerName}).
 * Messages live in memory: they do not survive a restart of the standalone
 * process, and neither does the list of the queues each namespace used,
 * which {@link deleteNamespace} reads.
 */
export class BusUserQueues implements UserQueues {
  private seq = 0;
  /** Namespace → the user queue names it used (declared by a send or a consume). */
  private readonly used = new Map<string, Set<string>>();

  constructor(private readonly deps: { bus: Bus; prefix: string }) {}

  get status(): ConnectionStatus {
    return this.deps.bus.status;
  }

  waitUntilReady(): Promise<void> {
    return this.deps.bus.waitUntilReady();
  }

  /** The bus belongs to the process, not to us. */
  async close(): Promise<void> {}

  brokerName(namespace: string, queue: string): string {
    return userQueueBrokerName(this.deps.prefix, namespace, queue);
  }

  async send(namespace: string, queue: string, body: Buffer, opts: { contentType?: string; headers?: Record<string, string> } = {}): Promise<void> {
    const q = this.brokerName(namespace, queue);
    this.note(namespace, queue);
    await this.publish(q, body, opts);
  }

  /** Put a message on a bus queue (already scoped), declaring it when missing. */
  private async publish(q: string, body: Buffer, opts: { contentType?: string; headers?: Record<string, string> }): Promise<void> {
    await this.deps.bus.assertQueue(q, { durable: true });
    const msg: StoredMessage = {
      body,
      headers: opts.headers ?? {},
      messageId: `m${Date.now().toString(36)}${(this.seq++).toString(36)}`,
      ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
    };
    await this.deps.bus.send(q, msg);
  }

  async consume(namespace: string, queue: string, onMessage: (d: QueueDelivery) => void, opts: { prefetch: number }): Promise<Subscription> {
    const q = this.brokerName(namespace, queue);
    this.note(namespace, queue);
    await this.deps.bus.assertQueue(q, { durable: true });
    return this.deps.bus.consume<StoredMessage>(
      q,
      (msg, info) =>
        new Promise<void>((resolve, reject) => {
          onMessage({
            body: msg.body,
            headers: msg.headers,
            messageId: msg.messageId,
            redelivered: info.redeliveries > 0,
            ...(msg.contentType !== undefined ? { contentType: msg.contentType } : {}),
            ack: async () => resolve(),
            deadLetter: async (_mode, headers) => {
              // No broker-side dead-letter exchange here: both modes keep a copy in `<queue>.dead`.
              try {
                await this.publish(deadQueueName(q), msg.body, {
                  headers: { ...msg.headers, ...headers },
                  ...(msg.contentType !== undefined ? { contentType: msg.contentType } : {}),
                });
                resolve();
              } catch (err) {
                reject(err as Error);
              }
            },
            // A retryable failure makes the bus deliver it again.
            requeue: async () => reject(new BriskError('REQUEUED', 'message handed back', { retryable: true })),
          });
        }),
      { prefetch: opts.prefetch },
    );
  }

  async depth(namespace: string, queue: string): Promise<{ messages: number; deadLetters: number }> {
    const q = this.brokerName(namespace, queue);
    const [messages, deadLetters] = await Promise.all([
      this.deps.bus.queueDepth(q).catch(() => 0),
      this.deps.bus.queueDepth(deadQueueName(q)).catch(() => 0),
    ]);
    return { messages, deadLetters };
  }

  async deleteNamespace(namespace: string): Promise<number> {
    const queues = [...(this.used.get(namespace) ?? [])];
    for (const queue of queues) {
      const q = `${this.deps.prefix}.userq.${namespace}.${queue}`;
      await this.deps.bus.deleteQueue(q);
      await this.deps.bus.deleteQueue(deadQueueName(q));
    }
    this.used.delete(namespace);
    return queues.length;
  }

  private note(namespace: string, queue: string): void {
    let set = this.used.get(namespace);
    if (!set) {
      set = new Set();
      this.used.set(namespace, set);
    }
    set.add(queue);
  }
}
