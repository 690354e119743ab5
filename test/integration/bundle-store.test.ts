import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, vi } from 'vitest';
import { CodeCache } from '../../executor/code-cache.js';
import { BundleStore, HOT_COPY_MAX_BYTES, hotKey } from '../../storage/bundles.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { S3ObjectStore } from '../../storage/s3-object-store.js';
import { codeKey } from '../../storage/types.js';
import { redisS3Test as test } from '../helpers/fixtures.js';
import { redisAvailable, requireService, s3Available, uniquePrefix } from '../helpers/services.js';

const available = requireService('redis', await redisAvailable()) && requireService('s3 (s3rver)', await s3Available());

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Bundles in distributed mode: S3 holds every one, Redis a hot copy of the
 * small ones, which an executor reads before a new version's first run.
 */
describe.skipIf(!available)('BundleStore (redis-server + s3rver)', () => {
  const open = async (redisUrl: string, s3: { endpoint: string; accessKey: string; secretKey: string; region: string; bucket: string }) => {
    const kv = new RedisKeyValueStore({ url: redisUrl, prefix: `${uniquePrefix('bundles')}:` });
    const objects = new S3ObjectStore(s3);
    await Promise.all([kv.waitUntilReady(), objects.waitUntilReady()]);
    return { kv, objects, bundles: new BundleStore({ objects, kv }), close: () => Promise.all([kv.close(), objects.close()]) };
  };

  test('a small bundle is in both stores; it is read from the hot copy, and from S3 once the copy is gone', async ({ redis, s3 }) => {
    const { kv, objects, bundles, close } = await open(redis.url, s3);
    const code = Buffer.from('export const handler = async () => ({ ok: true });\n');
    const key = codeKey(sha256(code));
    await bundles.put(key, code);
    expect((await objects.get(key))?.equals(code)).toBe(true);
    expect(Buffer.from((await kv.get(hotKey(key))) as string, 'base64').equals(code)).toBe(true);

    // Served by Redis: the S3 object is gone, the read still succeeds.
    await objects.delete(key);
    expect((await bundles.get(key, { size: code.length }))?.equals(code)).toBe(true);
    // No size known (an older caller): S3 only.
    expect(await bundles.get(key)).toBeUndefined();

    await bundles.put(key, code);
    await kv.delete(hotKey(key));
    expect((await bundles.get(key, { size: code.length }))?.equals(code)).toBe(true);
    await close();
  });

  test('a hot copy lives for a day at most (a TTL on the key)', async ({ redis, s3 }) => {
    const { kv, bundles, close } = await open(redis.url, s3);
    const code = Buffer.from('def handler(event, context):\n    return event\n');
    const key = codeKey(sha256(code));
    await bundles.put(key, code);
    const client = new Redis(redis.url);
    const keys = await client.keys(`*${hotKey(key)}`);
    expect(keys).toHaveLength(1);
    const ttl = await client.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(23 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600_000);
    client.disconnect();
    expect(await kv.get(hotKey(key))).toBeDefined();
    await close();
  });

  test('a bundle over the threshold has no hot copy', async ({ redis, s3 }) => {
    const { kv, objects, bundles, close } = await open(redis.url, s3);
    const big = Buffer.alloc(HOT_COPY_MAX_BYTES + 1, 'x');
    const key = codeKey(sha256(big));
    await bundles.put(key, big);
    expect(await kv.get(hotKey(key))).toBeUndefined();
    expect((await bundles.get(key, { size: big.length }))?.equals(big)).toBe(true);
    expect((await objects.get(key))?.equals(big)).toBe(true);
    await close();
  });

  test('a hot copy that fails the check is dropped and S3 read: the code cache gets the real bundle', async ({ redis, s3 }) => {
    const { kv, bundles, close } = await open(redis.url, s3);
    const code = Buffer.from('export const handler = async () => 1;\n');
    const hash = sha256(code);
    await bundles.put(codeKey(hash), code);
    await kv.set(hotKey(codeKey(hash)), Buffer.from('export const handler = async () => 2;\n').toString('base64'));
    const cache = new CodeCache(bundles);
    expect(await cache.get(hash, code.length)).toBe(code.toString());
    expect(await kv.get(hotKey(codeKey(hash)))).toBeUndefined();
    await close();
  });

  test('a prefetch fetches once: the get that follows shares it', async ({ redis, s3 }) => {
    const { objects, close } = await open(redis.url, s3);
    const bundles = new BundleStore({ objects });
    const code = Buffer.from('export const handler = async () => 3;\n');
    const hash = sha256(code);
    await bundles.put(codeKey(hash), code);
    const reads = vi.spyOn(objects, 'get');
    const cache = new CodeCache(bundles);
    cache.prefetch(hash, code.length);
    cache.prefetch(hash, code.length);
    expect(await cache.get(hash, code.length)).toBe(code.toString());
    expect(reads).toHaveBeenCalledTimes(1);
    await close();
  });
});
