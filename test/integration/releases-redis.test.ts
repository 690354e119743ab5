import { describe } from 'vitest';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { RedisStore } from '../../storage/redis-store.js';
import { releasesContract } from '../contracts/releases-contract.js';
import { redisTest } from '../helpers/fixtures.js';
import { redisAvailable, requireService, uniquePrefix } from '../helpers/services.js';

const available = requireService('redis', await redisAvailable());

describe.skipIf(!available)('aliases on Redis (redis-server)', () => {
  let url: string;
  redisTest.beforeAll(({ redisServer }) => {
    url = redisServer.url;
  });

  // The distributed mode's pair: metadata and key-value stores sharing one prefix, as compose.ts wires them.
  releasesContract('RedisStore + RedisKeyValueStore', async () => {
    const prefix = `${uniquePrefix('rel')}:`;
    return { store: new RedisStore({ url, prefix, activationTtlS: 3600 }), kv: new RedisKeyValueStore({ url, prefix }) };
  });
});
