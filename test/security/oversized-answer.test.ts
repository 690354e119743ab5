import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnRole, startStandalone, stopProcess, tempDir, TEST_ADMIN_KEY, useCluster, type BriskProcess, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { cleanupDocker, containersOf, requireDocker } from '../helpers/docker.js';
import { waitFor } from '../helpers/services.js';
import { TAMPERING_FUNCTION } from '../fixtures/hostile-functions.js';
import { api, waitForActivation, type Api } from '../e2e/scenarios.js';

/**
 * Security probe F2 (rows B13–B15, B22): what one function's answers can do to
 * the platform, end to end over HTTP against the real binary (run
 * `npm run build` first), on both backends and in distributed mode.
 *
 * Before the fix a 640 MB answer streamed by a function that took over its
 * runtime killed the executor (ERR_STRING_TOO_LONG, uncaught) and, in
 * standalone mode, the platform; 30 MB of tampered logs, a 20 MB thrown
 * message and a 200 MB result were stored whole; a result too large for
 * RabbitMQ left the sync caller waiting 90 s; and a killed executor's
 * containers stayed for ever.
 */

const RESULT_CAP = 6 * 1024 * 1024;
const LOG_CAP = 256 * 1024;
const ERROR_CAP = 64 * 1024;

const OK = `export const handler = async () => ({ fine: true });`;
const BIG_RESULT = `export const handler = async (e: { bytes: number }) => 'x'.repeat(e.bytes);`;
const BIG_THROW = `export const handler = async () => { throw new Error('m'.repeat(20 * 1024 * 1024)); };`;

async function deploy(a: Api, name: string, code: string, over: Record<string, unknown> = {}): Promise<void> {
  const d = await a.req('PUT', `/v1/functions/${name}`, { code, memoryMb: 128, timeoutMs: 60_000, ...over });
  expect([200, 201], d.text).toContain(d.status);
}

/** The platform still serves: another function answers. */
async function stillServing(a: Api): Promise<void> {
  const r = await a.req('POST', '/v1/functions/ok/invoke', {});
  expect(r.status, r.text).toBe(200);
  expect(r.json).toEqual({ fine: true });
}

function answerScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`one function's answers (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('a 640 MB streamed /run answer is a function error (ResponseTooLarge) and the platform keeps serving', async () => {
      await deploy(a, 'ok', OK);
      await deploy(a, 'flood', TAMPERING_FUNCTION);
      await stillServing(a);
      const t0 = Date.now();
      const r = await a.req('POST', '/v1/functions/flood/invoke', { mode: 'flood', mb: 640 });
      expect(r.status, r.text.slice(0, 300)).toBe(500);
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      expect(r.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'ResponseTooLarge' });
      expect(Date.now() - t0).toBeLessThan(20_000);
      for (const p of cluster.processes) expect(p.child.exitCode, p.role).toBeNull();
      await stillServing(a);
      // The same function again: a new instance, the same clear error.
      const again = await a.req('POST', '/v1/functions/flood/invoke', { mode: 'flood', mb: 640 });
      expect(again.json.error).toMatchObject({ errorType: 'ResponseTooLarge' });
      await stillServing(a);
    });

    it('tampered logs are capped: 30 MB is refused whole, 3 MB is cut to the log cap', async () => {
      await deploy(a, 'ok', OK);
      await deploy(a, 'flood', TAMPERING_FUNCTION);
      const huge = await a.req('POST', '/v1/functions/flood/invoke', { mode: 'logs', mb: 30 });
      expect(huge.status).toBe(500);
      expect(huge.json.error).toMatchObject({ errorType: 'ResponseTooLarge' });
      const hugeRec = await waitForActivation(a, huge.headers.get('x-brisk-activation-id') as string);
      expect(Buffer.byteLength(JSON.stringify(hugeRec))).toBeLessThan(2 * LOG_CAP);

      const big = await a.req('POST', '/v1/functions/flood/invoke', { mode: 'logs', mb: 3 });
      expect(big.status, big.text.slice(0, 300)).toBe(200);
      const rec = await waitForActivation(a, big.headers.get('x-brisk-activation-id') as string);
      expect(rec.logsTruncated).toBe(true);
      expect(Buffer.byteLength((rec.logs as string[]).join('\n'))).toBeLessThanOrEqual(LOG_CAP + 64);
      await stillServing(a);
    });

    it('a thrown 20 MB message is cut to 64 KiB, in the answer and in the record', async () => {
      await deploy(a, 'bigthrow', BIG_THROW);
      const r = await a.req('POST', '/v1/functions/bigthrow/invoke', {});
      expect(r.status).toBe(500);
      expect(r.json.error.errorType).toBe('Error');
      expect(Buffer.byteLength(r.json.error.errorMessage)).toBeLessThanOrEqual(ERROR_CAP);
      expect(r.json.error.errorMessage).toMatch(/^m+ \[brisk\] truncated$/);
      expect(r.text.length).toBeLessThan(4 * ERROR_CAP);
      const rec = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
      expect(Buffer.byteLength(rec.error.errorMessage)).toBeLessThanOrEqual(ERROR_CAP);
      expect(Buffer.byteLength(rec.error.stack ?? '')).toBeLessThanOrEqual(ERROR_CAP);
    });

    resultCapScenario(a);
  });
}

/** A result over 6 MB: a clear function error, fast, sync and async; the record readable; one under the cap still flows. */
function resultCapScenario(a: Api): void {
  it('a result over 6 MB is the function error ResultTooLarge, fast, sync and async; the record stays readable', async () => {
    await deploy(a, 'bigresult', BIG_RESULT, { memoryMb: 1024 });
    const t0 = Date.now();
    const sync = await a.req('POST', '/v1/functions/bigresult/invoke', { bytes: RESULT_CAP + 1024 * 1024 });
    expect(sync.status, sync.text.slice(0, 300)).toBe(500);
    expect(sync.headers.get('x-brisk-fault')).toBe('function');
    expect(sync.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'ResultTooLarge' });
    expect(Date.now() - t0).toBeLessThan(15_000);
    const syncRec = await waitForActivation(a, sync.headers.get('x-brisk-activation-id') as string);
    expect(syncRec).toMatchObject({ status: 'error', error: { errorType: 'ResultTooLarge' } });

    const queued = await a.req('POST', '/v1/functions/bigresult/invoke?async=true', { bytes: 140 * 1024 * 1024 });
    expect(queued.status).toBe(202);
    const rec = await waitForActivation(a, queued.json.activationId, 60_000);
    expect(rec).toMatchObject({ status: 'error', error: { errorType: 'ResultTooLarge' } });
    expect(rec.result).toBeUndefined();

    // Under the cap it still travels whole (through RabbitMQ in distributed mode).
    const fits = await a.req('POST', '/v1/functions/bigresult/invoke', { bytes: 5 * 1024 * 1024 });
    expect(fits.status).toBe(200);
    expect((fits.json as string).length).toBe(5 * 1024 * 1024);
  });
}

answerScenarios('standalone, process backend', () => startStandalone());

const docker = new Dockerode();
const dockerOk = await requireDocker(docker);
describe.skipIf(!dockerOk)('Docker backend', () => {
  // Own image tag: the executor builds it from the current dist/runtime/server.mjs because it is missing.
  const suffix = randomBytes(4).toString('hex');
  const image = `brisk-runtime:rt-sec-${suffix}`;
  const ids = { main: `rt-sec-${suffix}`, killed: `rt-sec-${suffix}-k`, after: `rt-sec-${suffix}-n` };
  afterAll(async () => {
    await cleanupDocker(docker, ids.killed);
    await cleanupDocker(docker, ids.after);
    await cleanupDocker(docker, ids.main, image);
  });

  answerScenarios('standalone, docker backend', () =>
    startStandalone({ BRISK_EXECUTOR_BACKEND: 'docker', BRISK_RUNTIME_IMAGE: image, BRISK_EXECUTOR_ID: ids.main }),
  );

  it('a SIGKILLed executor leaves no container behind once another executor (here its restart, under a new id) runs', async () => {
    const dataDir = tempDir('sec-reap');
    const env = {
      BRISK_PORT: '0',
      BRISK_DATA_DIR: dataDir,
      BRISK_ADMIN_KEY: TEST_ADMIN_KEY,
      BRISK_EXECUTOR_BACKEND: 'docker',
      BRISK_RUNTIME_IMAGE: image,
      BRISK_POOL_SIZE: '1',
      // Orphans are reaped after 10 heartbeats unheard: 2 s here.
      BRISK_HEARTBEAT_MS: '200',
    };
    let first: (BriskProcess & { port?: number }) | undefined;
    let second: (BriskProcess & { port?: number }) | undefined;
    try {
      first = await spawnRole('standalone', { ...env, BRISK_EXECUTOR_ID: ids.killed });
      const a = api(() => `http://127.0.0.1:${first?.port}`);
      await deploy(a, 'ok', OK);
      await stillServing(a);
      expect((await containersOf(docker, ids.killed)).length).toBeGreaterThanOrEqual(1);
      first.child.kill('SIGKILL');
      await first.exited;
      const left = await containersOf(docker, ids.killed);
      expect(left.length).toBeGreaterThanOrEqual(1); // nobody cleaned up: it was killed

      second = await spawnRole('standalone', { ...env, BRISK_EXECUTOR_ID: ids.after });
      const b = api(() => `http://127.0.0.1:${second?.port}`);
      await stillServing(b);
      await waitFor(async () => (await containersOf(docker, ids.killed)).length === 0, 30_000, 200);
      // Its own containers are untouched.
      expect((await containersOf(docker, ids.after)).length).toBeGreaterThanOrEqual(1);
      await stillServing(b);
    } finally {
      if (second) await stopProcess(second);
      if (first) await stopProcess(first);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

const distributed = await distributedServicesAvailable();
describe.skipIf(!distributed)('distributed mode', () => {
  describe('gateway, scheduler, 2 process executors on RabbitMQ', () => {
    const cluster = useCluster(() => startDistributedCluster('sec-oversized', { executors: 2 }));
    const a = api(() => cluster.url);

    it('a 640 MB streamed answer is a function error and every process keeps serving', async () => {
      await deploy(a, 'ok', OK);
      await deploy(a, 'flood', TAMPERING_FUNCTION);
      const r = await a.req('POST', '/v1/functions/flood/invoke', { mode: 'flood', mb: 640 });
      expect(r.status, r.text.slice(0, 300)).toBe(500);
      expect(r.json.error).toMatchObject({ errorType: 'ResponseTooLarge' });
      for (const p of cluster.processes) expect(p.child.exitCode, p.role).toBeNull();
      await stillServing(a);
    });

    resultCapScenario(a);
  });
});
