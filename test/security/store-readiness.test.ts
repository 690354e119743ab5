import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import { S3ObjectStore } from '../../storage/s3-object-store.js';
import { redisAvailable, requireService, s3Available, startRedis, startS3, uniqueId, uniquePrefix, type RedisHandle, type S3Handle } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Security probe F12: the S3 object store said `ready` for ever once it had
 * started, so `/healthz` answered 200 through an S3 outage. Now a request that
 * cannot reach S3 turns it `unavailable`, and a success or the periodic probe
 * turns it `ready` again; an idle store notices an outage through the probe.
 * S3 is cut off with a TCP relay in front of s3rver. The Redis stores, which
 * said `ready` through an outage too, now follow their connection.
 */

const available = requireService('s3 (s3rver)', await s3Available());
const redisThere = requireService('redis', await redisAvailable());

async function until(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  await waitFor(probe, timeoutMs).catch(() => {
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  });
}

describe.skipIf(!available)('S3ObjectStore readiness (F12)', () => {
  let s3: S3Handle;
  let proxy: TcpProxy;
  const stores: S3ObjectStore[] = [];

  beforeAll(async () => {
    s3 = await startS3();
    proxy = await startTcpProxy(Number(new URL(s3.endpoint).port));
  });
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    await proxy?.stop();
    await s3?.stop();
  });

  function store(probeMs: number): S3ObjectStore {
    const s = new S3ObjectStore({
      endpoint: `http://127.0.0.1:${proxy.port}`,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      bucket: `brisk-${uniqueId()}`,
      region: s3.region,
      probeMs,
    });
    stores.push(s);
    return s;
  }

  it('a request that cannot reach S3 makes it unavailable; the probe makes it ready again', async () => {
    // A long probe interval: the failed request alone must flip the status.
    const s = store(300);
    await s.waitUntilReady();
    expect(s.status).toBe('ready');
    await proxy.stop();
    try {
      await expect(s.put('objects/ns/b/k', Buffer.from('x'))).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(s.status).toBe('unavailable');
    } finally {
      await proxy.start();
    }
    await until('ready again after S3 came back', () => s.status === 'ready');
    await s.put('objects/ns/b/k', Buffer.from('x'));
    expect(s.status).toBe('ready');
  });

  it('an idle store notices an outage through its probe', async () => {
    const s = store(100);
    await s.waitUntilReady();
    await proxy.stop();
    try {
      await until('unavailable without any request', () => s.status === 'unavailable');
    } finally {
      await proxy.start();
    }
    await until('ready again', () => s.status === 'ready');
  });

  it('a refusal by S3 (an answer) is not an outage', async () => {
    const s = store(60_000);
    await s.waitUntilReady();
    expect(await s.get('objects/none/here')).toBeUndefined();
    expect(s.status).toBe('ready');
  });
});

describe.skipIf(!redisThere)('Redis store readiness', () => {
  let redis: RedisHandle;
  let proxy: TcpProxy;
  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startTcpProxy(redis.port);
  });
  afterAll(async () => {
    await proxy?.stop();
    await redis?.stop();
  });

  it('is unavailable while the connection is lost, and ready again once it is back', async () => {
    const kv = new RedisKeyValueStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix: `${uniquePrefix('ready')}:` });
    try {
      await kv.waitUntilReady();
      expect(kv.status).toBe('ready');
      await proxy.stop();
      try {
        await until('unavailable', () => kv.status === 'unavailable');
        await expect(kv.get('k')).rejects.toBeInstanceOf(ServiceUnavailableError);
      } finally {
        await proxy.start();
      }
      await until('ready again', () => kv.status === 'ready');
      expect(await kv.get('k')).toBeUndefined();
    } finally {
      await kv.close();
    }
  });
});
