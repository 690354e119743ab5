import { RedisBackedStore, script, type RedisConnection, type RedisConnectionOptions } from './redis-connection.js';
import type { KeyValueStore } from './types.js';

export interface RedisKeyValueStoreOptions extends RedisConnectionOptions {
  /** Prefix of every key, e.g. `brisk:`; this store adds `kv:` and `kvh:`. */
  prefix: string;
  /** A connection shared with other stores; close() then leaves it open. */
  connection?: RedisConnection;
}

/** INCRBY, and PEXPIRE only when the key was just created. KEYS: key. ARGV: by, ttl ms (0 = none). */
const INCR = script(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and v == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ttl) end
return v
`);

/**
 * Token bucket. KEYS: bucket hash. ARGV: rate per s, burst, cost, now ms.
 * Returns {allowed 0/1, retry after ms}. The hash expires once it would be full again.
 */
const TAKE_TOKENS = script(`
local rate, burst, cost, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed, retry = 0, 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 else retry = math.ceil((cost - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, retry}
`);

/**
 * {@link KeyValueStore} on Redis: plain keys under `<prefix>kv:` (SET with PX /
 * NX, INCRBY) and collections as hashes under `<prefix>kvh:`.
 */
export class RedisKeyValueStore extends RedisBackedStore implements KeyValueStore {
  private readonly keyPrefix: string;
  private readonly hashPrefix: string;

  constructor(opts: RedisKeyValueStoreOptions) {
    super(opts);
    this.keyPrefix = `${opts.prefix}kv:`;
    this.hashPrefix = `${opts.prefix}kvh:`;
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.call(() => this.conn.client.get(this.keyPrefix + key));
    return v ?? undefined;
  }

  async set(key: string, value: string, opts: { ttlMs?: number; ifAbsent?: boolean } = {}): Promise<boolean> {
    const k = this.keyPrefix + key;
    const c = this.conn.client;
    const reply = await this.call(() => {
      if (opts.ttlMs !== undefined && opts.ifAbsent) return c.set(k, value, 'PX', opts.ttlMs, 'NX');
      if (opts.ttlMs !== undefined) return c.set(k, value, 'PX', opts.ttlMs);
      if (opts.ifAbsent) return c.set(k, value, 'NX');
      return c.set(k, value);
    });
    return reply === 'OK';
  }

  async delete(key: string): Promise<boolean> {
    return (await this.call(() => this.conn.client.del(this.keyPrefix + key))) > 0;
  }

  async incr(key: string, by = 1, opts: { ttlMs?: number } = {}): Promise<number> {
    return Number(await this.run(INCR, [this.keyPrefix + key], [by, opts.ttlMs ?? 0]));
  }

  async takeTokens(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<{ allowed: boolean; retryAfterMs: number }> {
    const reply = (await this.run(TAKE_TOKENS, [this.keyPrefix + key], [ratePerSecond, burst, cost, Date.now()])) as [number, number];
    return { allowed: Number(reply[0]) === 1, retryAfterMs: Number(reply[1]) };
  }

  async hget(collection: string, field: string): Promise<string | undefined> {
    const v = await this.call(() => this.conn.client.hget(this.hashPrefix + collection, field));
    return v ?? undefined;
  }

  async hset(collection: string, field: string, value: string): Promise<void> {
    await this.call(() => this.conn.client.hset(this.hashPrefix + collection, field, value));
  }

  async hdel(collection: string, field: string): Promise<boolean> {
    return (await this.call(() => this.conn.client.hdel(this.hashPrefix + collection, field))) > 0;
  }

  async hgetall(collection: string): Promise<Record<string, string>> {
    return await this.call(() => this.conn.client.hgetall(this.hashPrefix + collection));
  }

  async deleteCollection(collection: string): Promise<boolean> {
    return (await this.call(() => this.conn.client.unlink(this.hashPrefix + collection))) > 0;
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    return (await this.unlinkPrefix(this.keyPrefix + prefix)) + (await this.unlinkPrefix(this.hashPrefix + prefix));
  }
}
