import { describe, expect } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.js';
import { RedisConnection } from '../../storage/redis-connection.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { RedisStore } from '../../storage/redis-store.js';
import { keyValueStoreContract } from '../contracts/kv-contract.js';
import { redisTest } from '../helpers/fixtures.js';
import { redisAvailable, requireService, uniquePrefix } from '../helpers/services.js';

const available = requireService('redis', await redisAvailable());

describe.skipIf(!available)('RedisKeyValueStore (redis-server)', () => {
  let url: string;
  redisTest.beforeAll(({ redisServer }) => {
    url = redisServer.url;
  });

  keyValueStoreContract('RedisKeyValueStore', () => new RedisKeyValueStore({ url, prefix: `${uniquePrefix('kv')}:` }));

  redisTest('shares one connection with the metadata store and leaves it to its owner', async ({ redis }) => {
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
