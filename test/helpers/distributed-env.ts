import {
  rabbitAvailable,
  redisAvailable,
  requireService,
  s3Available,
  startRabbitVhost,
  startRedis,
  startS3,
  uniqueId,
  type RabbitVhostHandle,
  type RedisHandle,
  type S3Handle,
} from './services.js';
import { startDistributed, TEST_BUS_KEY, type BriskProcess, type Cluster, type DistributedOptions } from './cluster.js';

/** Real services for one distributed test file: a private Redis, an S3 endpoint, a RabbitMQ vhost. */
export interface DistributedServices {
  redis: RedisHandle;
  s3: S3Handle;
  rabbit: RabbitVhostHandle;
  /** BRISK_* variables pointing every role at these services. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** True when the services exist; under CI=true a missing one throws (the suite fails, never skips). */
export async function distributedServicesAvailable(): Promise<boolean> {
  const checks = await Promise.all([redisAvailable(), s3Available(), rabbitAvailable()]);
  return (
    requireService('redis-server', checks[0]) && requireService('s3rver', checks[1]) && requireService('rabbitmq', checks[2])
  );
}

export async function startDistributedServices(label: string): Promise<DistributedServices> {
  const [redis, s3, rabbit] = await Promise.all([startRedis(), startS3(), startRabbitVhost(label)]);
  const env = {
    BRISK_RABBITMQ_URL: rabbit.url,
    BRISK_REDIS_URL: redis.url,
    BRISK_S3_ENDPOINT: s3.endpoint,
    BRISK_S3_ACCESS_KEY: s3.accessKey,
    BRISK_S3_SECRET_KEY: s3.secretKey,
    BRISK_S3_BUCKET: `brisk-${uniqueId()}`,
    BRISK_S3_REGION: s3.region,
    BRISK_BUS_KEY: TEST_BUS_KEY,
  };
  return {
    redis,
    s3,
    rabbit,
    env,
    stop: async () => {
      await Promise.allSettled([redis.stop(), s3.stop(), rabbit.stop()]);
    },
  };
}

/**
 * Fresh services and a distributed cluster on them; `stop()` ends both (a
 * `restart()` restarts only the processes, so data survives it).
 */
export async function startDistributedCluster(
  label: string,
  opts: Omit<DistributedOptions, 'env'> & { env?: Record<string, string> } = {},
): Promise<Cluster & { services: DistributedServices; spawnExecutor(id?: string): Promise<BriskProcess> }> {
  const services = await startDistributedServices(label);
  const cluster = await startDistributed({ ...opts, env: { ...services.env, ...opts.env } });
  const stopProcesses = cluster.stop;
  return Object.assign(cluster, {
    services,
    stop: async () => {
      await stopProcesses();
      await services.stop();
    },
  });
}
