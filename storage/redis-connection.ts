import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { backoffDelay, type Backoff } from '../core/backoff.js';
import { PlatformError, ServiceUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { errMessage, withTimeout } from '../core/util.js';
import type { StoreStatus } from './types.js';

/** ioredis's reconnect pauses: 100 ms (its first retry is `times` 1), 200 ms, … capped at 2 s. */
const RECONNECT_BACKOFF: Backoff = { type: 'exponential', initialMs: 50, maxMs: 2000 };

export interface RedisConnectionOptions {
  /** redis://host:port/db — ignored when `redis` is given. */
  url: string;
  /** Bound on one Redis command, so an outage answers 503 instead of hanging. Default 2000. */
  commandTimeoutMs?: number;
  /** Bound on the first connect in waitUntilReady(). Default 3000. */
  connectTimeoutMs?: number;
  /** A client owned by the caller: used as is and never closed by us. */
  redis?: Redis;
  logger?: Logger;
}

/** A Lua script with its SHA1, for EVALSHA. */
export interface Script {
  lua: string;
  sha: string;
}

export function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * One ioredis client shared by the Redis-backed stores of a process (after
 * bullmq's RedisConnection): explicit status, `waitUntilReady()`, a `close()`
 * that is safe twice and never closes a client it was handed.
 *
 * Commands are bounded (`commandTimeout`, no offline queue, one retry), so a
 * Redis outage surfaces as {@link ServiceUnavailableError} within about two
 * seconds; the client keeps reconnecting with backoff in the background.
 */
export class RedisConnection {
  readonly client: Redis;
  private readonly owned: boolean;
  private readonly connectTimeoutMs: number;
  private readonly log: Logger;
  private state: StoreStatus = 'connecting';
  private ready: Promise<void> | undefined;
  private lastErrorLog = 0;

  constructor(opts: RedisConnectionOptions) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.log = opts.logger ?? pino({ level: 'silent' });
    if (opts.redis) {
      this.client = opts.redis;
      this.owned = false;
    } else {
      this.owned = true;
      this.client = new Redis(opts.url, {
        lazyConnect: true,
        commandTimeout: opts.commandTimeoutMs ?? 2000,
        connectTimeout: this.connectTimeoutMs,
        // One retry, no queueing while disconnected: fail fast, let callers answer 503.
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        // Commands issued in one turn of the event loop go out in one write: at
        // c64 an executor's activation records share writes, and Redis wakes
        // less often. Bench A/B, distributed-process, 4 interleaved runs each:
        // Redis CPU per call at c64 trivial 117-186 -> 73-97 us, transform
        // 167-286 -> 101-115 us.
        enableAutoPipelining: true,
        retryStrategy: (times) => backoffDelay(RECONNECT_BACKOFF, times),
      });
    }
    this.client.on('error', (err: Error) => this.onClientError(err));
  }

  /** `unavailable` while a connection that was ready is lost (ioredis reconnects in the background). */
  get status(): StoreStatus {
    if (this.state === 'ready' && this.client.status !== 'ready') return 'unavailable';
    return this.state;
  }

  /** Connect once; several stores sharing this connection may all call it. */
  waitUntilReady(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ServiceUnavailableError('redis', 'store is closed'));
    this.ready ??= this.connect();
    return this.ready;
  }

  private async connect(): Promise<void> {
    try {
      if (this.client.status === 'wait' || this.client.status === 'end') {
        await withTimeout(this.client.connect(), this.connectTimeoutMs);
      } else if (this.client.status !== 'ready') {
        await withTimeout(
          new Promise<void>((resolve) => this.client.once('ready', () => resolve())),
          this.connectTimeoutMs,
        );
      }
      await this.client.ping();
    } catch (err) {
      this.ready = undefined;
      // Stop the background reconnect loop of a client nobody will use.
      if (this.owned) this.client.disconnect();
      throw new ServiceUnavailableError('redis', `cannot connect: ${errMessage(err)}`, err);
    }
    this.state = 'ready';
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (!this.owned) return;
    if (this.client.status !== 'ready') {
      // Never connected, or reconnecting: nothing to say goodbye to.
      this.client.disconnect();
      return;
    }
    try {
      await withTimeout(this.client.quit(), 1000);
    } catch {
      this.client.disconnect();
    }
  }

  /** EVALSHA, falling back to EVAL once when Redis lost its script cache (restart). */
  async run(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    const argv = args.map(String);
    return await this.call(async () => {
      try {
        return await this.client.evalsha(s.sha, keys.length, ...keys, ...argv);
      } catch (err) {
        if (!errMessage(err).startsWith('NOSCRIPT')) throw err;
        return await this.client.eval(s.lua, keys.length, ...keys, ...argv);
      }
    });
  }

  /** Run a command, turning connection trouble into ServiceUnavailableError. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state === 'closed') throw new ServiceUnavailableError('redis', 'store is closed');
    try {
      return await fn();
    } catch (err) {
      if (isReplyError(err)) {
        throw new PlatformError('STORE_ERROR', `redis: ${errMessage(err)}`, { retryable: false, cause: err });
      }
      throw new ServiceUnavailableError('redis', errMessage(err), err);
    }
  }

  private onClientError(err: Error): void {
    // ioredis emits an error per failed reconnect attempt: log at most every 5 s.
    const now = Date.now();
    if (now - this.lastErrorLog < 5000) return;
    this.lastErrorLog = now;
    this.log.warn({ err: err.message }, 'redis connection error');
  }
}

/**
 * What every Redis-backed store shares: a connection it either owns or was
 * handed (several stores of a process share one), a status, and commands that
 * refuse to run once the store is closed.
 */
export abstract class RedisBackedStore {
  protected readonly conn: RedisConnection;
  private readonly ownsConnection: boolean;
  private state: StoreStatus = 'connecting';

  constructor(opts: RedisConnectionOptions & { connection?: RedisConnection }) {
    this.ownsConnection = opts.connection === undefined;
    this.conn = opts.connection ?? new RedisConnection(opts);
  }

  get status(): StoreStatus {
    if (this.state !== 'ready') return this.state;
    const conn = this.conn.status;
    return conn === 'closed' || conn === 'unavailable' ? conn : 'ready';
  }

  async waitUntilReady(): Promise<void> {
    if (this.state === 'closed') throw new ServiceUnavailableError('redis', 'store is closed');
    await this.conn.waitUntilReady();
    this.state = 'ready';
  }

  /** Idempotent; closes the connection only if this store made it. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.ownsConnection) await this.conn.close();
  }

  protected run(sc: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (this.state === 'closed') throw new ServiceUnavailableError('redis', 'store is closed');
    return this.conn.run(sc, keys, args);
  }

  protected call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state === 'closed') throw new ServiceUnavailableError('redis', 'store is closed');
    return this.conn.call(fn);
  }

  /**
   * UNLINK every key starting with `keyPrefix`, found with SCAN a batch at a
   * time: never a KEYS or a long blocking command, and UNLINK frees memory in
   * the background. Returns how many keys were removed.
   */
  protected async unlinkPrefix(keyPrefix: string): Promise<number> {
    const match = `${globEscape(keyPrefix)}*`;
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await this.call(() => this.conn.client.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH));
      cursor = next;
      // SCAN may return a key twice; UNLINK counts only what it removed.
      if (keys.length > 0) removed += await this.call(() => this.conn.client.unlink(...keys));
    } while (cursor !== '0');
    return removed;
  }
}

/** Keys SCAN looks at per call when purging: bounded work per round trip, few round trips. */
const SCAN_BATCH = 1000;

/** Escape SCAN MATCH's glob characters, so a prefix matches only itself. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}
