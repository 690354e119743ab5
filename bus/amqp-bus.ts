import { connect as amqpConnect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { pino } from 'pino';
import { BriskError, isOutage, NotFoundError, PlatformError, ServiceUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { MessageSigner, SIGNATURE_HEADER } from './message-signer.js';
import { Topology } from './topology.js';
import {
  DEAD_LETTER_HEADERS,
  MAX_SEND_DELAY_MS,
  OUTAGE_RETRY_MS,
  type Bus,
  type ConnectionStatus,
  type ConsumeOptions,
  type MessageHandler,
  type QueueOptions,
  type SendOptions,
  type Subscription,
} from './types.js';

/** Socket options Brisk passes to amqplib's `connect`. */
export interface AmqpSocketOptions {
  /** Disable Nagle: without it a send → consume round trip costs ~40 ms of delayed-ACK wait. */
  noDelay: boolean;
  /** TCP connect timeout, ms. */
  timeout: number;
}

/** amqplib's promise `connect`, injectable so tests can hand in a failing or fake one. */
export type AmqpConnect = (url: string, socketOptions: AmqpSocketOptions) => Promise<ChannelModel>;

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
const DEFAULT_DELIVERY_LIMIT = 5;
/** Transient queues vanish after this long without consumers (a gateway gone for good). */
const TRANSIENT_QUEUE_EXPIRES_MS = 60_000;
/** Error texts in dead-letter headers are cut to keep the header table small (64 KiB frame limit). */
const MAX_ERROR_HEADER_CHARS = 1000;
/** Why a message without a valid signature was never handled (the dead letter's `x-brisk-dead-error`). */
const UNSIGNED_ERROR = 'the message has no valid signature for this queue: it was not sent by a holder of the bus key';

/** `x-brisk-dead-reason` values (see {@link DEAD_LETTER_HEADERS}). */
type DeadReason = 'malformed' | 'rejected' | 'delivery-limit' | 'unauthenticated';

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
  generation: number;
  confirm: Promise<ConfirmChannel> | undefined;
  plain: Promise<Channel> | undefined;
  /** Rejecters of sends waiting for a confirm on this connection. */
  pending: Set<(err: Error) => void>;
}

/**
 * {@link Bus} on RabbitMQ (amqplib).
 *
 * One connection per process, with a small state machine:
 * `connecting → ready → reconnecting → ready … → closing → closed`.
 * The first connect failing rejects {@link waitUntilReady} (the process should
 * exit with a clear message); a connection lost later is re-established with
 * exponential backoff, after which every queue, exchange, consumer and
 * subscription this object declared is declared again, each exactly once.
 *
 * Delivery semantics (see `bus/types.ts`): a message is acked after its
 * handler resolves. Failures are handled by the consumer itself rather than by
 * broker-side dead-lettering, so that the dead-letter copy carries
 * {@link DEAD_LETTER_HEADERS} and so that the delivery count survives: a
 * retryable failure republishes the message with `x-brisk-deliveries`
 * incremented and acks the original.
 */
export class AmqpBus implements Bus {
  private state: ConnectionStatus = 'connecting';
  private session: Session | undefined;
  private generation = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private closePromise: Promise<void> | undefined;
  private readonly firstConnect: Promise<void>;
  /** Waiters for the next `ready` (or `closed`) transition. */
  private readyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  private readonly topology: Topology;
  private readonly signer: MessageSigner;
  private readonly log: Logger;
  private readonly connectFn: AmqpConnect;
  private readonly url: string;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly connectTimeoutMs: number;
  private readonly confirmTimeoutMs: number;
  private readonly drainTimeoutMs: number;

  /** Queues declared through this object, re-declared after a reconnect. */
  private readonly queues = new Map<string, QueueOptions>();
  /** Topic exchanges declared through this object. */
  private readonly exchanges = new Set<string>();
  private readonly consumers = new Set<ConsumerState>();
  private readonly subscribers = new Set<SubscriberState>();
  /** Delay steps declared (see {@link delayVia}): step ms → the connection generation that declared it. */
  private readonly delaySteps = new Map<number, number>();

  constructor(opts: AmqpBusOptions) {
    this.topology = new Topology(opts.prefix);
    this.signer = new MessageSigner(opts.signingKey);
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.connectFn = opts.connect ?? ((url, socketOptions) => amqpConnect(url, socketOptions));
    this.url = withHeartbeat(opts.url, opts.heartbeatS ?? 10);
    this.backoff = opts.reconnect ?? { initialMs: 100, maxMs: 5000 };
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 10_000;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
    this.firstConnect = this.openSession().then(
      () => this.setState('ready'),
      (err: unknown) => {
        this.setState('closed');
        throw unavailable('cannot connect', err);
      },
    );
    // Observed through waitUntilReady(); never an unhandled rejection.
    this.firstConnect.catch(() => undefined);
  }

  get status(): ConnectionStatus {
    return this.state;
  }

  async waitUntilReady(): Promise<void> {
    if (this.state === 'connecting') return await this.firstConnect;
    if (this.state === 'ready') return;
    if (this.state === 'reconnecting') {
      return await new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    }
    throw unavailable('bus is closed');
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
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

  async send(queue: string, body: unknown, opts: SendOptions = {}): Promise<void> {
    const session = this.requireReady();
    const content = encode(body);
    const delayed = opts.delayMs !== undefined && opts.delayMs > 0;
    const props: Options.Publish = {
      contentType: 'application/json',
      persistent: this.queues.get(queue)?.durable ?? true,
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
  // connection state machine

  private setState(next: ConnectionStatus): void {
    if (this.state === next) return;
    this.log.debug({ from: this.state, to: next }, 'amqp bus state');
    this.state = next;
    if (next === 'ready' || next === 'closed' || next === 'closing') {
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) {
        if (next === 'ready') w.resolve();
        else w.reject(unavailable('bus is closed'));
      }
    }
  }

  /** Connect, declare the topology and restore every consumer. Throws on any failure. */
  private async openSession(): Promise<void> {
    const connecting = this.connectFn(this.url, { noDelay: true, timeout: this.connectTimeoutMs });
    let model: ChannelModel;
    try {
      model = await withTimeout(connecting, this.connectTimeoutMs, `connect timed out after ${this.connectTimeoutMs} ms`);
    } catch (err) {
      // A connection that completes after we gave up must not linger.
      connecting.then((late) => late.close(), () => undefined).catch(() => undefined);
      throw err;
    }
    coalesceFrames(model);
    const session: Session = { model, generation: ++this.generation, confirm: undefined, plain: undefined, pending: new Set() };
    model.on('error', (err: Error) => this.log.warn({ err: err.message }, 'amqp connection error'));
    model.on('close', (err?: Error) => this.onConnectionLost(session, err));
    model.on('blocked', (reason: string) => this.log.warn({ reason }, 'amqp connection blocked by the broker'));
    try {
      if (this.state === 'closing' || this.state === 'closed') throw new Error('closed while connecting');
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
    } catch (err) {
      if (this.session === session) this.session = undefined;
      await model.close().catch(() => undefined);
      throw err;
    }
  }

  private onConnectionLost(session: Session, err: Error | undefined): void {
    for (const reject of session.pending) reject(unavailable('connection lost before the broker confirmed', err));
    session.pending.clear();
    if (this.session !== session) return;
    this.session = undefined;
    for (const c of this.consumers) c.channel = undefined;
    for (const s of this.subscribers) s.channel = undefined;
    // During the first connect a loss fails waitUntilReady() instead of retrying.
    if (this.state === 'closing' || this.state === 'closed' || this.state === 'connecting') return;
    this.log.warn({ err: err?.message }, 'amqp connection lost; reconnecting');
    this.setState('reconnecting');
    this.reconnectAttempt = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state !== 'reconnecting' || this.reconnectTimer) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.reconnectAttempt);
    // ±20 % jitter so a fleet of processes does not reconnect in lock-step.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.tryReconnect();
    }, delay);
  }

  private async tryReconnect(): Promise<void> {
    if (this.state !== 'reconnecting') return;
    try {
      await this.openSession();
      if (this.state !== 'reconnecting') return; // closed meanwhile; doClose tears the session down
      this.log.info({ attempts: this.reconnectAttempt }, 'amqp connection restored');
      this.setState('ready');
    } catch (err) {
      this.log.warn({ err: errMessage(err), attempt: this.reconnectAttempt }, 'amqp reconnect failed');
      this.scheduleReconnect();
    }
  }

  private async doClose(): Promise<void> {
    if (this.state === 'connecting') await this.firstConnect.catch(() => undefined);
    if (this.state === 'closed') return;
    this.setState('closing');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const cancels = [...this.consumers].map((c) => this.cancelConsumer(c));
    const unsubs = [...this.subscribers].map((s) => this.cancelSubscriber(s));
    await Promise.allSettled([...cancels, ...unsubs]);
    const session = this.session;
    this.session = undefined;
    if (session) await session.model.close().catch(() => undefined);
    this.setState('closed');
  }

  /** The live session; for operations that may wait for the first connect. */
  private async readySession(): Promise<Session> {
    if (this.state === 'connecting') await this.firstConnect;
    return this.requireReady();
  }

  /** The live session, or a fast ServiceUnavailableError: callers never queue behind an outage. */
  private requireReady(): Session {
    if (this.state !== 'ready' || !this.session) {
      throw unavailable(this.state === 'closed' || this.state === 'closing' ? 'bus is closed' : `not connected (${this.state})`);
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
    if (this.delaySteps.get(step) !== session.generation) {
      await this.withChannel(async (ch) => {
        await ch.assertExchange(name, 'fanout', { durable: true });
        await ch.assertQueue(name, { durable: true, arguments: { 'x-message-ttl': step, 'x-dead-letter-exchange': '' } });
        await ch.bindQueue(name, name, '');
      }, session);
      this.delaySteps.set(step, session.generation);
    }
    return name;
  }

  private async declareQueue(ch: Channel, queue: string, opts: QueueOptions): Promise<void> {
    if (queue === this.topology.deadLetterQueue) {
      await ch.assertQueue(queue, { durable: true });
    } else if (opts.durable) {
      await ch.assertQueue(queue, { durable: true, deadLetterExchange: this.deadLetterExchange });
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
    if (c.cancelled || this.session !== session || this.state !== 'ready') return;
    setTimeout(() => {
      if (c.cancelled || c.channel || this.session !== session || this.state !== 'ready') return;
      this.startConsumer(session, c).catch((err: unknown) =>
        this.log.error({ err: errMessage(err), queue: c.queue }, 'could not restore consumer'),
      );
    }, this.backoff.initialMs);
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
    if (!this.signedFor(c.queue, msg.content, rawHeaders)) {
      return await this.deadLetter(session, c, ch, msg, 'unauthenticated', new Error(UNSIGNED_ERROR));
    }
    const prior = deliveriesOf(rawHeaders[DELIVERIES_HEADER]);
    const headers = cleanHeaders(rawHeaders);

    if (msg.fields.redelivered) {
      // The broker gave this message back after a consumer vanished mid-way
      // (crash, lost channel). Count that attempt durably by republishing, so a
      // message that kills its consumer cannot loop forever.
      return await this.failDelivery(session, c, ch, msg, prior, new Error('redelivered by the broker after a lost consumer'));
    }

    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
      if (c.opts.parse) body = c.opts.parse(body);
    } catch (err) {
      return await this.deadLetter(session, c, ch, msg, 'malformed', err);
    }

    try {
      await c.handler(body, { redeliveries: prior, headers });
    } catch (err) {
      if (err instanceof BriskError && !err.retryable) return await this.deadLetter(session, c, ch, msg, 'rejected', err);
      return await this.failDelivery(session, c, ch, msg, prior, err);
    }
    safeAck(ch, msg);
  }

  /** A message the broker counted as delivered already (`autoAck`): handle it; a failure only logs. */
  private async onAutoAckedMessage(c: ConsumerState, msg: ConsumeMessage): Promise<void> {
    const rawHeaders = (msg.properties.headers ?? {}) as Record<string, unknown>;
    if (!this.signedFor(c.queue, msg.content, rawHeaders)) return await this.deadLetterCopy(c.queue, msg, new Error(UNSIGNED_ERROR));
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
      if (c.opts.parse) body = c.opts.parse(body);
    } catch (err) {
      this.log.warn({ queue: c.queue, err: errMessage(err) }, 'dropping a malformed message');
      return;
    }
    try {
      await c.handler(body, { redeliveries: 0, headers: cleanHeaders(rawHeaders) });
    } catch (err) {
      this.log.warn({ queue: c.queue, err: errMessage(err) }, 'handler failed; message dropped');
    }
  }

  /** A retryable failure: republish with the count incremented, or dead-letter at the limit. */
  private async failDelivery(
    session: Session,
    c: ConsumerState,
    ch: Channel,
    msg: ConsumeMessage,
    prior: number,
    err: unknown,
  ): Promise<void> {
    const limit = this.queues.get(c.queue)?.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT;
    if (isOutage(err)) {
      // A dependency is down: hold the message a moment, then try again, uncounted.
      await new Promise((r) => setTimeout(r, OUTAGE_RETRY_MS));
      return await this.forward(session, ch, msg, c.queue, republishProps(msg, { [DELIVERIES_HEADER]: prior }));
    }
    if (prior + 1 >= limit) return await this.deadLetter(session, c, ch, msg, 'delivery-limit', err);
    const props = republishProps(msg, { [DELIVERIES_HEADER]: prior + 1 });
    await this.forward(session, ch, msg, c.queue, props);
  }

  private async deadLetter(
    session: Session,
    c: ConsumerState,
    ch: Channel,
    msg: ConsumeMessage,
    reason: DeadReason,
    err: unknown,
  ): Promise<void> {
    if (c.queue === this.topology.deadLetterQueue) {
      // Dead-lettering from the dead-letter queue would loop forever: drop it, loudly.
      this.log.error({ queue: c.queue, reason, err: errMessage(err) }, 'dropping a message that failed on the dead-letter queue');
      safeAck(ch, msg);
      return;
    }
    this.log.warn({ queue: c.queue, reason, err: errMessage(err) }, 'message dead-lettered');
    await this.forward(session, ch, msg, this.topology.deadLetterQueue, deadLetterProps(msg, c.queue, reason, err));
  }

  /**
   * A message that was settled on delivery (`autoAck` queues, topics) and
   * carries no valid signature: a copy goes to the dead-letter queue for the
   * operators, best effort (the original is gone either way).
   */
  private async deadLetterCopy(source: string, msg: ConsumeMessage, err: Error): Promise<void> {
    this.log.warn({ source, reason: 'unauthenticated', err: err.message }, 'message dead-lettered');
    const session = this.session;
    if (!session) return;
    await this.confirmedPublish(session, '', this.topology.deadLetterQueue, msg.content, deadLetterProps(msg, source, 'unauthenticated', err)).catch(
      (e: unknown) => this.log.warn({ source, err: errMessage(e) }, 'could not dead-letter an unsigned message; dropped'),
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
    if (!this.signer.verify(s.topic, '', msg.content, headers[SIGNATURE_HEADER])) return await this.deadLetterCopy(s.topic, msg, new Error(UNSIGNED_ERROR));
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
    } catch (err) {
      this.log.warn({ topic: s.topic, err: errMessage(err) }, 'dropping a malformed topic message');
      return;
    }
    try {
      await s.handler(body);
    } catch (err) {
      this.log.warn({ topic: s.topic, err: errMessage(err) }, 'topic subscriber failed');
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

/**
 * amqplib's multiplexer writes every frame (each publish, each ack) to the
 * socket on its own: one syscall per frame, and socket writes were a fifth of
 * every role's CPU under load. Cork the socket while the multiplexer empties
 * its channels, so the frames of one pass leave in one `writev`.
 * Reaches into amqplib internals (`connection.muxer`, 0.10–2.x); when they are
 * not there, frames simply go out one by one as before.
 */
function coalesceFrames(model: ChannelModel): void {
  interface Corkable {
    cork(): void;
    uncork(): void;
  }
  const muxer = (model as unknown as { connection?: { muxer?: { out?: Partial<Corkable>; _readIncoming?: () => void } } }).connection?.muxer;
  const out = muxer?.out;
  const readIncoming = muxer?._readIncoming;
  if (!muxer || typeof readIncoming !== 'function' || typeof out?.cork !== 'function' || typeof out.uncork !== 'function') return;
  const socket = out as Corkable;
  muxer._readIncoming = function corked(this: unknown): void {
    socket.cork();
    try {
      readIncoming.call(this);
    } finally {
      socket.uncork();
    }
  };
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

function withHeartbeat(url: string, heartbeatS: number): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(heartbeatS));
    return u.toString();
  } catch {
    return url; // amqplib reports a bad URL itself, with its own message
  }
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
function deadLetterProps(msg: ConsumeMessage, source: string, reason: DeadReason, err: unknown): Options.Publish {
  const props = republishProps(msg, {
    [DEAD_LETTER_HEADERS.originalQueue]: source,
    [DEAD_LETTER_HEADERS.reason]: reason,
    [DEAD_LETTER_HEADERS.error]: errMessage(err).slice(0, MAX_ERROR_HEADER_CHARS),
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

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function unavailable(message: string, cause?: unknown): ServiceUnavailableError {
  const detail = cause === undefined ? message : `${message}: ${errMessage(cause)}`;
  return new ServiceUnavailableError('rabbitmq', detail, cause);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
