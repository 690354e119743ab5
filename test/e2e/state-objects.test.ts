import { createHash, randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { startStandalone, useCluster, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { cleanupDocker, requireDocker } from '../helpers/docker.js';
import { api } from './scenarios.js';

/**
 * context.state and context.objects from inside real functions, and
 * /v1/objects from outside, over HTTP against the real binary (run
 * `node build.mjs` first), in both modes and on the Docker backend.
 */

const COUNTER = `export const handler = async (_e: unknown, ctx: any) => ({ hits: await ctx.state.incr('hits') });`;
const WRITER = `
export const handler = async (e: { key: string; text: string }, ctx: any) => {
  await ctx.objects.put('outputs', e.key, JSON.stringify({ echo: e.text }), { contentType: 'application/json' });
  return { wrote: e.key };
};`;
const READER = `
export const handler = async (e: { key: string }, ctx: any) => {
  const data = await ctx.objects.get('inputs', e.key);
  return { text: data === undefined ? null : data.toString('utf8'), listed: await ctx.objects.list('inputs', 'data/') };
};`;

const HASHER = `
import { createHash } from 'node:crypto';
export const handler = async (e: { key: string }, ctx: any) => {
  const data: Buffer = await ctx.objects.get('inputs', e.key);
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
};`;

function counterScenario(label: string, start: () => Promise<Cluster>): void {
  describe(`context.state counter (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('counts 1..5 over five invocations', async () => {
      expect((await a.req('PUT', '/v1/functions/counter', { code: COUNTER })).status).toBe(201);
      const hits: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await a.req('POST', '/v1/functions/counter/invoke', {});
        expect(r.status, r.text).toBe(200);
        hits.push(r.json.hits);
      }
      expect(hits).toEqual([1, 2, 3, 4, 5]);
    });
  });
}

function stateObjectScenarios(label: string, start: () => Promise<Cluster>): void {
  counterScenario(label, start);

  describe(`objects between functions and users (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('a function writes an object and GET /v1/objects returns it with its content type', async () => {
      expect((await a.req('PUT', '/v1/functions/writer', { code: WRITER })).status).toBe(201);
      const r = await a.req('POST', '/v1/functions/writer/invoke', { key: 'results/run-1.json', text: 'héllo' });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({ wrote: 'results/run-1.json' });
      const got = await a.req('GET', '/v1/objects/outputs/results/run-1.json');
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('application/json');
      expect(got.json).toEqual({ echo: 'héllo' });
      expect((await a.req('GET', '/v1/objects/outputs?prefix=results/')).json).toEqual({ bucket: 'outputs', keys: ['results/run-1.json'] });
    });

    it('a user PUTs an input object and a function reads it; DELETE removes it', async () => {
      const put = await a.req('PUT', '/v1/objects/inputs/data/in.txt', 'input from the user', { 'content-type': 'text/plain' });
      expect(put.status, put.text).toBe(200);
      expect(put.json).toEqual({ bucket: 'inputs', key: 'data/in.txt', size: 19 });
      expect((await a.req('PUT', '/v1/functions/reader', { code: READER })).status).toBe(201);
      const r = await a.req('POST', '/v1/functions/reader/invoke', { key: 'data/in.txt' });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({ text: 'input from the user', listed: ['data/in.txt'] });

      // Binary-safe both ways: random bytes in through the gateway, hashed inside the function.
      const bin = randomBytes(64 * 1024);
      const putBin = await a.req('PUT', '/v1/objects/inputs/blob.bin', new Uint8Array(bin), { 'content-type': 'application/octet-stream' });
      expect(putBin.json).toEqual({ bucket: 'inputs', key: 'blob.bin', size: bin.length });
      expect((await a.req('PUT', '/v1/functions/hasher', { code: HASHER })).status).toBe(201);
      const hashed = await a.req('POST', '/v1/functions/hasher/invoke', { key: 'blob.bin' });
      expect(hashed.json).toEqual({ size: bin.length, sha256: createHash('sha256').update(bin).digest('hex') });

      expect((await a.req('DELETE', '/v1/objects/inputs/data/in.txt')).status).toBe(204);
      expect((await a.req('DELETE', '/v1/objects/inputs/data/in.txt')).status).toBe(204);
      const gone = await a.req('GET', '/v1/objects/inputs/data/in.txt');
      expect(gone.status).toBe(404);
      expect(gone.json.error.code).toBe('OBJECT_NOT_FOUND');
      expect((await a.req('POST', '/v1/functions/reader/invoke', { key: 'data/in.txt' })).json).toEqual({ text: null, listed: [] });
    });

    it('refuses bad bucket names and keys with 400', async () => {
      const bad = await a.req('PUT', '/v1/objects/Not_A_Bucket/k', 'x');
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toBe('INVALID_BUCKET');
      const badKey = await a.req('GET', '/v1/objects/inputs/a%2F%2Fb');
      expect(badKey.status).toBe(400);
      expect(badKey.json.error.code).toBe('INVALID_KEY');
    });
  });
}

stateObjectScenarios('standalone, process backend', () => startStandalone());

const distributed = await distributedServicesAvailable();
describe.skipIf(!distributed)('distributed mode', () => {
  stateObjectScenarios('distributed: gateway, scheduler, 2 process executors', () => startDistributedCluster('e2e-state', { executors: 2 }));
});

const docker = new Dockerode();
const dockerOk = await requireDocker(docker);
describe.skipIf(!dockerOk)('Docker backend', () => {
  // Own image tag: the executor builds it from the current dist/runtime/server.mjs
  // because it is missing, so the test never runs a stale brisk-runtime:latest.
  const suffix = randomBytes(4).toString('hex');
  const image = `brisk-runtime:e2e-state-${suffix}`;
  const executorId = `e2e-state-${suffix}`;
  afterAll(async () => {
    await cleanupDocker(docker, executorId, image);
  });
  counterScenario('standalone, docker backend', () =>
    startStandalone({ BRISK_EXECUTOR_BACKEND: 'docker', BRISK_RUNTIME_IMAGE: image, BRISK_EXECUTOR_ID: executorId }),
  );
});
