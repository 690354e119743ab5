import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import Dockerode from 'dockerode';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { CONTAINER_PACKAGE_DIR, DockerBackend, type DockerInstance } from '../../executor/docker-backend.js';
import { readActivationLogs } from '../../executor/docker-logs.js';
import { InstanceFailure, type Instance } from '../../executor/types.js';
import { WarmPool } from '../../executor/warm-pool.js';
import type { FunctionVersion } from '../../core/types.js';
import { waitFor } from '../helpers/wait.js';
import type { InitRequest, RunResponse } from '../../runtime/protocol.js';
import { containersOf, cleanupDocker, REPO_ROOT, requireDocker } from '../helpers/docker.js';
import { dockerTest } from '../helpers/fixtures.js';
import { backendContract } from '../contracts/backend-contract.js';

// Real Docker engine. The dockerRuntime fixture gives this file its own image
// tag and executor ids, so parallel runs and earlier crashed runs cannot
// interfere, and removes them after the file. Under CI=true a missing daemon
// fails the file instead of skipping it.

const docker = new Dockerode();
const suffix = randomBytes(4).toString('hex');
const enabled = await requireDocker(docker);
/** The private runtime image (not built yet: the backend's start() builds it). */
let image: string;
let executorId: string;
let leftoverExecutorId: string;
let backend: DockerBackend;
/** Fresh executor ids, their containers removed by the fixture after the file. */
let newExecutorId: (label: string) => string;

function initRequest(code: string, over: Partial<InitRequest> = {}): InitRequest {
  return { namespace: 'it', name: 'fn', version: 1, code, exportName: 'handler', env: {}, timeoutMs: 10_000, memoryMb: 128, ...over };
}

let seq = 0;
function runRequest(payload: unknown, timeoutMs = 10_000) {
  seq += 1;
  return { activationId: `act-${suffix}-${seq}`, payload: JSON.stringify(payload), deadline: Date.now() + timeoutMs };
}

function okResult(res: RunResponse): unknown {
  if (!res.ok) throw new Error(`function failed: ${res.error.errorType}: ${res.error.errorMessage}\n${res.logs.join('\n')}`);
  return JSON.parse(res.resultJson);
}

async function containerGone(id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).inspect();
    return false;
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404;
  }
}

async function newInstance(code: string, memoryMb = 128): Promise<Instance> {
  const inst = await backend.createInstance({ memoryMb, allowEgress: false });
  await inst.init(initRequest(code, { memoryMb }));
  return inst;
}

if (enabled) {
  dockerTest.beforeAll(async ({ dockerRuntime }) => {
    // The fixture refreshed the runtime bundle; start() finds the (unique, hence
    // missing) tag and builds it with the default builder, infra/runtime/build-offline.sh.
    image = dockerRuntime.image;
    newExecutorId = dockerRuntime.executorId;
    executorId = newExecutorId('docker');
    leftoverExecutorId = newExecutorId('lo');
    backend = new DockerBackend({ image, executorId, docker });
    await backend.start();
  });
  afterAll(async () => {
    await backend?.close();
  });
}

beforeEach((ctx) => {
  if (!enabled) ctx.skip();
});

backendContract(
  'DockerBackend',
  async () => {
    const b = new DockerBackend({ image, executorId: newExecutorId('contract'), docker });
    await b.start();
    return b;
  },
  {
    liveInstances: async (b) => (await containersOf(docker, (b as DockerBackend).executorId)).length,
    enabled: () => enabled,
  },
);

describe('DockerBackend (real engine)', () => {
  it('built the missing image on start()', async () => {
    const info = await docker.getImage(image).inspect();
    expect(info.Config.User).toBe('1000:1000');
    expect(info.Config.WorkingDir).toBe('/tmp');
    expect(backend.status).toBe('ready');
  });

  it('start() removes containers a previous run of the same executor left behind', async () => {
    const leftover = await docker.createContainer({
      Image: image,
      Labels: { 'brisk.managed': 'true', 'brisk.executor': leftoverExecutorId },
    });
    const other = new DockerBackend({ image, executorId: leftoverExecutorId, docker });
    await other.start();
    expect(await containerGone(leftover.id)).toBe(true);
    await other.close();
  });

  it('start() fails with ServiceUnavailableError when Docker is unreachable', async () => {
    const broken = new DockerBackend({ image, executorId: `${executorId}-x`, docker: new Dockerode({ socketPath: '/nonexistent/docker.sock' }) });
    await expect(broken.start()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('removeOrphans() removes the containers of dead executors of its own installation only', async () => {
    const installation = `it-inst-${suffix}`;
    const ids = { mine: `${executorId}-r`, dead: `${executorId}-dead`, live: `${executorId}-live` };
    const mine = new DockerBackend({ image, executorId: ids.mine, installation, docker });
    await mine.start();
    const make = (owner: string, inst: string) =>
      docker.createContainer({ Image: image, Labels: { 'brisk.managed': 'true', 'brisk.executor': owner, 'brisk.installation': inst } });
    try {
      const dead = await make(ids.dead, installation);
      const live = await make(ids.live, installation);
      const foreign = await make(ids.dead, `other-${suffix}`); // another installation on the same daemon
      const own = (await mine.createInstance({ memoryMb: 128, allowEgress: false })) as DockerInstance;
      // Too young to judge: an executor that just started may not have been heard yet.
      expect(await mine.removeOrphans(() => false, 60_000)).toBe(0);
      expect(await mine.removeOrphans((id) => id === ids.live, 0)).toBe(1);
      expect(await containerGone(dead.id)).toBe(true);
      expect(await containerGone(live.id)).toBe(false);
      expect(await containerGone(foreign.id)).toBe(false);
      expect(await containerGone(own.container.id)).toBe(false);
      expect((await own.container.inspect()).Config.Labels['brisk.installation']).toBe(installation);
    } finally {
      await mine.close();
      for (const id of Object.values(ids)) await cleanupDocker(docker, id);
    }
  });

  it('an uncaught exception in an executor process removes its containers before the process exits', async () => {
    const id = `${executorId}-fatal`;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'brisk-fatal-'));
    try {
      const script = path.join(dir, 'executor.cjs');
      // The real backend and fatal handler, bundled; packages come from this repo's node_modules (NODE_PATH).
      await build({
        stdin: {
          contents: `
            const { DockerBackend } = require(${JSON.stringify(path.join(REPO_ROOT, 'executor/docker-backend.ts'))});
            const { installFatalHandler, onFatal } = require(${JSON.stringify(path.join(REPO_ROOT, 'cli/fatal.ts'))});
            const { pino } = require('pino');
            (async () => {
              installFatalHandler({ logger: pino({ level: 'silent' }) });
              const backend = new DockerBackend({ image: ${JSON.stringify(image)}, executorId: ${JSON.stringify(id)} });
              await backend.start();
              onFatal(() => backend.close());
              await backend.createInstance({ memoryMb: 128, allowEgress: false });
              await backend.createInstance({ memoryMb: 128, allowEgress: false });
              console.log('READY');
              // What F2 did: a throw in a stream listener, out of any promise chain.
              setTimeout(() => { throw new RangeError('Cannot create a string longer than 0x1fffffe8 characters'); }, 10);
            })();`,
          resolveDir: REPO_ROOT,
          loader: 'ts',
        },
        outfile: script,
        bundle: true,
        platform: 'node',
        format: 'cjs',
        packages: 'external',
        logLevel: 'warning',
      });
      const child = spawn(process.execPath, [script], { env: { ...process.env, NODE_PATH: path.join(REPO_ROOT, 'node_modules') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(out).toContain('READY');
      expect(out).toContain('uncaught exception');
      expect(code).toBe(70);
      expect(await containersOf(docker, id)).toEqual([]);
    } finally {
      await cleanupDocker(docker, id);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('creates a hardened, labelled container and runs /init + /run over the socket', async () => {
    const inst = (await newInstance(
      `export async function handler(event, context) { console.log('hello', event.name); return { greeting: 'hi ' + event.name }; }`,
    )) as DockerInstance;
    try {
      const res = await inst.run(runRequest({ name: 'ada' }), 5000);
      expect(okResult(res)).toEqual({ greeting: 'hi ada' });
      expect(res.logs.join('\n')).toContain('hello ada');

      const info = await inst.container.inspect();
      expect(info.Config.Labels).toMatchObject({ 'brisk.managed': 'true', 'brisk.executor': executorId });
      expect(info.Config.User).toBe('1000:1000');
      const hc = info.HostConfig;
      expect(hc.NetworkMode).toBe('none');
      expect(hc.ReadonlyRootfs).toBe(true);
      expect(hc.CapDrop).toEqual(['ALL']);
      expect(hc.SecurityOpt).toEqual(['no-new-privileges']);
      expect(hc.Memory).toBe(128 * 1024 * 1024);
      expect(hc.MemorySwap).toBe(128 * 1024 * 1024);
      expect(hc.PidsLimit).toBe(64);
      // One container cannot hold thousands of platform API connections (security probe F4).
      expect(hc.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 1024 }]);
      expect(hc.AutoRemove).toBe(false);
      expect(hc.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } });
    } finally {
      await inst.destroy();
    }
    expect(await containerGone(inst.container.id)).toBe(true);
    await inst.destroy(); // idempotent
  });

  it("package files: filled on the host at /init, read-only at /var/task, the function's working directory, gone with the container", async () => {
    const inst = (await backend.createInstance({ memoryMb: 128, allowEgress: false })) as DockerInstance;
    let hostDir = '';
    try {
      const dir = await inst.preparePackage(async (d) => {
        hostDir = d;
        await mkdir(path.join(d, 'views'));
        await writeFile(path.join(d, 'views', 'page.html'), '<p>from the package</p>');
      });
      expect(dir).toBe(CONTAINER_PACKAGE_DIR);
      await inst.init(initRequest(
        `import fs from 'node:fs';
         export async function handler() {
           let write = 'allowed';
           try { fs.writeFileSync('views/owned.html', 'x'); } catch (e) { write = e.code; }
           return { cwd: process.cwd(), page: fs.readFileSync('views/page.html', 'utf8'), write };
         }`,
        { packageDir: dir },
      ));
      expect(okResult(await inst.run(runRequest({}), 5000))).toEqual({ cwd: '/var/task', page: '<p>from the package</p>', write: 'EROFS' });
      await expect(inst.preparePackage(async () => undefined)).rejects.toMatchObject({ code: 'PACKAGE_ALREADY_PREPARED' });
    } finally {
      await inst.destroy();
    }
    expect(existsSync(hostDir)).toBe(false);
  });

  it('sandbox: no network but loopback, read-only root, writable /tmp, non-root user', async () => {
    const inst = await newInstance(`
      import { networkInterfaces } from 'node:os';
      import { readFileSync, writeFileSync } from 'node:fs';
      export async function handler() {
        let rootWrite = 'allowed';
        try { writeFileSync('/escape.txt', 'x'); } catch (e) { rootWrite = e.code; }
        let tmpWrite = 'failed';
        try { writeFileSync('/tmp/ok.txt', 'x'); tmpWrite = readFileSync('/tmp/ok.txt', 'utf8'); } catch (e) { tmpWrite = e.code; }
        const devs = readFileSync('/proc/net/dev', 'utf8').split('\\n').slice(2)
          .map((l) => l.split(':')[0].trim()).filter(Boolean);
        return { interfaces: Object.keys(networkInterfaces()), devs, rootWrite, tmpWrite, uid: process.getuid(), gid: process.getgid() };
      }`);
    try {
      const out = okResult(await inst.run(runRequest({}), 5000)) as Record<string, unknown>;
      expect(out['interfaces']).toEqual(['lo']);
      expect(out['devs']).toEqual(['lo']);
      expect(out['rootWrite']).toBe('EROFS');
      expect(out['tmpWrite']).toBe('x');
      expect(out['uid']).toBe(1000);
      expect(out['gid']).toBe(1000);
    } finally {
      await inst.destroy();
    }
  });

  it('fork bomb is capped by PidsLimit while another instance keeps serving', async () => {
    const bomb = await newInstance(
      `
      import { spawn } from 'node:child_process';
      export async function handler() {
        const kids = [];
        let error = null;
        for (let i = 0; i < 500 && error === null; i++) {
          try {
            const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
            error = await new Promise((resolve) => { c.once('spawn', () => resolve(null)); c.once('error', (e) => resolve(e.code ?? String(e))); });
            if (error === null) kids.push(c);
          } catch (e) { error = e.code ?? String(e); }
        }
        for (const c of kids) c.kill('SIGKILL');
        return { spawned: kids.length, error };
      }`,
      512,
    );
    const bystander = await newInstance(`
      export async function handler(event) {
        let acc = 0;
        const until = Date.now() + event.ms;
        while (Date.now() < until) acc += 1;
        return { done: true };
      }`);
    try {
      const [bombRes, otherRes] = await Promise.all([bomb.run(runRequest({}), 20_000), bystander.run(runRequest({ ms: 300 }), 20_000)]);
      const out = okResult(bombRes) as { spawned: number; error: string | null };
      expect(out.error).toBe('EAGAIN');
      expect(out.spawned).toBeLessThan(64);
      expect(okResult(otherRes)).toEqual({ done: true });
      console.log(`[docker-backend] fork bomb: ${out.spawned} children before ${out.error}`);

      // The bomb's container should survive (its children were killed); if a
      // thread could not be created and it died, the failure must be typed
      // and a fresh instance must work.
      try {
        expect(okResult(await bomb.run(runRequest({}), 20_000))).toMatchObject({ error: 'EAGAIN' });
        console.log('[docker-backend] fork bomb: the container survived and served again');
      } catch (err) {
        expect(err).toBeInstanceOf(InstanceFailure);
        console.log(`[docker-backend] fork bomb: the container died (${(err as InstanceFailure).message}); replacing it`);
        const fresh = await newInstance(`export const handler = async () => 'fine';`);
        expect(okResult(await fresh.run(runRequest({}), 5000))).toBe('fine');
        await fresh.destroy();
      }
    } finally {
      await Promise.all([bomb.destroy(), bystander.destroy()]);
    }
  });

  it('pause() and resume() freeze and thaw an instance', async () => {
    const inst = (await newInstance(`let n = 0; export const handler = async () => ++n;`)) as DockerInstance;
    try {
      expect(okResult(await inst.run(runRequest({}), 5000))).toBe(1);
      await inst.pause!();
      expect((await inst.container.inspect()).State.Paused).toBe(true);
      await inst.resume!();
      expect(okResult(await inst.run(runRequest({}), 5000))).toBe(2);
    } finally {
      await inst.destroy();
    }
  });

  it('readActivationLogs() cuts output of child processes per activation (a backend with logMarkers)', async () => {
    const marking = new DockerBackend({ image, executorId: newExecutorId('markers'), docker, logMarkers: true });
    await marking.start();
    const inst = (await marking.createInstance({ memoryMb: 128, allowEgress: false })) as DockerInstance;
    await inst.init(initRequest(`
      import { spawnSync } from 'node:child_process';
      export async function handler(event) {
        spawnSync(process.execPath, ['-e', 'console.log("child says " + process.argv[1]); console.error("child warns")', event.word], { stdio: 'inherit' });
        return 'ok';
      }`));
    try {
      const since = Date.now();
      await inst.run(runRequest({ word: 'one' }), 5000);
      await inst.run(runRequest({ word: 'two' }), 5000);
      const segments = await readActivationLogs(docker, inst.container, since);
      expect(segments.map((s) => s.stdout.filter((l) => l.startsWith('child says')))).toEqual([['child says one'], ['child says two']]);
      expect(segments.map((s) => s.stderr.filter((l) => l.startsWith('child warns')))).toEqual([['child warns'], ['child warns']]);
    } finally {
      await inst.destroy();
      await marking.close();
    }
  });

  it('prints no activation markers on the container log by default (logs ride in the /run answer)', async () => {
    const inst = (await newInstance(`export async function handler() { console.log('in the answer'); return 1; }`)) as DockerInstance;
    try {
      const since = Date.now();
      const res = await inst.run(runRequest({}), 5000);
      expect(okResult(res)).toBe(1);
      expect(res.logs).toContain('in the answer');
      expect(await readActivationLogs(docker, inst.container, since)).toEqual([]);
    } finally {
      await inst.destroy();
    }
  });

  it('allowEgress uses the bridge network and still talks over the socket', async () => {
    const inst = (await backend.createInstance({ memoryMb: 128, allowEgress: true })) as DockerInstance;
    try {
      await inst.init(initRequest(`import { networkInterfaces } from 'node:os'; export const handler = async () => Object.keys(networkInterfaces()).sort();`));
      const out = okResult(await inst.run(runRequest({}), 5000)) as string[];
      expect(out).toContain('eth0');
      expect((await inst.container.inspect()).HostConfig.NetworkMode).toBe('bridge');
    } finally {
      await inst.destroy();
    }
  });

});

describe('WarmPool over Docker: one generic pool for every memory size', () => {
  const fn = (name: string, memoryMb: number, code: string): FunctionVersion & { code: string } => ({
    namespace: 'it', name, version: 1, handler: 'index.handler', memoryMb, timeoutMs: 20_000, env: {},
    maxConcurrency: 0, retries: 0, allowEgress: false, codeHash: name, codeSize: 1, exportName: 'handler', createdAt: '2026-12-01T00:00:00.000Z', code,
  });

  async function withPool(body: (pool: WarmPool) => Promise<void>): Promise<void> {
    const own = new DockerBackend({ image, executorId: newExecutorId('resize'), docker });
    await own.start();
    const pool = new WarmPool({
      backend: own,
      prepareInit: async (f) => ({ code: (f as FunctionVersion & { code: string }).code }),
      memoryMb: 2048,
      idleTtlMs: 60_000,
      poolSize: 1,
      poolMax: 0,
      poolMemorySizes: [256],
    });
    try {
      pool.start();
      await waitFor(() => pool.stats().pool['256'] === 1, 20_000, 10);
      await body(pool);
    } finally {
      await pool.close(0);
      await own.close();
    }
    expect(await containersOf(docker, own.executorId)).toEqual([]);
  }

  it('a function with a non-default memoryMb gets a pre-started container (startKind pool), its limits set to its size', async () => {
    await withPool(async (pool) => {
      const a = await pool.acquire(fn('small', 128, 'export const handler = async () => 42;'));
      expect(a.startKind).toBe('pool');
      const info = await (a.instance as DockerInstance).container.inspect();
      expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);
      expect(info.HostConfig.MemorySwap).toBe(128 * 1024 * 1024);
      expect(a.instance.spec.memoryMb).toBe(128);
      expect(okResult(await a.instance.run(runRequest({}), 5000))).toBe(42);
      pool.release(a.instance, { healthy: true });
    });
  });

  it('OOM is reported for the resized size: 160 MB of buffers kill a 96 MB function in a container pre-started at 256 MB', async () => {
    // Buffers live outside the V8 heap: only the container's cgroup limit stops them.
    const hog = `export const handler = async () => { const keep = []; for (let i = 0; i < 16; i++) keep.push(Buffer.alloc(10 * 1024 * 1024, 1)); return keep.length; };`;
    await withPool(async (pool) => {
      const a = await pool.acquire(fn('hog', 96, hog));
      expect(a.startKind).toBe('pool');
      const err = await a.instance.run(runRequest({}), 20_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InstanceFailure);
      expect((err as InstanceFailure).fault).toEqual({ kind: 'oom' });
      pool.release(a.instance, { healthy: false });
      // The same handler fits in a function given more memory than it needs, also from the pool.
      await waitFor(() => pool.stats().pool['256'] === 1, 20_000, 10);
      const b = await pool.acquire(fn('roomy', 512, hog));
      expect(b.startKind).toBe('pool');
      expect((await (b.instance as DockerInstance).container.inspect()).HostConfig.Memory).toBe(512 * 1024 * 1024);
      expect(okResult(await b.instance.run(runRequest({}), 20_000))).toBe(16);
      pool.release(b.instance, { healthy: true });
    });
  });
});
