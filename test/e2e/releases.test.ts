import { describe } from 'vitest';
import { startStandalone } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { releaseScenarios } from './releases-scenarios.js';

releaseScenarios('standalone, process backend', () => startStandalone());

const available = await distributedServicesAvailable();
describe.skipIf(!available)('distributed mode', () => {
  releaseScenarios('distributed: 2 gateways, 1 scheduler, 1 process executor', () => startDistributedCluster('e2e-rel', { gateways: 2, executors: 1 }));
});
