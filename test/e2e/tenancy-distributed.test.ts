import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import { startDistributed, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedServices, type DistributedServices } from '../helpers/distributed-env.js';
import { tenancyScenarios } from './tenancy-scenarios.js';

const run = promisify(execFile);
const available = await distributedServicesAvailable();

/**
 * Everything that crossed RabbitMQ on the test's vhost, through the broker's
 * firehose (`rabbitmqctl trace_on`): the proof that no secret rides the bus.
 */
class BusTap {
  private readonly seen: string[] = [];
  private conn: amqp.ChannelModel | undefined;

  async start(services: DistributedServices): Promise<void> {
    await run('rabbitmqctl', ['-q', 'trace_on', '-p', services.rabbit.vhost]);
    this.conn = await amqp.connect(services.rabbit.url);
    const ch = await this.conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.rabbitmq.trace', '#');
    await ch.consume(queue, (m) => {
      if (m) this.seen.push(m.content.toString('utf8'));
    }, { noAck: true });
  }

  text(): string {
    return this.seen.join('\n');
  }

  async stop(): Promise<void> {
    await this.conn?.close().catch(() => undefined);
  }
}

/** Every key and value in the test's Redis, as text. */
async function redisDump(url: string): Promise<string> {
  const r = new Redis(url);
  try {
    const out: string[] = [];
    for (const key of await r.keys('*')) {
      const type = await r.type(key);
      if (type === 'string') out.push(key, String(await r.get(key)));
      else if (type === 'hash') out.push(key, JSON.stringify(await r.hgetall(key)));
      else if (type === 'zset') out.push(key, JSON.stringify(await r.zrange(key, '0', '-1')));
    }
    return out.join('\n');
  } finally {
    r.disconnect();
  }
}

describe.skipIf(!available)('tenancy in distributed mode', () => {
  let services: DistributedServices | undefined;
  let cluster: Cluster | undefined;
  const tap = new BusTap();
  afterAll(async () => {
    await tap.stop();
    await services?.stop();
  });

  tenancyScenarios(
    'distributed: 2 gateways',
    async () => {
      services = await startDistributedServices('tenancy');
      await tap.start(services);
      cluster = await startDistributed({
        env: { ...services.env, BRISK_SECRET_KEY: 'test-secret-key-0123456789', BRISK_LOG_LEVEL: 'trace' },
        gateways: 2,
        executors: 1,
      });
      return cluster;
    },
    {
      capturedOutput: async () => {
        const logs = cluster?.processes.map((p) => p.output()).join('\n') ?? '';
        // The tap must have seen the secret function's invocations, or it proves nothing.
        if (!tap.text().includes('"name":"secretive"')) throw new Error('the bus tap saw no message about the secretive function');
        return [logs, tap.text(), services ? await redisDump(services.redis.url) : ''].join('\n');
      },
    },
  );
});
