import { connect as amqpConnect, type ChannelModel } from 'amqplib';
import { pino } from 'pino';
import { retry, type Backoff } from '../core/backoff.js';
import { ServiceUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { errMessage, withTimeout } from '../core/util.js';
import type { ConnectionStatus } from './types.js';

/** Socket options Brisk passes to amqplib's `connect`. */
export interface AmqpSocketOptions {
  /** Disable Nagle: without it a send → consume round trip costs ~40 ms of delayed-ACK wait. */
  noDelay: boolean;
  /** TCP connect timeout, ms. */
  timeout: number;
}

/** amqplib's promise `connect`, injectable so tests can hand in a failing or fake one. */
export type AmqpConnect = (url: string, socketOptions: AmqpSocketOptions) => Promise<ChannelModel>;

export interface AmqpConnectionOptions {
  /** amqp://user:pass@host:port/vhost */
  url: string;
  /** Names the connection in logs and errors (`bus`, `user queues`). */
  name: string;
  logger?: Logger;
  connect?: AmqpConnect;
  /** Backoff between reconnect attempts after a lost connection (±20 % jitter). Default 100 ms doubling to 5 s. */
  reconnect?: { initialMs: number; maxMs: number };
  /** Bound on one connect (TCP + AMQP handshake). Default 5000. */
  connectTimeoutMs?: number;
  /** AMQP heartbeat, seconds, unless the URL sets one. Default 10 (detects a dead peer in ~20 s). */
  heartbeatS?: number;
  /**
   * Run on every new connection before it counts as ready: declare the
   * topology, restore consumers. Throwing fails this attempt (the
   * connection is closed; after the first connect, it is tried again).
   */
  setup: (model: ChannelModel) => Promise<void>;
  /**
   * A connection closed (lost, failed in `setup`, or closed by us): drop
   * what was bound to it. Called for every connection that `setup` saw,
   * before any reconnect.
   */
  onLost?: (model: ChannelModel, err: Error | undefined) => void;
  /**
   * Run once by {@link AmqpConnection.close}, after the status turned
   * `closing` and before the connection closes: consumers finish their
   * in-flight messages on channels that are still open.
   */
  drain?: () => Promise<void>;
}

/**
 * One RabbitMQ connection with a small state machine (after bullmq's
 * `RedisConnection`): `connecting → ready → reconnecting → ready … →
 * closing → closed`. Shared by the bus (`amqp-bus.ts`) and the users' queues
 * (`triggers/amqp-user-queues.ts`), which each keep only their channels and
 * consumers and hand in a `setup` that restores them.
 *
 * - The first connect failing rejects {@link waitUntilReady} (the process
 *   should exit with a clear message); a connection lost later is
 *   re-established with jittered exponential backoff, and `setup` runs again.
 * - {@link close} is idempotent, and stops a reconnect in progress for good.
 * - Every connection is made with `noDelay` and a heartbeat, and has its
 *   frames coalesced ({@link coalesceFrames}).
 *
 * Nothing here runs per message: owners read {@link status} and keep their
 * own reference to the live connection.
 */
export class AmqpConnection {
  private state: ConnectionStatus = 'connecting';
  private model: ChannelModel | undefined;
  private readonly firstConnect: Promise<void>;
  private closePromise: Promise<void> | undefined;
  /** Aborts the pauses of a reconnect in progress when closing. */
  private readonly stopping = new AbortController();
  /** Waiters for the next `ready` (or `closed`) transition. */
  private readyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  private readonly log: Logger;
  private readonly connectFn: AmqpConnect;
  private readonly url: string;
  private readonly backoff: Backoff;
  private readonly connectTimeoutMs: number;

  constructor(private readonly opts: AmqpConnectionOptions) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.connectFn = opts.connect ?? ((url, socketOptions) => amqpConnect(url, socketOptions));
    this.url = withHeartbeat(opts.url, opts.heartbeatS ?? 10);
    const { initialMs, maxMs } = opts.reconnect ?? { initialMs: 100, maxMs: 5000 };
    // ±20 % jitter so a fleet of processes does not reconnect in lock-step.
    this.backoff = { type: 'exponential', initialMs, maxMs, jitter: 0.2 };
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.firstConnect = this.open().then(
      () => this.setState('ready'),
      (err: unknown) => {
        this.setState('closed');
        throw this.unavailable('cannot connect', err);
      },
    );
    // Observed through waitUntilReady(); never an unhandled rejection.
    this.firstConnect.catch(() => undefined);
  }

  get status(): ConnectionStatus {
    return this.state;
  }

  /** The initial pause of the reconnect backoff (owners restart a lost channel after it). */
  get retryAfterMs(): number {
    return this.backoff.initialMs;
  }

  /** Resolves when connected and set up; rejects if the first connect fails or the connection is closed. */
  async waitUntilReady(): Promise<void> {
    if (this.state === 'connecting') return await this.firstConnect;
    if (this.state === 'ready') return;
    if (this.state === 'reconnecting') {
      return await new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    }
    throw this.unavailable('connection closed');
  }

  /** Idempotent: runs `drain`, closes the connection, stops reconnecting. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  /** A fast ServiceUnavailableError naming this connection (callers never queue behind an outage). */
  unavailable(message: string, cause?: unknown): ServiceUnavailableError {
    const detail = cause === undefined ? message : `${message}: ${errMessage(cause)}`;
    return new ServiceUnavailableError('rabbitmq', `${this.opts.name}: ${detail}`, cause);
  }

  // -------------------------------------------------------------------------

  private setState(next: ConnectionStatus): void {
    if (this.state === next) return;
    this.log.debug({ from: this.state, to: next }, `amqp ${this.opts.name} state`);
    this.state = next;
    if (next === 'ready' || next === 'closed' || next === 'closing') {
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) {
        if (next === 'ready') w.resolve();
        else w.reject(this.unavailable('connection closed'));
      }
    }
  }

  /** Connect and run `setup`. Throws on any failure, leaving no connection behind. */
  private async open(): Promise<void> {
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
    model.on('error', (err: Error) => this.log.warn({ err: err.message }, `amqp ${this.opts.name} connection error`));
    model.on('close', (err?: Error) => this.onClosed(model, err));
    model.on('blocked', (reason: string) => this.log.warn({ reason }, `amqp ${this.opts.name} connection blocked by the broker`));
    try {
      if (this.state === 'closing' || this.state === 'closed') throw new Error('closed while connecting');
      this.model = model;
      await this.opts.setup(model);
      // Lost while being set up: this attempt failed (the close event has run).
      if (this.model !== model) throw new Error('connection lost during setup');
    } catch (err) {
      if (this.model === model) this.model = undefined;
      await model.close().catch(() => undefined);
      throw err;
    }
  }

  private onClosed(model: ChannelModel, err: Error | undefined): void {
    this.opts.onLost?.(model, err);
    if (this.model !== model) return;
    this.model = undefined;
    // During the first connect a loss fails waitUntilReady() instead of retrying;
    // during a reconnect, the attempt in progress fails and the next one follows.
    if (this.state !== 'ready') return;
    this.log.warn({ err: err?.message }, `amqp ${this.opts.name} connection lost; reconnecting`);
    this.setState('reconnecting');
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    try {
      await retry(() => this.open(), {
        backoff: this.backoff,
        delayFirst: true,
        isRetryable: () => this.state === 'reconnecting',
        signal: this.stopping.signal,
        onRetry: ({ attempt, error }) => this.log.warn({ err: errMessage(error), attempt: attempt + 1 }, `amqp ${this.opts.name} reconnect failed`),
      });
    } catch {
      return; // closed meanwhile: close() tears down whatever is left
    }
    if (this.state !== 'reconnecting') return;
    this.log.info(`amqp ${this.opts.name} connection restored`);
    this.setState('ready');
  }

  private async doClose(): Promise<void> {
    if (this.state === 'connecting') await this.firstConnect.catch(() => undefined);
    if (this.state === 'closed') return;
    this.setState('closing');
    this.stopping.abort();
    await this.opts.drain?.();
    const model = this.model;
    this.model = undefined;
    if (model) await model.close().catch(() => undefined);
    this.setState('closed');
  }
}

/**
 * amqplib's multiplexer writes every frame (each publish, each ack) to the
 * socket on its own: one syscall per frame, and socket writes were a fifth of
 * every role's CPU under load. Cork the socket while the multiplexer empties
 * its channels, so the frames of one pass leave in one `writev`.
 * Reaches into amqplib internals (`connection.muxer`, 0.10–2.x); when they are
 * not there, frames simply go out one by one as before.
 */
export function coalesceFrames(model: ChannelModel): void {
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

function withHeartbeat(url: string, heartbeatS: number): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(heartbeatS));
    return u.toString();
  } catch {
    return url; // amqplib reports a bad URL itself, with its own message
  }
}
