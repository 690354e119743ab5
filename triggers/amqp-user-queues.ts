import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { pino } from 'pino';
import { AmqpConnection, type AmqpConnect } from '../bus/amqp-connection.js';
import type { ConnectionStatus, Subscription } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import { errMessage } from '../core/util.js';
import type { KeyValueStore } from '../storage/types.js';
import { UserQueueIndex } from './user-queue-index.js';
import { deadQueueName, userQueueBrokerName, type QueueDelivery, type UserQueues } from './user-queues.js';

interface ConsumerState {
  /** The broker's (scoped) name. */
  queue: string;
  /** Whose queue it is, as the user named it. */
  owner: QueueOwner;
  prefetch: number;
  onMessage: (d: QueueDelivery) => void;
  channel: Channel | undefined;
  cancelled: boolean;
}

/** A user queue as its namespace names it. */
interface QueueOwner {
  namespace: string;
  queue: string;
}

/** Pause before re-opening a consumer whose channel the broker closed (the connection lives on). */
const CONSUMER_RETRY_MS = 1000;

/**
 * {@link UserQueues} on RabbitMQ (distributed mode): a connection of its own
 * ({@link AmqpConnection}), separate from Brisk's bus, to the queues `queue`
 * triggers name. On the broker each is scoped to its namespace,
 * `<prefix>.userq.<namespace>.<queue>` (see {@link userQueueBrokerName}): a
 * tenant never reaches the platform's queues nor another namespace's. Nothing
 * here signs a message (see `bus/message-signer.ts`): users' messages never
 * pass for the platform's.
 *
 * - A queue that does not exist yet is declared durable (so a trigger can be
 *   set up before the producer); an existing queue is used with whatever
 *   arguments it has (its dead-letter exchange, length limit …). Either way
 *   it is listed in the namespace's {@link UserQueueIndex}, which
 *   {@link deleteNamespace} reads.
 * - One channel per consumer with its own prefetch; a message is acked only
 *   when {@link QueueDelivery.ack} is called.
 * - A lost connection is re-established with backoff and every consumer
 *   re-opened; unacked messages of the lost channels are redelivered by the
 *   broker (at-least-once).
 */
export class AmqpUserQueues implements UserQueues {
  private model: ChannelModel | undefined;
  private confirm: Promise<ConfirmChannel> | undefined;
  private readonly consumers = new Set<ConsumerState>();
  private readonly conn: AmqpConnection;
  private readonly index: UserQueueIndex;
  private readonly log: Logger;

  constructor(
    private readonly opts: {
      url: string;
      /** BRISK_BUS_PREFIX: user queues are named under `<prefix>.userq.`. */
      prefix: string;
      /** Where the queues each namespace uses are listed (see {@link UserQueueIndex}). */
      kv: Pick<KeyValueStore, 'hset' | 'hdel' | 'hgetall'>;
      logger?: Logger;
      connect?: AmqpConnect;
      reconnect?: { initialMs: number; maxMs: number };
    },
  ) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.index = new UserQueueIndex(opts.kv);
    this.conn = new AmqpConnection({
      url: opts.url,
      name: 'user queues',
      logger: this.log,
      ...(opts.connect ? { connect: opts.connect } : {}),
      reconnect: opts.reconnect ?? { initialMs: 200, maxMs: 5000 },
      setup: (model) => this.restore(model),
      onLost: (model) => this.onLost(model),
      drain: async () => {
        // Closing the connection returns every unacked delivery to its queue.
        for (const c of this.consumers) c.cancelled = true;
      },
    });
  }

  get status(): ConnectionStatus {
    return this.conn.status;
  }

  waitUntilReady(): Promise<void> {
    return this.conn.waitUntilReady();
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  brokerName(namespace: string, queue: string): string {
    return userQueueBrokerName(this.opts.prefix, namespace, queue);
  }

  async send(namespace: string, queue: string, body: Buffer, opts: { contentType?: string; headers?: Record<string, string> } = {}): Promise<void> {
    const brokerQueue = this.brokerName(namespace, queue);
    await this.ready();
    await this.publish(brokerQueue, body, opts, { namespace, queue });
  }

  /**
   * Publish to a broker queue (already scoped), declaring it when missing.
   * `owner`: the user queue it is (listed in the index); none for a `.dead`
   * companion, which goes with its queue.
   */
  private async publish(queue: string, body: Buffer, opts: { contentType?: string; headers?: Record<string, string> }, owner?: QueueOwner): Promise<void> {
    await this.ensureQueue(queue, owner);
    const ch = await this.confirmChannel();
    await new Promise<void>((resolve, reject) => {
      ch.sendToQueue(
        queue,
        body,
        { persistent: true, headers: opts.headers ?? {}, ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}) },
        (err) => (err ? reject(this.conn.unavailable('message not confirmed', err)) : resolve()),
      );
    });
  }

  async consume(namespace: string, queue: string, onMessage: (d: QueueDelivery) => void, opts: { prefetch: number }): Promise<Subscription> {
    const brokerQueue = this.brokerName(namespace, queue);
    await this.ready();
    const state: ConsumerState = { queue: brokerQueue, owner: { namespace, queue }, prefetch: opts.prefetch, onMessage, channel: undefined, cancelled: false };
    this.consumers.add(state);
    try {
      await this.startConsumer(state);
    } catch (err) {
      // The caller gets no subscription to cancel: nothing may restore this consumer later.
      state.cancelled = true;
      this.consumers.delete(state);
      await state.channel?.close().catch(() => undefined);
      throw err;
    }
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
    await this.ready();
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

  async deleteNamespace(namespace: string): Promise<number> {
    await this.ready();
    const queues = await this.index.queues(namespace);
    for (const queue of queues) {
      // Not userQueueBrokerName: a name listed under older rules is deleted all the same.
      const brokerQueue = `${this.opts.prefix}.userq.${namespace}.${queue}`;
      for (const q of [brokerQueue, deadQueueName(brokerQueue)]) {
        const ch = await this.requireModel().createChannel();
        ch.on('error', () => undefined); // the failing delete's promise reports it
        try {
          await ch.deleteQueue(q);
        } finally {
          await ch.close().catch(() => undefined);
        }
      }
      await this.index.forget(namespace, queue);
    }
    return queues.length;
  }

  // -------------------------------------------------------------------------

  /** On each new connection: re-open every consumer (one that fails is retried on its own). */
  private async restore(model: ChannelModel): Promise<void> {
    this.model = model;
    this.confirm = undefined;
    for (const c of this.consumers) {
      c.channel = undefined;
      await this.startConsumer(c).catch((err: unknown) => this.retryConsumer(c, err));
    }
  }

  private onLost(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = undefined;
    this.confirm = undefined;
    for (const c of this.consumers) c.channel = undefined;
  }

  /**
   * Wait for the first connect only: while reconnecting, callers fail fast
   * (ServiceUnavailableError, answered 503) instead of queueing behind an outage.
   */
  private async ready(): Promise<void> {
    if (this.conn.status === 'connecting') await this.conn.waitUntilReady();
    this.requireModel();
  }

  private requireModel(): ChannelModel {
    if (!this.model) throw this.conn.unavailable('not connected');
    return this.model;
  }

  /**
   * Declare the queue only if it is missing (re-declaring with other
   * arguments would fail), listing its `owner` in the namespace's index
   * first: a queue Brisk makes is always one a namespace delete finds.
   */
  private async ensureQueue(queue: string, owner: QueueOwner | undefined): Promise<void> {
    const model = this.requireModel();
    const probe = await model.createChannel();
    probe.on('error', () => undefined); // 404 closes the probe channel; that is the answer
    let exists = true;
    try {
      await probe.checkQueue(queue);
    } catch {
      exists = false; // declared below on a fresh channel
    }
    if (exists) {
      await probe.close().catch(() => undefined);
      if (owner) await this.index.note(owner.namespace, owner.queue);
      return;
    }
    if (owner) await this.index.note(owner.namespace, owner.queue, true);
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
    await this.ensureQueue(state.queue, state.owner);
    const ch = await this.requireModel().createChannel();
    state.channel = ch;
    ch.on('error', (err: Error) => this.log.warn({ err: err.message, queue: state.queue }, 'user-queue consumer channel error'));
    ch.on('close', () => {
      // Closed by the broker while the connection lives (queue deleted, bad ack): open it again.
      if (state.channel === ch && !state.cancelled && this.conn.status === 'ready') {
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
    this.log.warn({ err: errMessage(err), queue: state.queue }, 'user-queue consumer restarting');
    const t = setTimeout(() => {
      if (state.cancelled || this.conn.status !== 'ready' || state.channel) return;
      this.startConsumer(state).catch((e: unknown) => this.retryConsumer(state, e));
    }, CONSUMER_RETRY_MS);
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
