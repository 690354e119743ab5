import { connect as amqpConnect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { pino } from 'pino';
import type { Subscription } from '../bus/types.js';
import { ServiceUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { deadQueueName, userQueueBrokerName, type QueueDelivery, type UserQueues } from './user-queues.js';

export type UserQueueStatus = 'connecting' | 'ready' | 'reconnecting' | 'closing' | 'closed';

interface ConsumerState {
  queue: string;
  prefetch: number;
  onMessage: (d: QueueDelivery) => void;
  channel: Channel | undefined;
  cancelled: boolean;
}

/**
 * {@link UserQueues} on RabbitMQ (distributed mode): a connection of its own,
 * separate from Brisk's bus, to the queues `queue` triggers name. On the
 * broker each is scoped to its namespace, `<prefix>.userq.<namespace>.<queue>`
 * (see {@link userQueueBrokerName}): a tenant never reaches the platform's
 * queues nor another namespace's. Nothing here signs a message (see
 * `bus/message-signer.ts`): users' messages never pass for the platform's.
 *
 * - A queue that does not exist yet is declared durable (so a trigger can be
 *   set up before the producer); an existing queue is used with whatever
 *   arguments it has (its dead-letter exchange, length limit …).
 * - One channel per consumer with its own prefetch; a message is acked only
 *   when {@link QueueDelivery.ack} is called.
 * - A lost connection is re-established with backoff and every consumer
 *   re-opened; unacked messages of the lost channels are redelivered by the
 *   broker (at-least-once).
 */
export class AmqpUserQueues implements UserQueues {
  private state: UserQueueStatus = 'connecting';
  private model: ChannelModel | undefined;
  private confirm: Promise<ConfirmChannel> | undefined;
  private readonly consumers = new Set<ConsumerState>();
  private readonly ready: Promise<void>;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly log: Logger;

  constructor(
    private readonly opts: {
      url: string;
      /** BRISK_BUS_PREFIX: user queues are named under `<prefix>.userq.`. */
      prefix: string;
      logger?: Logger;
      connect?: (url: string) => Promise<ChannelModel>;
      reconnect?: { initialMs: number; maxMs: number };
    },
  ) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.ready = this.open().then(() => {
      this.state = 'ready';
    });
    this.ready.catch(() => {
      this.state = 'closed';
    });
  }

  get status(): UserQueueStatus {
    return this.state;
  }

  waitUntilReady(): Promise<void> {
    return this.ready.catch((err: unknown) => {
      throw new ServiceUnavailableError('rabbitmq', `user queues: ${(err as Error).message}`, err);
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const c of this.consumers) c.cancelled = true;
    const model = this.model;
    this.model = undefined;
    // Closing the connection returns every unacked delivery to its queue.
    await model?.close().catch(() => undefined);
    this.state = 'closed';
  }

  brokerName(namespace: string, queue: string): string {
    return userQueueBrokerName(this.opts.prefix, namespace, queue);
  }

  async send(namespace: string, queue: string, body: Buffer, opts: { contentType?: string; headers?: Record<string, string> } = {}): Promise<void> {
    await this.publish(this.brokerName(namespace, queue), body, opts);
  }

  /** Publish to a broker queue (already scoped), declaring it when missing. */
  private async publish(queue: string, body: Buffer, opts: { contentType?: string; headers?: Record<string, string> }): Promise<void> {
    await this.waitUntilReady();
    await this.ensureQueue(queue);
    const ch = await this.confirmChannel();
    await new Promise<void>((resolve, reject) => {
      ch.sendToQueue(
        queue,
        body,
        { persistent: true, headers: opts.headers ?? {}, ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}) },
        (err) => (err ? reject(new ServiceUnavailableError('rabbitmq', 'message not confirmed', err)) : resolve()),
      );
    });
  }

  async consume(namespace: string, queue: string, onMessage: (d: QueueDelivery) => void, opts: { prefetch: number }): Promise<Subscription> {
    const brokerQueue = this.brokerName(namespace, queue);
    await this.waitUntilReady();
    const state: ConsumerState = { queue: brokerQueue, prefetch: opts.prefetch, onMessage, channel: undefined, cancelled: false };
    this.consumers.add(state);
    await this.startConsumer(state);
    return {
      cancel: async () => {
        state.cancelled = true;
        this.consumers.delete(state);
        const ch = state.channel;
        state.channel = undefined;
        // Closing the channel hands unacked messages back to the queue.
        await ch?.close().catch(() => undefined);
      },
    };
  }

  async depth(namespace: string, queue: string): Promise<{ messages: number; deadLetters: number }> {
    const brokerQueue = this.brokerName(namespace, queue);
    await this.waitUntilReady();
    const count = async (q: string): Promise<number> => {
      const ch = await this.requireModel().createChannel();
      ch.on('error', () => undefined); // a missing queue closes the channel; reported as 0
      try {
        return (await ch.checkQueue(q)).messageCount;
      } catch {
        return 0;
      } finally {
        await ch.close().catch(() => undefined);
      }
    };
    const [messages, deadLetters] = await Promise.all([count(brokerQueue), count(deadQueueName(brokerQueue))]);
    return { messages, deadLetters };
  }

  // -------------------------------------------------------------------------

  private async open(): Promise<void> {
    const model = await (this.opts.connect ?? ((url: string) => amqpConnect(url)))(this.opts.url);
    model.on('error', (err: Error) => this.log.warn({ err: err.message }, 'user-queue connection error'));
    model.on('close', () => this.onLost(model));
    this.model = model;
    this.confirm = undefined;
    this.attempt = 0;
  }

  private requireModel(): ChannelModel {
    if (!this.model) throw new ServiceUnavailableError('rabbitmq', 'user-queue connection is not open');
    return this.model;
  }

  private onLost(model: ChannelModel): void {
    if (this.model !== model || this.state === 'closing' || this.state === 'closed') return;
    this.model = undefined;
    this.state = 'reconnecting';
    for (const c of this.consumers) c.channel = undefined;
    this.log.warn('user-queue connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const { initialMs, maxMs } = this.opts.reconnect ?? { initialMs: 200, maxMs: 5000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.attempt++);
    this.reconnectTimer = setTimeout(() => {
      this.open().then(
        async () => {
          if (this.state !== 'reconnecting') return;
          this.state = 'ready';
          for (const c of this.consumers) await this.startConsumer(c).catch((err: unknown) => this.retryConsumer(c, err));
        },
        (err: unknown) => {
          this.log.warn({ err: (err as Error).message }, 'user-queue reconnect failed');
          if (this.state === 'reconnecting') this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Declare the queue only if it is missing: re-declaring with other arguments would fail. */
  private async ensureQueue(queue: string): Promise<void> {
    const model = this.requireModel();
    const probe = await model.createChannel();
    probe.on('error', () => undefined); // 404 closes the probe channel; that is the answer
    try {
      await probe.checkQueue(queue);
      await probe.close().catch(() => undefined);
      return;
    } catch {
      // missing: declare it below on a fresh channel
    }
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    try {
      await ch.assertQueue(queue, { durable: true });
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private confirmChannel(): Promise<ConfirmChannel> {
    if (!this.confirm) {
      const p = this.requireModel().createConfirmChannel();
      this.confirm = p;
      p.then(
        (ch) => {
          ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'user-queue publish channel error'));
          ch.on('close', () => {
            if (this.confirm === p) this.confirm = undefined;
          });
        },
        () => {
          if (this.confirm === p) this.confirm = undefined;
        },
      );
    }
    return this.confirm;
  }

  private async startConsumer(state: ConsumerState): Promise<void> {
    if (state.cancelled) return;
    await this.ensureQueue(state.queue);
    const ch = await this.requireModel().createChannel();
    state.channel = ch;
    ch.on('error', (err: Error) => this.log.warn({ err: err.message, queue: state.queue }, 'user-queue consumer channel error'));
    ch.on('close', () => {
      // Closed by the broker while the connection lives (queue deleted, bad ack): open it again.
      if (state.channel === ch && !state.cancelled && this.state === 'ready') {
        state.channel = undefined;
        this.retryConsumer(state, new Error('channel closed'));
      }
    });
    await ch.prefetch(state.prefetch);
    await ch.consume(state.queue, (msg) => {
      if (msg === null) return; // consumer cancelled by the broker; the close handler reopens it
      state.onMessage(this.delivery(ch, state.queue, msg));
    });
  }

  private retryConsumer(state: ConsumerState, err: unknown): void {
    if (state.cancelled) return;
    this.log.warn({ err: (err as Error).message, queue: state.queue }, 'user-queue consumer restarting');
    const t = setTimeout(() => {
      if (state.cancelled || this.state !== 'ready' || state.channel) return;
      this.startConsumer(state).catch((e: unknown) => this.retryConsumer(state, e));
    }, 1000);
    t.unref();
  }

  private delivery(ch: Channel, queue: string, msg: ConsumeMessage): QueueDelivery {
    const p = msg.properties;
    // Settling on a channel that has since closed is a no-op: the broker redelivers that message.
    const settle = (fn: () => void): void => {
      try {
        fn();
      } catch {
        /* channel gone */
      }
    };
    return {
      body: msg.content,
      headers: (p.headers ?? {}) as Record<string, unknown>,
      redelivered: msg.fields.redelivered,
      ...(typeof p.contentType === 'string' ? { contentType: p.contentType } : {}),
      ...(typeof p.messageId === 'string' ? { messageId: p.messageId } : {}),
      ack: async () => settle(() => ch.ack(msg)),
      requeue: async () => settle(() => ch.nack(msg, false, true)),
      deadLetter: async (mode, headers) => {
        if (mode === 'reject') return settle(() => ch.nack(msg, false, false));
        // Copy first (confirmed), then ack: a crash in between duplicates, never loses.
        // `queue` is the broker's (scoped) name, so its companion is scoped too.
        await this.publish(deadQueueName(queue), msg.content, {
          headers: { ...stringHeaders(p.headers), ...headers },
          ...(typeof p.contentType === 'string' ? { contentType: p.contentType } : {}),
        });
        settle(() => ch.ack(msg));
      },
    };
  }
}

function stringHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof h !== 'object' || h === null) return out;
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
  }
  return out;
}
