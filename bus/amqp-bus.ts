import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { pino } from 'pino';
import { NotFoundError, PlatformError, ServiceUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { errMessage, sleep, withTimeout } from '../core/util.js';
import { AmqpConnection, type AmqpConnect } from './amqp-connection.js';
import { DeliveryPolicy, type DeliveryVerdict, type FailedDelivery } from './delivery-policy.js';
import { MessageSigner, SIGNATURE_HEADER } from './message-signer.js';
import { Topology } from './topology.js';
import {
  DEAD_LETTER_HEADERS,
  MAX_SEND_DELAY_MS,
  type Bus,
  type ConnectionStatus,
  type ConsumeOptions,
  type DeadReason,
  type MessageHandler,
  type QueueOptions,
  type SendOptions,
  type Subscription,
} from './types.js';

export interface AmqpBusOptions {
  /** amqp://user:pass@host:port/vhost */
  url: string;
  /** Topology prefix: names the dead-letter exchange and queue. */
  prefix: string;
  /**
   * BRISK_BUS_KEY: every message sent or published is signed with it, and
   * every message consumed must carry a valid signature (see
   * {@link MessageSigner}); one without is dead-lettered, never handled.
   */
  signingKey: string;
  logger?: Logger;
  connect?: AmqpConnect;
  /** Backoff between reconnect attempts after a lost connection. */
  reconnect?: { initialMs: number; maxMs: number };
  /** Bound on the first connect (TCP + AMQP handshake). Default 5000. */
  connectTimeoutMs?: number;
  /** Bound on waiting for a publisher confirm. Default 10000. */
  confirmTimeoutMs?: number;
  /** Bound on waiting for in-flight handlers in close()/cancel(). Default 10000. */
  drainTimeoutMs?: number;
  /** AMQP heartbeat, seconds, unless the URL sets one. Default 10 (detects a dead peer in ~20 s). */
  heartbeatS?: number;
}

/** Header carrying how many deliveries of this message failed before (our counter, see consume). */
const DELIVERIES_HEADER = 'x-brisk-deliveries';
/** Transient queues vanish after this long without consumers (a gateway gone for good). */
const TRANSIENT_QUEUE_EXPIRES_MS = 60_000;
/** Error texts in dead-letter headers are cut to keep the header table small (64 KiB frame limit). */
const MAX_ERROR_HEADER_CHARS = 1000;

type HeaderValue = string | number | boolean;

interface ConsumerState {
  queue: string;
  handler: MessageHandler;
  opts: ConsumeOptions;
  channel: Channel | undefined;
  consumerTag: string | undefined;
  cancelled: boolean;
  inFlight: Set<Promise<void>>;
}

interface SubscriberState {
  topic: string;
  handler: (body: unknown) => void | Promise<void>;
  channel: Channel | undefined;
  consumerTag: string | undefined;
  cancelled: boolean;
  inFlight: Set<Promise<void>>;
}

/** One connection's worth of state; replaced wholesale on reconnect. */
interface Session {
  model: ChannelModel;
  confirm: Promise<ConfirmChannel> | undefined;
  plain: Promise<Channel> | undefined;
  /** Rejecters of sends waiting for a confirm on this connection. */
  pending: Set<(err: Error) => void>;
}

/**
 * {@link Bus} on RabbitMQ (amqplib).
 *
 * One connection per process ({@link AmqpConnection}: status, reconnect with
 * backoff); after a reconnect every queue, exchange, consumer and
 * subscription this object declared is declared again, each exactly once.
 *
 * Delivery semantics (see `bus/types.ts`): a message is acked after its
 * handler resolves. What is not handled is settled as {@link DeliveryPolicy}
 * decides, by the consumer itself rather than by broker-side dead-lettering,
 * so that the dead-letter copy carries {@link DEAD_LETTER_HEADERS} and so
 * that the delivery count survives: a redelivery republishes the message with
 * `x-brisk-deliveries` set and acks the original.
 */
export class AmqpBus implements Bus {
  private session: Session | undefined;
  private readonly conn: AmqpConnection;

  private readonly topology: Topology;
  private readonly policy: DeliveryPolicy;
  private readonly signer: MessageSigner;
  private readonly log: Logger;
  private readonly confirmTimeoutMs: number;
  private readonly drainTimeoutMs: number;

  /** Queues declared through this object, re-declared after a reconnect. */
  private readonly queues = new Map<string, QueueOptions>();
  /** Topic exchanges declared through this object. */
  private readonly exchanges = new Set<string>();
  private readonly consumers = new Set<ConsumerState>();
  private readonly subscribers = new Set<SubscriberState>();
  /** Delay steps declared (see {@link delayVia}): step ms → the connection (session) that declared it. */
  private readonly delaySteps = new Map<number, Session>();

  constructor(opts: AmqpBusOptions) {
    this.topology = new Topology(opts.prefix);
    this.policy = new DeliveryPolicy(this.topology.deadLetterQueue);
    this.signer = new MessageSigner(opts.signingKey);
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 10_000;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
    this.conn = new AmqpConnection({
      url: opts.url,
      name: 'bus',
      logger: this.log,
      ...(opts.connect ? { connect: opts.connect } : {}),
      ...(opts.reconnect ? { reconnect: opts.reconnect } : {}),
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.heartbeatS !== undefined ? { heartbeatS: opts.heartbeatS } : {}),
      setup: (model) => this.restore(model),
      onLost: (model, err) => this.onConnectionLost(model, err),
      drain: () => this.drain(),
    });
  }

  get status(): ConnectionStatus {
    return this.conn.status;
  }

  waitUntilReady(): Promise<void> {
    return this.conn.waitUntilReady();
  }

  /** Idempotent. Consumers finish their in-flight messages first. */
  close(): Promise<void> {
    return this.conn.close();
  }

  // -------------------------------------------------------------------------
  // queues

  async assertQueue(queue: string, opts: QueueOptions): Promise<void> {
    await this.readySession();
    await this.withChannel((ch) => this.declareQueue(ch, queue, opts));
    this.queues.set(queue, opts);
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.readySession();
    this.queues.delete(queue);
    await this.withChannel(async (ch) => void (await ch.deleteQueue(queue)));
  }

  async queueDepth(queue: string): Promise<number> {
    await this.readySession();
    try {
      return await this.withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
    } catch (err) {
      if (amqpCode(err) === 404) throw new NotFoundError('queue', queue);
      throw err;
    }
  }

  async queueConsumers(queue: string): Promise<number> {
    await this.readySession();
    try {
      return await this.withChannel(async (ch) => (await ch.checkQueue(queue)).consumerCount);
    } catch (err) {
      if (amqpCode(err) === 404) throw new NotFoundError('queue', queue);
      // RESOURCE_LOCKED: exclusive to another connection, which is alive (the queue would be gone with it).
      if (amqpCode(err) === 405) return 1;
      throw err;
    }
  }

  async send(queue: string, body: unknown, opts: SendOptions = {}): Promise<void> {
    const session = this.requireReady();
    const content = encode(body);
    const delayed = opts.delayMs !== undefined && opts.delayMs > 0;
    const props: Options.Publish = {
      contentType: 'application/json',
      persistent: opts.transient === true ? false : (this.queues.get(queue)?.durable ?? true),
      // Signed for `queue` even when delayed: that is where it is consumed (and verified).
      headers: { ...opts.headers, [SIGNATURE_HEADER]: this.signer.sign('', queue, content) },
    };
    // A message TTL would take it out of its delay queue early (RabbitMQ drops it on dead-lettering anyway).
    if (opts.expirationMs !== undefined && !delayed) props.expiration = String(Math.max(0, Math.round(opts.expirationMs)));
    const exchange = delayed ? await this.delayVia(session, opts.delayMs ?? 0) : '';
    if (opts.confirm === false) {
      const ch = await this.plainChannel(session);
      try {
        ch.publish(exchange, queue, content, props);
      } catch (err) {
        throw unavailable('send failed', err);
      }
      return;
    }
    await this.confirmedPublish(session, exchange, queue, content, props);
  }

  async consume<T>(queue: string, handler: MessageHandler<T>, opts: ConsumeOptions): Promise<Subscription> {
    const session = await this.readySession();
    const c: ConsumerState = {
      queue,
      handler: handler as MessageHandler,
      opts,
      channel: undefined,
      consumerTag: undefined,
      cancelled: false,
      inFlight: new Set(),
    };
    await this.startConsumer(session, c);
    this.consumers.add(c);
    return { cancel: () => this.cancelConsumer(c) };
  }

  // -------------------------------------------------------------------------
  // topics

  async publish(topic: string, body: unknown): Promise<void> {
    const session = this.requireReady();
    if (!this.exchanges.has(topic)) {
      await this.withChannel((ch) => declareTopic(ch, topic));
      this.exchanges.add(topic);
    }
    const ch = await this.plainChannel(session);
    const content = encode(body);
    try {
      ch.publish(topic, '', content, { contentType: 'application/json', headers: { [SIGNATURE_HEADER]: this.signer.sign(topic, '', content) } });
    } catch (err) {
      throw unavailable('publish failed', err);
    }
  }

  async subscribe<T>(topic: string, handler: (body: T) => void | Promise<void>): Promise<Subscription> {
    const session = await this.readySession();
    const s: SubscriberState = {
      topic,
      handler: handler as (body: unknown) => void | Promise<void>,
      channel: undefined,
      consumerTag: undefined,
      cancelled: false,
      inFlight: new Set(),
    };
    await this.startSubscriber(session, s);
    this.exchanges.add(topic);
    this.subscribers.add(s);
    return { cancel: () => this.cancelSubscriber(s) };
  }

  // -------------------------------------------------------------------------
  // connection

  /** On each new connection: declare the topology and restore every consumer. Throws on any failure. */
  private async restore(model: ChannelModel): Promise<void> {
    const session: Session = { model, confirm: undefined, plain: undefined, pending: new Set() };
    this.session = session;
    await this.withChannel(async (ch) => {
      await ch.assertExchange(this.deadLetterExchange, 'fanout', { durable: true });
      await ch.assertQueue(this.topology.deadLetterQueue, { durable: true });
      await ch.bindQueue(this.topology.deadLetterQueue, this.deadLetterExchange, '');
      for (const [queue, opts] of this.queues) await this.declareQueue(ch, queue, opts);
      for (const topic of this.exchanges) await declareTopic(ch, topic);
    }, session);
    for (const c of this.consumers) {
      if (c.cancelled) continue;
      try {
        await this.startConsumer(session, c);
      } catch (err) {
        // A queue someone else deleted while we were away: drop that consumer
        // rather than failing every reconnect attempt from now on.
        if (!(err instanceof NotFoundError)) throw err;
        this.log.error({ queue: c.queue }, 'queue gone after reconnect; its consumer is dropped');
        c.cancelled = true;
        this.consumers.delete(c);
      }
    }
    for (const s of this.subscribers) if (!s.cancelled) await this.startSubscriber(session, s);
  }

  private onConnectionLost(model: ChannelModel, err: Error | undefined): void {
    const session = this.session;
    if (session?.model !== model) return;
    for (const reject of session.pending) reject(unavailable('connection lost before the broker confirmed', err));
    session.pending.clear();
    this.session = undefined;
    for (const c of this.consumers) c.channel = undefined;
    for (const s of this.subscribers) s.channel = undefined;
  }

  /** Closing: cancel every consumer and subscriber; in-flight handlers finish and ack first. */
  private async drain(): Promise<void> {
    const cancels = [...this.consumers].map((c) => this.cancelConsumer(c));
    const unsubs = [...this.subscribers].map((s) => this.cancelSubscriber(s));
    await Promise.allSettled([...cancels, ...unsubs]);
  }

  /** The live session; for operations that may wait for the first connect. */
  private async readySession(): Promise<Session> {
    if (this.conn.status === 'connecting') await this.conn.waitUntilReady();
    return this.requireReady();
  }

  /** The live session, or a fast ServiceUnavailableError: callers never queue behind an outage. */
  private requireReady(): Session {
    const state = this.conn.status;
    if (state !== 'ready' || !this.session) {
      throw unavailable(state === 'closed' || state === 'closing' ? 'bus is closed' : `not connected (${state})`);
    }
    return this.session;
  }

  // -------------------------------------------------------------------------
  // channels

  /**
   * A short-lived channel for declarations and queries: a failed passive
   * check or a mismatched declaration closes the channel, which must not take
   * the publishing channel down with it.
   */
  private async withChannel<R>(fn: (ch: Channel) => Promise<R>, session = this.requireReady()): Promise<R> {
    let ch: Channel;
    try {
      ch = await session.model.createChannel();
    } catch (err) {
      throw unavailable('cannot open a channel', err);
    }
    ch.on('error', () => undefined); // the failing operation's promise reports it
    try {
      return await fn(ch);
    } catch (err) {
      if (amqpCode(err) !== undefined) throw err;
      throw unavailable('operation failed', err);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private confirmChannel(session: Session): Promise<ConfirmChannel> {
    if (!session.confirm) {
      const p = session.model.createConfirmChannel().then((ch) => {
        ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'amqp confirm channel error'));
        ch.on('close', () => {
          if (session.confirm === p) session.confirm = undefined;
        });
        return ch;
      });
      p.catch(() => {
        if (session.confirm === p) session.confirm = undefined;
      });
      session.confirm = p;
    }
    return session.confirm.catch((err: unknown) => {
      throw unavailable('cannot open a confirm channel', err);
    });
  }

  private plainChannel(session: Session): Promise<Channel> {
    if (!session.plain) {
      const p = session.model.createChannel().then((ch) => {
        ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'amqp publish channel error'));
        ch.on('close', () => {
          if (session.plain === p) session.plain = undefined;
        });
        return ch;
      });
      p.catch(() => {
        if (session.plain === p) session.plain = undefined;
      });
      session.plain = p;
    }
    return session.plain.catch((err: unknown) => {
      throw unavailable('cannot open a channel', err);
    });
  }

  /** Publish and wait for the broker's confirm, bounded, failing fast when the connection drops. */
  private async confirmedPublish(
    session: Session,
    exchange: string,
    routingKey: string,
    content: Buffer,
    props: Options.Publish,
  ): Promise<void> {
    const ch = await this.confirmChannel(session);
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.pending.delete(fail);
        if (err) reject(err);
        else resolve();
      };
      const fail = (err: Error): void => settle(err);
      const timer = setTimeout(() => settle(unavailable(`no publisher confirm within ${this.confirmTimeoutMs} ms`)), this.confirmTimeoutMs);
      session.pending.add(fail);
      try {
        ch.publish(exchange, routingKey, content, props, (err: unknown) => {
          if (err === null || err === undefined) return settle();
          settle(
            err instanceof Error
              ? unavailable('publish not confirmed', err)
              : new PlatformError('PUBLISH_NACKED', 'the broker refused the message', { retryable: true }),
          );
        });
      } catch (err) {
        settle(unavailable('publish failed', err));
      }
    });
  }

  // -------------------------------------------------------------------------
  // declarations

  private get deadLetterExchange(): string {
    return `${this.topology.deadLetterQueue}-x`;
  }

  /**
   * The exchange a message delayed by `delayMs` is published to, with the
   * queue it is meant for as routing key. The delay is rounded up to a step
   * of {@link delayStep}'s ladder; each step has a fanout exchange and a
   * durable queue of that name (`Topology.delayQueue`) whose messages expire
   * after the step (`x-message-ttl`) and are dead-lettered to the default
   * exchange with their own routing key: onto the queue they were sent to,
   * body and headers (with the signature made for that queue) unchanged.
   * Declared on first use on each connection (idempotent; a few round trips
   * per step per connection), never on the hot path of an undelayed send.
   */
  private async delayVia(session: Session, delayMs: number): Promise<string> {
    const step = delayStep(delayMs);
    const name = this.topology.delayQueue(step);
    if (this.delaySteps.get(step) !== session) {
      await this.withChannel(async (ch) => {
        await ch.assertExchange(name, 'fanout', { durable: true });
        await ch.assertQueue(name, { durable: true, arguments: { 'x-message-ttl': step, 'x-dead-letter-exchange': '' } });
        await ch.bindQueue(name, name, '');
      }, session);
      this.delaySteps.set(step, session);
    }
    return name;
  }

  private async declareQueue(ch: Channel, queue: string, opts: QueueOptions): Promise<void> {
    if (queue === this.topology.deadLetterQueue) {
      await ch.assertQueue(queue, { durable: true });
    } else if (opts.durable) {
      await ch.assertQueue(queue, { durable: true, deadLetterExchange: this.deadLetterExchange });
    } else if (opts.exclusive === true) {
      // Gone with this connection, messages and all (see QueueOptions.exclusive).
      await ch.assertQueue(queue, { durable: false, exclusive: true });
    } else {
      // Non-durable, removed after a minute without consumers: survives a short
      // reconnect (replies in flight are kept) but not a gateway gone for good.
      // No dead-letter exchange: an expired reply is simply dropped.
      await ch.assertQueue(queue, { durable: false, expires: TRANSIENT_QUEUE_EXPIRES_MS });
    }
  }

  // -------------------------------------------------------------------------
  // consumers

  private async startConsumer(session: Session, c: ConsumerState): Promise<void> {
    let ch: Channel;
    try {
      ch = await session.model.createChannel();
    } catch (err) {
      throw unavailable('cannot open a consumer channel', err);
    }
    ch.on('error', (err: Error) => this.log.warn({ err: err.message, queue: c.queue }, 'amqp consumer channel error'));
    ch.on('close', () => this.onConsumerChannelClosed(session, c, ch));
    try {
      await ch.prefetch(c.opts.prefetch);
      const noAck = c.opts.autoAck === true;
      const { consumerTag } = await ch.consume(c.queue, (msg) => {
        if (msg === null) {
          // The broker cancelled us: the queue was deleted.
          this.log.warn({ queue: c.queue }, 'consumer cancelled by the broker');
          c.cancelled = true;
          this.consumers.delete(c);
          void ch.close().catch(() => undefined);
          return;
        }
        const p = (noAck ? this.onAutoAckedMessage(c, msg) : this.onMessage(session, c, ch, msg)).catch((err: unknown) =>
          this.log.error({ err: errMessage(err), queue: c.queue }, 'consumer failed to settle a message'),
        );
        c.inFlight.add(p);
        void p.finally(() => c.inFlight.delete(p));
      }, { noAck });
      c.channel = ch;
      c.consumerTag = consumerTag;
    } catch (err) {
      await ch.close().catch(() => undefined);
      if (amqpCode(err) === 404) throw new NotFoundError('queue', c.queue);
      throw unavailable('cannot start consumer', err);
    }
  }

  /**
   * A consumer channel closed while the connection lives on (a channel-level
   * error): start the consumer again on a new channel. Lost connections are
   * handled by the reconnect, which restores every consumer itself.
   */
  private onConsumerChannelClosed(session: Session, c: ConsumerState, ch: Channel): void {
    if (c.channel !== ch) return;
    c.channel = undefined;
    if (c.cancelled || this.session !== session || this.conn.status !== 'ready') return;
    setTimeout(() => {
      if (c.cancelled || c.channel || this.session !== session || this.conn.status !== 'ready') return;
      this.startConsumer(session, c).catch((err: unknown) =>
        this.log.error({ err: errMessage(err), queue: c.queue }, 'could not restore consumer'),
      );
    }, this.conn.retryAfterMs);
  }

  private async cancelConsumer(c: ConsumerState): Promise<void> {
    if (c.cancelled && c.inFlight.size === 0 && !c.channel) return;
    c.cancelled = true;
    this.consumers.delete(c);
    const ch = c.channel;
    if (ch && c.consumerTag) await ch.cancel(c.consumerTag).catch(() => undefined);
    // In-flight handlers finish and ack on the still-open channel.
    await withTimeout(Promise.allSettled([...c.inFlight]), this.drainTimeoutMs, 'drain').catch(() =>
      this.log.warn({ queue: c.queue, inFlight: c.inFlight.size }, 'handlers still running at cancel; their messages will be redelivered'),
    );
    c.channel = undefined;
    if (ch) await ch.close().catch(() => undefined);
  }

  private async onMessage(session: Session, c: ConsumerState, ch: Channel, msg: ConsumeMessage): Promise<void> {
    const rawHeaders = (msg.properties.headers ?? {}) as Record<string, unknown>;
    if (!this.signedFor(c.queue, msg.content, rawHeaders)) return await this.settle(session, c, ch, msg, this.policy.unauthenticated(c));
    const prior = deliveriesOf(rawHeaders[DELIVERIES_HEADER]);
    const headers = cleanHeaders(rawHeaders);

    if (msg.fields.redelivered) {
      // The broker gave this message back after a consumer vanished mid-way
      // (crash, lost channel). Count that attempt durably by republishing, so a
      // message that kills its consumer cannot loop forever.
      const verdict = this.policy.failed(this.failure(c, prior), new Error('redelivered by the broker after a lost consumer'));
      return await this.settle(session, c, ch, msg, verdict);
    }

    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
      if (c.opts.parse) body = c.opts.parse(body);
    } catch (err) {
      return await this.settle(session, c, ch, msg, this.policy.malformed({ queue: c.queue, autoAck: false }, err));
    }

    try {
      await c.handler(body, { redeliveries: prior, headers });
    } catch (err) {
      return await this.settle(session, c, ch, msg, this.policy.failed(this.failure(c, prior), err));
    }
    safeAck(ch, msg);
  }

  /** A message the broker counted as delivered already (`autoAck`): handle it; a failure only logs. */
  private async onAutoAckedMessage(c: ConsumerState, msg: ConsumeMessage): Promise<void> {
    const rawHeaders = (msg.properties.headers ?? {}) as Record<string, unknown>;
    if (!this.signedFor(c.queue, msg.content, rawHeaders)) return await this.settleSettled(c.queue, msg, this.policy.unauthenticated(c));
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
      if (c.opts.parse) body = c.opts.parse(body);
    } catch (err) {
      return await this.settleSettled(c.queue, msg, this.policy.malformed({ queue: c.queue, autoAck: true }, err));
    }
    try {
      await c.handler(body, { redeliveries: 0, headers: cleanHeaders(rawHeaders) });
    } catch (err) {
      await this.settleSettled(c.queue, msg, this.policy.failed({ queue: c.queue, autoAck: true, redeliveries: 0, deliveryLimit: undefined }, err));
    }
  }

  private failure(c: ConsumerState, redeliveries: number): FailedDelivery {
    return { queue: c.queue, autoAck: false, redeliveries, deliveryLimit: this.queues.get(c.queue)?.deliveryLimit };
  }

  /** Carry out the policy's verdict on an unacked message that was not handled. */
  private async settle(session: Session, c: ConsumerState, ch: Channel, msg: ConsumeMessage, v: DeliveryVerdict): Promise<void> {
    if (v.action === 'drop') {
      this.log.error({ queue: c.queue, err: v.error }, v.why);
      safeAck(ch, msg);
      return;
    }
    if (v.action === 'dead-letter') {
      this.log.warn({ queue: c.queue, reason: v.reason, err: v.error }, 'message dead-lettered');
      return await this.forward(session, ch, msg, this.topology.deadLetterQueue, deadLetterProps(msg, c.queue, v.reason, v.error));
    }
    if (v.delayMs > 0) await sleep(v.delayMs);
    await this.forward(session, ch, msg, c.queue, republishProps(msg, { [DELIVERIES_HEADER]: v.redeliveries }));
  }

  /**
   * Carry out the policy's verdict on a message that was settled on delivery
   * (`autoAck` queues, topics): it is gone either way, so it is dropped
   * (logged), or a copy goes to the dead-letter queue for the operators,
   * best effort.
   */
  private async settleSettled(source: string, msg: ConsumeMessage, v: DeliveryVerdict): Promise<void> {
    if (v.action !== 'dead-letter') {
      this.log.warn({ source, err: v.action === 'drop' ? v.error : undefined }, v.action === 'drop' ? v.why : 'message dropped');
      return;
    }
    this.log.warn({ source, reason: v.reason, err: v.error }, 'message dead-lettered');
    const session = this.session;
    if (!session) return;
    await this.confirmedPublish(session, '', this.topology.deadLetterQueue, msg.content, deadLetterProps(msg, source, v.reason, v.error)).catch(
      (e: unknown) => this.log.warn({ source, err: errMessage(e) }, 'could not dead-letter a message; dropped'),
    );
  }

  /**
   * Whether a message consumed from `queue` was signed, by a holder of the bus
   * key, for that queue. A dead letter keeps the signature of the queue it was
   * first sent to, which its {@link DEAD_LETTER_HEADERS.originalQueue} names.
   */
  private signedFor(queue: string, content: Buffer, headers: Record<string, unknown>): boolean {
    const original = queue === this.topology.deadLetterQueue ? headerText(headers[DEAD_LETTER_HEADERS.originalQueue]) : undefined;
    return this.signer.verify('', original ?? queue, content, headers[SIGNATURE_HEADER]);
  }

  /**
   * Publish a copy (confirmed), then ack the original. If the copy cannot be
   * stored, the original is requeued instead: at-least-once, never lost.
   */
  private async forward(session: Session, ch: Channel, msg: ConsumeMessage, queue: string, props: Options.Publish): Promise<void> {
    try {
      // The session the message arrived on may be gone; the current one will do.
      const live = this.session ?? session;
      await this.confirmedPublish(live, '', queue, msg.content, props);
    } catch (err) {
      this.log.warn({ queue, err: errMessage(err) }, 'could not republish a message; requeueing it');
      safeNack(ch, msg);
      return;
    }
    safeAck(ch, msg);
  }

  // -------------------------------------------------------------------------
  // subscribers

  private async startSubscriber(session: Session, s: SubscriberState): Promise<void> {
    let ch: Channel;
    try {
      ch = await session.model.createChannel();
    } catch (err) {
      throw unavailable('cannot open a subscriber channel', err);
    }
    ch.on('error', (err: Error) => this.log.warn({ err: err.message, topic: s.topic }, 'amqp subscriber channel error'));
    try {
      await declareTopic(ch, s.topic);
      const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      await ch.bindQueue(queue, s.topic, '');
      const { consumerTag } = await ch.consume(
        queue,
        (msg) => {
          if (msg === null) return;
          const p = this.onTopicMessage(s, msg);
          s.inFlight.add(p);
          void p.finally(() => s.inFlight.delete(p));
        },
        { noAck: true },
      );
      s.channel = ch;
      s.consumerTag = consumerTag;
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw unavailable('cannot subscribe', err);
    }
  }

  private async onTopicMessage(s: SubscriberState, msg: ConsumeMessage): Promise<void> {
    if (s.cancelled) return;
    const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
    if (!this.signer.verify(s.topic, '', msg.content, headers[SIGNATURE_HEADER])) return await this.settleSettled(s.topic, msg, this.policy.unauthenticated({ queue: s.topic }));
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
    } catch (err) {
      return await this.settleSettled(s.topic, msg, this.policy.malformed({ queue: s.topic, autoAck: true }, err));
    }
    try {
      await s.handler(body);
    } catch (err) {
      await this.settleSettled(s.topic, msg, this.policy.failed({ queue: s.topic, autoAck: true, redeliveries: 0, deliveryLimit: undefined }, err));
    }
  }

  private async cancelSubscriber(s: SubscriberState): Promise<void> {
    if (s.cancelled && !s.channel) return;
    s.cancelled = true;
    this.subscribers.delete(s);
    const ch = s.channel;
    s.channel = undefined;
    if (ch && s.consumerTag) await ch.cancel(s.consumerTag).catch(() => undefined);
    await withTimeout(Promise.allSettled([...s.inFlight]), this.drainTimeoutMs, 'drain').catch(() => undefined);
    if (ch) await ch.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------
// helpers

async function declareTopic(ch: Channel, topic: string): Promise<void> {
  await ch.assertExchange(topic, 'fanout', { durable: true });
}

/** Shortest delay step; a shorter delay waits this long. */
const MIN_DELAY_STEP_MS = 250;

/**
 * The delay step a delay is rounded up to: 250 ms × 2^k or × 1.5 × 2^k
 * (250, 375, 500, 750, 1000, 1500, 2000, 3000 …). A message never arrives
 * earlier than asked and at most half as late again, and all delays up to
 * {@link MAX_SEND_DELAY_MS} fit in about forty steps, so the delay queues a
 * broker holds stay few whatever the callers ask for.
 */
export function delayStep(delayMs: number): number {
  const want = Math.min(delayMs, MAX_SEND_DELAY_MS);
  for (let step = MIN_DELAY_STEP_MS; ; step *= 2) {
    if (step >= want) return step;
    if (step * 1.5 >= want) return step * 1.5;
  }
}

function encode(body: unknown): Buffer {
  // `undefined` has no JSON form; it travels as null.
  return Buffer.from(JSON.stringify(body ?? null), 'utf8');
}

function deliveriesOf(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : typeof v === 'bigint' ? Number(v) : 0;
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** Sender headers as plain scalars, without our internal delivery counter and the signature. */
function cleanHeaders(raw: Record<string, unknown>): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === DELIVERIES_HEADER || k === SIGNATURE_HEADER) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'bigint') out[k] = Number(v);
    else if (Buffer.isBuffer(v)) out[k] = v.toString('utf8');
  }
  return out;
}

/** A text header as sent (amqplib hands some back as bytes). */
function headerText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

/** Properties of the dead-letter copy of `msg`, which was consumed from `source`. */
function deadLetterProps(msg: ConsumeMessage, source: string, reason: DeadReason, error: string): Options.Publish {
  const props = republishProps(msg, {
    [DEAD_LETTER_HEADERS.originalQueue]: source,
    [DEAD_LETTER_HEADERS.reason]: reason,
    [DEAD_LETTER_HEADERS.error]: error.slice(0, MAX_ERROR_HEADER_CHARS),
  });
  props.persistent = true;
  delete props.expiration;
  return props;
}

/** Properties for a copy of `msg`, with extra headers merged in. */
function republishProps(msg: ConsumeMessage, extra: Record<string, HeaderValue>): Options.Publish {
  const p = msg.properties;
  const props: Options.Publish = {
    contentType: p.contentType ?? 'application/json',
    persistent: p.deliveryMode === 2,
    headers: { ...((p.headers ?? {}) as Record<string, unknown>), ...extra },
  };
  if (p.expiration !== undefined && p.expiration !== null) props.expiration = String(p.expiration);
  if (p.messageId !== undefined && p.messageId !== null) props.messageId = String(p.messageId);
  if (p.correlationId !== undefined && p.correlationId !== null) props.correlationId = String(p.correlationId);
  if (p.replyTo !== undefined && p.replyTo !== null) props.replyTo = String(p.replyTo);
  return props;
}

/** Ack on a channel that died is a no-op: the broker redelivers the message. */
function safeAck(ch: Channel, msg: ConsumeMessage): void {
  try {
    ch.ack(msg);
  } catch {
    /* channel closed: the broker will redeliver */
  }
}

function safeNack(ch: Channel, msg: ConsumeMessage): void {
  try {
    ch.nack(msg, false, true);
  } catch {
    /* channel closed: the broker will redeliver */
  }
}

/** The AMQP reply code of a channel/connection error (404, 406 …), if any. */
function amqpCode(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

function unavailable(message: string, cause?: unknown): ServiceUnavailableError {
  const detail = cause === undefined ? message : `${message}: ${errMessage(cause)}`;
  return new ServiceUnavailableError('rabbitmq', detail, cause);
}
