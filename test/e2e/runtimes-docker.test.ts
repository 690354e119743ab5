import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { buildExampleImage, buildOfflineImage, buildPythonOfflineImage, bundleRuntime, cleanupDocker, requireDocker } from '../helpers/docker.js';
import { pythonAvailable, TEST_PYTHON } from '../helpers/python.js';
import { requireService, uniqueId } from '../helpers/services.js';
import { pythonRealWorldScenarios } from './python-real-world-scenarios.js';
import { PYTHON_FUNCTIONS, runtimeScenarios } from './runtime-scenarios.js';
import { api, waitForActivation } from './scenarios.js';

/**
 * Python and image functions on the Docker backend, through the real binary
 * and a real engine: the shared runtime scenarios standalone and distributed,
 * then image functions (an image FROM the Node runtime image, one in Python)
 * with the runtime images' hardening. Every image and container here is this
 * file's own (tags and executor ids with a random id), removed afterwards.
 */
const docker = new Dockerode();
const enabled = (await requireDocker(docker)) && requireService('python3 (3.11+)', await pythonAvailable());
const distributed = await distributedServicesAvailable();

const run = uniqueId();
const nodeImage = `brisk-runtime:pyd-${run}`;
const pythonImage = `brisk-runtime-python:pyd-${run}`;
const greeterImage = `brisk-img-greeter:pyd-${run}`;
const echoImage = `brisk-img-echo:pyd-${run}`;
const executorIds: string[] = [];
const executorId = (label: string): string => {
  const id = `pyd-${label}-${run}`;
  executorIds.push(id);
  return id;
};
const env = (label: string): Record<string, string> => ({
  BRISK_EXECUTOR_BACKEND: 'docker',
  BRISK_EXECUTOR_ID: executorId(label),
  BRISK_RUNTIME_IMAGE: nodeImage,
  BRISK_PYTHON_IMAGE: pythonImage,
  BRISK_PYTHON: TEST_PYTHON,
  BRISK_EXECUTOR_MEMORY_MB: '3072',
});

describe.skipIf(!enabled)('Python and image functions on Docker', () => {
  beforeAll(async () => {
    // The runtime images of this tree, built once for the file (executors would build them on demand; the image examples need them first).
    await bundleRuntime();
    await Promise.all([buildOfflineImage(nodeImage), buildPythonOfflineImage(pythonImage)]);
    await Promise.all([buildExampleImage('node-greeter', nodeImage, greeterImage), buildExampleImage('python-echo', pythonImage, echoImage)]);
  }, 300_000);
  afterAll(async () => {
    for (const id of executorIds) await cleanupDocker(docker, id);
    for (const tag of [greeterImage, echoImage, pythonImage, nodeImage]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  });

  runtimeScenarios('python, standalone, docker backend', () => startStandalone(env('sa')), PYTHON_FUNCTIONS);
  pythonRealWorldScenarios('standalone, docker backend', () => startStandalone(env('rw')));

  describe.skipIf(!distributed)('distributed', () => {
    runtimeScenarios('python, distributed, docker executors', () => startDistributedCluster('pyd', { env: env('dist') }), PYTHON_FUNCTIONS);
  });

  describe('image functions', () => {
    let cluster: Cluster;
    const a = api(() => cluster.url);
    const id = executorId('img');
    beforeAll(async () => {
      cluster = await startStandalone({ ...env('unused'), BRISK_EXECUTOR_ID: id, BRISK_ALLOW_IMAGES: 'default' });
      expect((await a.req('PUT', '/v1/namespaces/closed', {})).status).toBe(201);
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it('GET /v1/runtimes lists the runtimes with versions, images enabled for this namespace', async () => {
      const r = await a.req('GET', '/v1/runtimes');
      expect(r.status).toBe(200);
      expect(r.json.runtimes).toEqual([
        { name: 'nodejs', version: process.versions.node, available: true, default: true },
        { name: 'python', version: expect.stringMatching(/^3\.\d+\.\d+$/), available: true },
        { name: 'image', available: true },
      ]);
    });

    it('an image FROM the Node runtime image and one in Python run hardened, warm on the second call', async () => {
      const g = await a.req('PUT', '/v1/functions/greeter', { runtime: 'image', image: greeterImage, env: { GREETING: 'hej' } });
      expect(g.status, g.text).toBe(201);
      expect(g.json).toMatchObject({ runtime: 'image', image: greeterImage, codeSize: 0 });
      const first = await a.req('POST', '/v1/functions/greeter/invoke', { name: 'ada' });
      expect(first.json, first.text).toEqual({ greeting: 'hej ada', from: 'node-greeter image', function: 'greeter' });
      const second = await a.req('POST', '/v1/functions/greeter/invoke', { name: 'bob' });
      expect(second.json.greeting).toBe('hej bob');
      const rec = await waitForActivation(a, second.headers.get('x-brisk-activation-id') as string);
      expect(rec).toMatchObject({ status: 'success', startKind: 'warm', logs: ['greeted bob'] });

      expect((await a.req('PUT', '/v1/functions/echo', { runtime: 'image', image: echoImage })).status).toBe(201);
      const echo = await a.req('POST', '/v1/functions/echo/invoke', { n: 1 });
      expect(echo.json, echo.text).toMatchObject({ echo: { n: 1 }, function: 'echo', from: 'python-echo image', activationId: echo.headers.get('x-brisk-activation-id') });
      const failed = await a.req('POST', '/v1/functions/echo/invoke', { fail: true });
      expect(failed.status).toBe(500);
      expect(failed.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'EchoError' });

      // The same hardening as the runtime images: no network, read-only root, uid 1000, memory and pids limits.
      const containers = await docker.listContainers({ filters: { label: [`brisk.executor=${id}`, `brisk.runtime=image:${greeterImage}`] } });
      expect(containers.length).toBeGreaterThan(0);
      const info = await docker.getContainer(containers[0]!.Id).inspect();
      expect(info.Config.User).toBe('1000:1000');
      expect(info.HostConfig).toMatchObject({ NetworkMode: 'none', ReadonlyRootfs: true, Memory: 256 * 1024 * 1024, CapDrop: ['ALL'] });
      expect(info.HostConfig.PidsLimit).toBeGreaterThan(0);
    });

    it('refusals: images outside BRISK_ALLOW_IMAGES (403), no image name (400), an image the engine does not have (a function error)', async () => {
      const closedKey = (await a.req('POST', '/v1/namespaces/closed/keys', {})).json.key as string;
      const closed = api(() => cluster.url, closedKey);
      const denied = await closed.req('PUT', '/v1/functions/img', { runtime: 'image', image: greeterImage });
      expect(denied.status, denied.text).toBe(403);
      expect(denied.json.error.code).toBe('IMAGES_NOT_ALLOWED');
      const noName = await a.req('PUT', '/v1/functions/img', { runtime: 'image' });
      expect(noName.status).toBe(400);
      expect(noName.json.error.code).toBe('INVALID_RUNTIME');
      expect((await a.req('PUT', '/v1/functions/gone', { runtime: 'image', image: `brisk-no-such-image:${run}`, retries: 0 })).status).toBe(201);
      const gone = await a.req('POST', '/v1/functions/gone/invoke', {});
      expect(gone.status, gone.text).toBe(500);
      expect(gone.headers.get('x-brisk-fault')).toBe('function');
      expect(gone.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'ImageNotFound' });
    });
  });
});
