import { describe } from 'vitest';
import { startStandalone } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { pythonAvailable, TEST_PYTHON } from '../helpers/python.js';
import { requireService } from '../helpers/services.js';
import { pythonRealWorldScenarios } from './python-real-world-scenarios.js';
import { NODE_FUNCTIONS, PYTHON_FUNCTIONS, runtimeScenarios } from './runtime-scenarios.js';

/**
 * The shared runtime scenarios on the process backend: Node.js and Python in
 * one standalone process, Python across gateway, scheduler and executor
 * processes on RabbitMQ, Redis and S3. (test/e2e/runtimes-docker.test.ts runs
 * them on the Docker backend.)
 */
const python = requireService('python3 (3.11+)', await pythonAvailable());
const distributed = await distributedServicesAvailable();
const env = { BRISK_PYTHON: TEST_PYTHON };

runtimeScenarios('nodejs, standalone, process backend', () => startStandalone(env), NODE_FUNCTIONS);

describe.skipIf(!python)('Python', () => {
  runtimeScenarios('python, standalone, process backend', () => startStandalone(env), PYTHON_FUNCTIONS);
  pythonRealWorldScenarios('standalone, process backend', () => startStandalone(env));

  describe.skipIf(!distributed)('distributed', () => {
    runtimeScenarios('python, distributed, process executors', () => startDistributedCluster('py-e2e', { env }), PYTHON_FUNCTIONS);
  });
});
