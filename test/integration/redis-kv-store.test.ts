import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.js';
import { RedisConnection } from '../../storage/redis-connection.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { RedisStore } from '../../storage/redis-store.js';
import { keyValueStoreContract } from '../contracts/kv-contract.js';
import { redisAvailable, requireService, startRedis, uniquePrefix, type RedisHandle } from '../helpers/services.js';

const available = requireService('redis', await redisAvailable());

describe.skipIf(!available)('RedisKeyValueStore (redis-server)', () => {
  let redis: RedisHandle;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  keyValueStoreContract('RedisKeyValueStore', () => new RedisKeyValueStore({ url: redis.url, prefix: `${uniquePrefix('kv')}:` }));

  it('shares one connection with the metadata store and leaves it to its owner', async () => {
    const conn = new RedisConnection({ url: redis.url });
    const prefix = `${uniquePrefix('shared')}:`;
    const kv = new RedisKeyValueStore({ prefix, url: '', connection: conn });
    const meta = new RedisStore({ prefix, url: '', activationTtlS: 60, connection: conn });
    await Promise.all([kv.waitUntilReady(), meta.waitUntilReady()]);
    await kv.set('x', '1');
    await kv.close();
    await meta.close();
    expect(conn.status).toBe('ready');
    expect(await conn.client.get(`${prefix}kv:x`)).toBe('1');
    await conn.close();
    await expect(new RedisKeyValueStore({ prefix, url: '', connection: conn }).waitUntilReady()).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});
