import Dockerode from 'dockerode';
import { describe } from 'vitest';
import { startStandalone } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { requireDocker } from '../helpers/docker.js';
import { uniqueId } from '../helpers/services.js';
import { realWorldScenarios } from './real-world-scenarios.js';

/**
 * Issue 15: the real-world corpus, standalone on the process backend and
 * distributed (RabbitMQ, Redis, S3) on the Docker backend.
 */
realWorldScenarios('standalone, process backend', () => startStandalone());

const docker = await requireDocker(new Dockerode());
const services = await distributedServicesAvailable();
describe.skipIf(!docker || !services)('distributed, Docker backend', () => {
  realWorldScenarios('distributed, Docker backend', () =>
    startDistributedCluster('real-world', { env: { BRISK_EXECUTOR_BACKEND: 'docker', BRISK_EXECUTOR_ID: `e2e-real-world-${uniqueId()}` } }),
  );
});
