/**
 * Vitest fixtures (`test.extend`) for the real services of the integration
 * tier, after trigger.dev's `redisTest` / `containerTest`: a test names the
 * service it needs as an argument and gets a ready handle; starting, resetting
 * and stopping are the fixture's business.
 *
 * ```ts
 * redisTest('…', async ({ redis }) => { … redis.url … });
 * ```
 *
 * Scopes: a service is started once per test FILE (the `…Server`/`…Vhost`
 * fixtures, lazily, on first use) and stopped after the file's last test; the
 * per-test fixture hands the same service to each test, reset where that is
 * cheap (Redis is flushed). Where a test breaks its service on purpose (kills
 * or pauses Redis, restarts a broker), it asks for a private one per test
 * (`ownRedis`, `privateRabbit`).
 *
 * Suite hooks see the file-scoped fixtures, so a contract suite whose factory
 * needs the service reads it in `beforeAll`:
 * `redisTest.beforeAll(({ redisServer }) => { url = redisServer.url; })`.
 *
 * Availability: a fixture started without its service fails with a clear
 * message. Suites keep gating on availability with
 * `describe.skipIf(!requireService('redis', await redisAvailable()))`, which
 * skips locally and fails under `CI=true`; each fixture checks again through
 * {@link requireService}, so a suite that forgot the gate still fails loudly
 * under CI rather than erroring obscurely.
 */
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import { test as base } from 'vitest';
import { bundleRuntime, cleanupDocker, dockerAvailable } from './docker.js';
import {
  privateRabbitAvailable,
  rabbitAvailable,
  redisAvailable,
  requireService,
  s3Available,
  startPrivateRabbit,
  startRabbitVhost,
  startRedis,
  startS3,
  uniqueId,
  type PrivateRabbitHandle,
  type RabbitVhostHandle,
  type RedisHandle,
  type S3Handle,
} from './services.js';

/** Throw unless the service is there (under CI, {@link requireService} throws its own CI message first). */
async function need(name: string, available: () => Promise<boolean>): Promise<void> {
  if (!requireService(name, await available())) throw new Error(`service '${name}' is not available; gate the suite with describe.skipIf(!requireService(…))`);
}

/** FLUSHALL on a connection of its own: the per-test reset of the file's Redis. */
async function flushRedis(url: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await client.connect();
    await client.flushall();
  } finally {
    client.disconnect();
  }
}

// ---------------------------------------------------------------------------
// Redis

/**
 * - `redisServer` (file): a private redis-server for the test file.
 * - `redis` (test): that server, flushed before the test.
 * - `ownRedis` (test): a fresh redis-server for this test alone, which the
 *   test may kill, pause or restart; stopped after it.
 */
export const redisTest = base
  .extend('redisServer', { scope: 'file' }, async ({}, { onCleanup }): Promise<RedisHandle> => {
    await need('redis', redisAvailable);
    const handle = await startRedis();
    onCleanup(() => handle.stop());
    return handle;
  })
  .extend('redis', async ({ redisServer }): Promise<RedisHandle> => {
    await flushRedis(redisServer.url);
    return redisServer;
  })
  .extend('ownRedis', async ({}, { onCleanup }): Promise<RedisHandle> => {
    await need('redis', redisAvailable);
    const handle = await startRedis();
    onCleanup(() => handle.stop());
    return handle;
  });

// ---------------------------------------------------------------------------
// S3 (s3rver, in process)

export interface S3Bucket extends S3Handle {
  /** A bucket name no other test uses (not created: the store under test creates it). */
  bucket: string;
}

/**
 * - `s3Server` (file): an in-process s3rver for the test file (its data is
 *   dropped when it closes).
 * - `s3` (test): that endpoint plus a bucket name of the test's own, which is
 *   the isolation S3 tests need (emptying s3rver between tests is not cheap).
 */
const s3Server = async ({}, { onCleanup }: { onCleanup: (fn: () => Promise<void>) => void }): Promise<S3Handle> => {
  await need('s3 (s3rver)', s3Available);
  const handle = await startS3();
  onCleanup(() => handle.stop());
  return handle;
};
const s3Bucket = async ({ s3Server }: { s3Server: S3Handle }): Promise<S3Bucket> => ({ ...s3Server, bucket: `brisk-${uniqueId()}` });

export const s3Test = base.extend('s3Server', { scope: 'file' }, s3Server).extend('s3', s3Bucket);

/** Redis and S3 together (the Redis fixtures above, then the S3 ones), for what spans both stores. */
export const redisS3Test = redisTest.extend('s3Server', { scope: 'file' }, s3Server).extend('s3', s3Bucket);

// ---------------------------------------------------------------------------
// RabbitMQ

/**
 * - `rabbitVhost` (file): a virtual host of the file's own on the local
 *   broker, deleted with everything in it after the file.
 * - `rabbit` (test): that vhost. Not reset between tests: each rabbitmqctl
 *   call costs about a second, so tests isolate themselves by queue prefix
 *   (`uniquePrefix`) instead.
 * - `privateRabbit` (test): a whole RabbitMQ node for this test alone (about
 *   3 s to boot), for tests that stop and restart the broker.
 */
export const rabbitTest = base
  .extend('rabbitVhost', { scope: 'file' }, async ({}, { onCleanup }): Promise<RabbitVhostHandle> => {
    await need('rabbitmq', rabbitAvailable);
    const handle = await startRabbitVhost('fx');
    onCleanup(() => handle.stop());
    return handle;
  })
  .extend('rabbit', async ({ rabbitVhost }): Promise<RabbitVhostHandle> => rabbitVhost)
  .extend('privateRabbit', async ({}, { onCleanup }): Promise<PrivateRabbitHandle> => {
    await need('rabbitmq-server (private node)', privateRabbitAvailable);
    const handle = await startPrivateRabbit();
    onCleanup(() => handle.stop());
    return handle;
  });

// ---------------------------------------------------------------------------
// Docker

export interface DockerRuntime {
  docker: Dockerode;
  /**
   * A runtime image tag private to this test file (`brisk-runtime:it-<id>`).
   * Not built up front: a backend under test builds a missing image on
   * start() from the current runtime bundle, which this fixture refreshed.
   */
  image: string;
  /** A fresh executor id; its containers are removed after the file. */
  executorId(label?: string): string;
}

/**
 * - `dockerRuntime` (file): the engine, a private image tag and executor ids
 *   for the test file; afterwards every container of those executor ids and
 *   the image are removed (and nothing else: other runs share the daemon).
 */
export const dockerTest = base.extend('dockerRuntime', { scope: 'file' }, async ({}, { onCleanup }): Promise<DockerRuntime> => {
  const docker = new Dockerode();
  await need('docker', () => dockerAvailable(docker));
  // The image must hold the runtime of this tree, not whatever an earlier build left in dist/.
  await bundleRuntime();
  const run = uniqueId();
  const image = `brisk-runtime:it-${run}`;
  const executorIds: string[] = [];
  onCleanup(async () => {
    for (const id of executorIds) await cleanupDocker(docker, id);
    await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  });
  return {
    docker,
    image,
    executorId: (label = 'ex') => {
      const id = `it-${label}-${run}-${executorIds.length}`;
      executorIds.push(id);
      return id;
    },
  };
});
