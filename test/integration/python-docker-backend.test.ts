import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe } from 'vitest';
import { DockerBackend } from '../../executor/docker-backend.js';
import { backendContract, PYTHON_SOURCES } from '../contracts/backend-contract.js';
import { buildPythonOfflineImage, cleanupDocker, containersOf, requireDocker } from '../helpers/docker.js';
import { dockerTest } from '../helpers/fixtures.js';
import { pythonAvailable } from '../helpers/python.js';
import { requireService, uniqueId } from '../helpers/services.js';

/**
 * The backend contract for Python on a real Docker engine: the Python image
 * (infra/runtime/build-python-offline.sh) of this tree under a tag of this
 * file's own, built once up front, removed afterwards with every container.
 */
const docker = new Dockerode();
const enabled = (await requireDocker(docker)) && requireService('python3 (3.11+)', await pythonAvailable());
const pythonImage = `brisk-runtime-python:it-${uniqueId()}`;
let nodeImage: string;
let newExecutorId: (label: string) => string;
const executorIds: string[] = [];

describe.skipIf(!enabled)('Python runtime on the Docker backend', () => {
  dockerTest.beforeAll(async ({ dockerRuntime }) => {
    nodeImage = dockerRuntime.image;
    newExecutorId = dockerRuntime.executorId;
  });
  beforeAll(async () => {
    await buildPythonOfflineImage(pythonImage);
  }, 300_000);
  afterAll(async () => {
    for (const id of executorIds) await cleanupDocker(docker, id);
    await docker.getImage(pythonImage).remove({ force: true }).catch(() => undefined);
  });

  backendContract(
    'DockerBackend',
    async () => {
      const executorId = newExecutorId('py');
      executorIds.push(executorId);
      const b = new DockerBackend({ image: nodeImage, pythonImage, executorId, docker });
      await b.start();
      return b;
    },
    {
      runtime: { name: 'python', sources: PYTHON_SOURCES },
      liveInstances: async (b) => (await containersOf(docker, (b as DockerBackend).executorId)).length,
      enabled: () => enabled,
    },
  );
});
