import { BriskError, NotFoundError } from '../core/errors.js';
import { sleep } from '../core/util.js';
import { DeliveryPolicy, type DeliveryVerdict } from './delivery-policy.js';
import { Topology } from './topology.js';
import {
  DEAD_LETTER_HEADERS,
  MAX_SEND_DELAY_MS,
  type Bus,
  type ConnectionStatus,
  type ConsumeOptions,
  type DeadReason,
  type DeliveryInfo,
  type MessageHandler,
  type QueueOptions,
  type SendOptions,
  type Subscription,
} from './types.js';

interface Envelope {
  body: unknown;
  headers: Record<string, string | number | boolean>;
  redeliveries: number;
  expiresAt?: number;
}

interface Consumer {
  handler: MessageHandler;
  opts: ConsumeOptions;
  inFlight: number;
  active: boolean;
  settled: Set<Promise<void>>;
}

interface QueueState {
  opts: QueueOptions;
  messages: Envelope[];
  consumers: Consumer[];
  /** Round-robin cursor over consumers. */
  next: number;
}

/**
 * In-process {@link Bus}: standalone mode and unit tests. Same semantics as the
 * RabbitMQ bus (ack after the handler settles, prefetch, and the same
 * {@link DeliveryPolicy} for what is not handled), without the network.
 * Bodies are passed by reference, not serialised: senders must not mutate a
 * body after sending it. A delayed send waits in a timer (unref'd: it keeps
 * no process alive), dropped on close — like every message this bus holds, it
 * does not survive the process.
 *
 * `trustedSenders` (standalone mode): every body on this bus was built by
 * this process's own typed code, so a consumer's `parse` is not run — it
 * would check again what the compiler checked, and on a c1 call the first
 * parse after an idle pause took ~155 µs, as long as the scheduler's whole
 * step (see bench/README.md). Bodies then reach their consumer as sent, by
 * reference. Off by default: unit tests and the bus contract suite send
 * malformed bodies on purpose.
 */
export class MemoryBus implements Bus {
  private readonly queues = new Map<string, QueueState>();
  private readonly topics = new Map<string, Set<(body: unknown) => void | Promise<void>>>();
  private readonly topology: Topology;
  private readonly policy: DeliveryPolicy;
  private state: ConnectionStatus = 'ready';
  private scheduled = false;
  /** Timers of delayed sends not yet due. */
  private readonly delayed = new Set<NodeJS.Timeout>();

  private readonly trustedSenders: boolean;

  constructor(opts: { prefix: string; trustedSenders?: boolean }) {
    this.trustedSenders = opts.trustedSenders ?? false;
    this.topology = new Topology(opts.prefix);
    this.policy = new DeliveryPolicy(this.topology.deadLetterQueue);
    this.queues.set(this.topology.deadLetterQueue, { opts: { durable: true }, messages: [], consumers: [], next: 0 });
  }

  get status(): ConnectionStatus {
    return this.state;
  }

  async waitUntilReady(): Promise<void> {
    if (this.state === 'closed') throw new BriskError('BUS_CLOSED', 'bus is closed');
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    const pending: Promise<void>[] = [];
    for (const q of this.queues.values()) {
      for (const c of q.consumers) {
        c.active = false;
        pending.push(...c.settled);
      }
      q.consumers = [];
    }
    this.topics.clear();
    await Promise.allSettled(pending);
    this.state = 'closed';
  }

  async assertQueue(queue: string, opts: QueueOptions): Promise<void> {
    if (!this.queues.has(queue)) this.queues.set(queue, { opts, messages: [], consumers: [], next: 0 });
  }

  async deleteQueue(queue: string): Promise<void> {
    const q = this.queues.get(queue);
    if (!q) return;
    for (const c of q.consumers) c.active = false;
    this.queues.delete(queue);
  }

  async queueDepth(queue: string): Promise<number> {
    return this.queueOf(queue).messages.length;
  }

  async queueConsumers(queue: string): Promise<number> {
    const q = this.queues.get(queue);
    if (!q) throw new NotFoundError('queue', queue);
    return q.consumers.filter((c) => c.active).length;
  }

  async send(queue: string, body: unknown, opts: SendOptions = {}): Promise<void> {
    this.ensureOpen();
    const target = this.queueOf(queue);
    const env: Envelope = { body, headers: { ...opts.headers }, redeliveries: 0 };
    if (opts.delayMs !== undefined && opts.delayMs > 0) {
      const timer = setTimeout(() => {
        this.delayed.delete(timer);
        // Due: into the queue of that name, if it is still there (a deleted queue's messages are gone).
        const q = this.queues.get(queue);
        if (this.state !== 'ready' || !q) return;
        q.messages.push(env);
        this.schedule();
      }, Math.min(opts.delayMs, MAX_SEND_DELAY_MS));
      timer.unref();
      this.delayed.add(timer);
      return;
    }
    if (opts.expirationMs !== undefined) env.expiresAt = Date.now() + opts.expirationMs;
    target.messages.push(env);
    this.schedule();
  }

  async consume<T>(queue: string, handler: MessageHandler<T>, opts: ConsumeOptions): Promise<Subscription> {
    this.ensureOpen();
    const q = this.queueOf(queue);
    const consumer: Consumer = { handler: handler as MessageHandler, opts, inFlight: 0, active: true, settled: new Set() };
    q.consumers.push(consumer);
    this.schedule();
    return {
      cancel: async () => {
        consumer.active = false;
        const current = this.queues.get(queue);
        if (current) current.consumers = current.consumers.filter((c) => c !== consumer);
        await Promise.allSettled([...consumer.settled]);
      },
    };
  }

  async publish(topic: string, body: unknown): Promise<void> {
    this.ensureOpen();
    const subs = this.topics.get(topic);
    if (!subs) return;
    for (const sub of subs) {
      queueMicrotask(() => {
        Promise.resolve()
          .then(() => sub(body))
          .catch(() => {
            /* fire-and-forget, like a fanout exchange: a subscriber's failure is its own */
          });
      });
    }
  }

  async subscribe<T>(topic: string, handler: (body: T) => void | Promise<void>): Promise<Subscription> {
    this.ensureOpen();
    let subs = this.topics.get(topic);
    if (!subs) {
      subs = new Set();
      this.topics.set(topic, subs);
    }
    const h = handler as (body: unknown) => void | Promise<void>;
    subs.add(h);
    return { cancel: async () => void this.topics.get(topic)?.delete(h) };
  }

  private ensureOpen(): void {
    if (this.state !== 'ready') throw new BriskError('BUS_CLOSED', 'bus is closed', { status: 503, retryable: true });
  }

  private queueOf(queue: string): QueueState {
    const q = this.queues.get(queue);
    if (!q) throw new BriskError('QUEUE_NOT_DECLARED', `queue '${queue}' was not declared`);
    return q;
  }

  /** Deliveries happen on a later tick, as they would from a broker. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.state !== 'ready') return;
    for (const [name, q] of this.queues) {
      while (q.messages.length > 0) {
        const consumer = this.pickConsumer(q);
        if (!consumer) break;
        const env = q.messages.shift() as Envelope;
        if (env.expiresAt !== undefined && env.expiresAt < Date.now()) continue;
        this.deliver(name, q, consumer, env);
      }
    }
  }

  private pickConsumer(q: QueueState): Consumer | undefined {
    const n = q.consumers.length;
    for (let i = 0; i < n; i++) {
      const c = q.consumers[(q.next + i) % n] as Consumer;
      if (c.active && c.inFlight < c.opts.prefetch) {
        q.next = (q.next + i + 1) % n;
        return c;
      }
    }
    return undefined;
  }

  private deliver(queue: string, q: QueueState, consumer: Consumer, env: Envelope): void {
    consumer.inFlight++;
    const info: DeliveryInfo = { redeliveries: env.redeliveries, headers: env.headers };
    const run = async (): Promise<void> => {
      let body: unknown;
      const autoAck = consumer.opts.autoAck === true;
      try {
        body = consumer.opts.parse && !this.trustedSenders ? consumer.opts.parse(env.body) : env.body;
      } catch (err) {
        return await this.settle(queue, q, env, this.policy.malformed({ queue, autoAck }, err));
      }
      try {
        await consumer.handler(body, info);
      } catch (err) {
        const failed = { queue, autoAck, redeliveries: env.redeliveries, deliveryLimit: q.opts.deliveryLimit };
        return await this.settle(queue, q, env, this.policy.failed(failed, err));
      }
    };
    const p = run().finally(() => {
      consumer.inFlight--;
      consumer.settled.delete(p);
      this.schedule();
    });
    consumer.settled.add(p);
  }

  /** Carry out the policy's verdict on a message that was not handled. */
  private async settle(queue: string, q: QueueState, env: Envelope, v: DeliveryVerdict): Promise<void> {
    if (v.action === 'drop') return;
    if (v.action === 'dead-letter') return this.deadLetter(queue, env, v.reason, v.error);
    if (v.delayMs > 0) await sleep(v.delayMs);
    // A queue deleted meanwhile took its messages with it.
    if (this.queues.get(queue) !== q) return;
    q.messages.push(v.redeliveries === env.redeliveries ? env : { ...env, redeliveries: v.redeliveries });
  }

  private deadLetter(queue: string, env: Envelope, reason: DeadReason, error: string): void {
    const dlq = this.queues.get(this.topology.deadLetterQueue);
    if (!dlq) return;
    dlq.messages.push({
      body: env.body,
      redeliveries: 0,
      headers: {
        ...env.headers,
        [DEAD_LETTER_HEADERS.originalQueue]: queue,
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.error]: error,
      },
    });
    this.schedule();
  }
}
