import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, type Cluster } from '../helpers/cluster.js';
import { distributedServicesAvailable, startDistributedCluster } from '../helpers/distributed-env.js';
import { requireDocker } from '../helpers/docker.js';
import { uniqueId } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { api, skeletonScenarios, waitForActivation } from './scenarios.js';

/**
 * Issue 4 end to end: the platform running functions in Docker containers,
 * standalone and distributed, through the real binary and a real engine.
 */
const docker = new Dockerode();
const available = await requireDocker(docker);

async function containersOf(executorId: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`brisk.executor=${executorId}`] } });
}

describe.skipIf(!available)('Docker executor backend, standalone', () => {
  const executorId = `e2e-docker-${uniqueId()}`;
  let cluster: Cluster;
  const a = api(() => cluster.url);
  const whoami = `import os from 'node:os';
    export const handler = async () => ({ container: os.hostname(), uid: process.getuid() });`;

  beforeAll(async () => {
    cluster = await startStandalone({
      BRISK_EXECUTOR_BACKEND: 'docker',
      BRISK_EXECUTOR_ID: executorId,
      BRISK_POOL_SIZE: '1',
      BRISK_POOL_MAX: '2',
      BRISK_EXECUTOR_MEMORY_MB: '3072',
    });
    expect((await a.req('PUT', '/v1/namespaces/other', {})).status).toBe(201);
    // The pool fills in the background after start: wait for its first container.
    await waitFor(async () => {
      const ex = (await a.req('GET', '/v1/executors')).json.executors as { pool: Record<string, number> }[];
      return (ex[0]?.pool['256'] ?? 0) >= 1;
    }, 30_000, 100);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('takes a pre-started container (pool hit), then reuses it warm', async () => {
    expect((await a.req('PUT', '/v1/functions/who', { code: whoami })).status).toBe(201);
    const first = await a.req('POST', '/v1/functions/who/invoke', {});
    const second = await a.req('POST', '/v1/functions/who/invoke', {});
    expect(first.json.uid).toBe(1000);
    expect(second.json.container).toBe(first.json.container);
    const r1 = await waitForActivation(a, first.headers.get('x-brisk-activation-id') as string);
    const r2 = await waitForActivation(a, second.headers.get('x-brisk-activation-id') as string);
    expect(r1).toMatchObject({ startKind: 'pool', coldStart: true });
    expect(r2).toMatchObject({ startKind: 'warm', coldStart: false });
    // A pool hit skips docker create/start: it costs an /init, not a container start.
    expect(r1.startMs).toBeLessThan(1000);
  });

  it('starts a container from scratch when no pre-started one fits (cold)', async () => {
    // The pool keeps 256 MB containers; a 128 MB function needs a new one.
    expect((await a.req('PUT', '/v1/functions/small', { code: whoami, memoryMb: 128 })).status).toBe(201);
    const r = await a.req('POST', '/v1/functions/small/invoke', {});
    const act = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
    expect(act).toMatchObject({ status: 'success', startKind: 'cold', coldStart: true });
    expect(act.startMs).toBeGreaterThan(0);
  });

  it('never shares a container between namespaces, even for identical code', async () => {
    const other = api(() => cluster.url, TEST_ADMIN_KEY);
    const inOther = (m: string, p: string, b?: unknown) => other.req(m, p, b, { 'x-brisk-namespace': 'other' });
    expect((await inOther('PUT', '/v1/functions/who', { code: whoami })).status).toBe(201);
    const mine = await a.req('POST', '/v1/functions/who/invoke', {});
    const theirs = await inOther('POST', '/v1/functions/who/invoke', {});
    expect(theirs.json.container).not.toBe(mine.json.container);
    expect((await inOther('POST', '/v1/functions/who/invoke', {})).json.container).toBe(theirs.json.container);
  });

  it('isolates: no egress, read-only root, non-root user, capped memory, killed loops, truncated floods', async () => {
    const probe = `import fs from 'node:fs'; import os from 'node:os';
      export const handler = async () => {
        let rootWrite = 'allowed';
        try { fs.writeFileSync('/owned', 'x'); } catch (e) { rootWrite = e.code; }
        fs.writeFileSync('/tmp/ok', 'x');
        return { rootWrite, uid: process.getuid(), interfaces: Object.keys(os.networkInterfaces()) };
      };`;
    await a.req('PUT', '/v1/functions/probe', { code: probe });
    expect((await a.req('POST', '/v1/functions/probe/invoke', {})).json).toEqual({ rootWrite: 'EROFS', uid: 1000, interfaces: ['lo'] });

    await a.req('PUT', '/v1/functions/hog', { code: 'export const handler = async () => { const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1)); }', memoryMb: 128, timeoutMs: 20000 });
    const oom = await a.req('POST', '/v1/functions/hog/invoke', {});
    expect([oom.status, oom.json.error.code]).toEqual([500, 'FUNCTION_OOM']);
    expect((await waitForActivation(a, oom.headers.get('x-brisk-activation-id') as string)).status).toBe('oom');

    await a.req('PUT', '/v1/functions/spin', { code: 'export const handler = async () => { for (;;) {} }', timeoutMs: 500 });
    const spin = await a.req('POST', '/v1/functions/spin/invoke', {});
    expect([spin.status, spin.json.error.code]).toEqual([504, 'FUNCTION_TIMEOUT']);

    const flood = `export const handler = async () => { const line = 'x'.repeat(1023) + '\\n'; for (let i = 0; i < 100 * 1024; i++) process.stdout.write(line); return 'done'; }`;
    await a.req('PUT', '/v1/functions/flood', { code: flood, timeoutMs: 60000 });
    const f = await a.req('POST', '/v1/functions/flood/invoke', {});
    expect(f.json).toBe('done');
    const act = await waitForActivation(a, f.headers.get('x-brisk-activation-id') as string);
    expect(act.logsTruncated).toBe(true);
    expect(act.logs.at(-1)).toContain('truncated');
    // Still responsive afterwards.
    expect((await a.req('POST', '/v1/functions/who/invoke', {})).status).toBe(200);
  });

  it('runs 50 concurrent invocations across 5 functions', async () => {
    for (let i = 0; i < 5; i++) {
      await a.req('PUT', `/v1/functions/par${i}`, { code: `export const handler = async (e) => ({ fn: ${i}, n: e.n })` });
    }
    const results = await Promise.all(Array.from({ length: 50 }, (_, n) => a.req('POST', `/v1/functions/par${n % 5}/invoke`, { n })));
    for (const [n, r] of results.entries()) expect(r.json).toEqual({ fn: n % 5, n });
  });

  it('labels everything it creates, and leaves no container behind when it stops', async () => {
    const mine = await containersOf(executorId);
    expect(mine.length).toBeGreaterThan(0);
    for (const c of mine) expect(c.Labels['brisk.managed']).toBe('true');
    await cluster.stop();
    expect(await containersOf(executorId)).toEqual([]);
  });
});

const servicesAvailable = await distributedServicesAvailable();
describe.skipIf(!available || !servicesAvailable)('Docker executor backend, distributed', () => {
  const executorId = `e2e-dist-docker-${uniqueId()}`;
  skeletonScenarios('distributed, Docker backend', () =>
    startDistributedCluster('docker', { env: { BRISK_EXECUTOR_BACKEND: 'docker', BRISK_EXECUTOR_ID: executorId } }),
  );

  afterAll(async () => {
    expect(await containersOf(executorId)).toEqual([]);
  });
});
