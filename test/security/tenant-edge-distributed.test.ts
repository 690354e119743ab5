import { afterAll, describe } from 'vitest';
import { startDistributed } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedServices, type DistributedServices } from '../helpers/distributed-env.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { tenantEdgeScenarios } from './tenant-edge-scenarios.js';

/**
 * The security probe's gateway and tenancy findings in distributed mode: 2
 * gateways, a scheduler and an executor on RabbitMQ, Redis and S3. Every
 * process reaches S3 through a TCP relay, so the F12 scenario can cut it off.
 */

const available = await distributedServicesAvailable();

describe.skipIf(!available)('tenant edge in distributed mode', () => {
  let services: DistributedServices | undefined;
  let s3Relay: TcpProxy | undefined;
  afterAll(async () => {
    await s3Relay?.stop();
    await services?.stop();
  });

  tenantEdgeScenarios(
    'distributed: 2 gateways',
    async () => {
      services = await startDistributedServices('tenant-edge');
      s3Relay = await startTcpProxy(Number(new URL(services.s3.endpoint).port));
      return startDistributed({
        env: { ...services.env, BRISK_S3_ENDPOINT: `http://127.0.0.1:${s3Relay.port}` },
        gateways: 2,
        executors: 1,
      });
    },
    {
      objectStoreOutage: {
        stop: async () => s3Relay?.stop(),
        start: async () => s3Relay?.start(),
      },
    },
  );
});
