import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { bundleRuntimeTo } from '../helpers/runtime-bundle.js';
import { backendContract } from '../contracts/backend-contract.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, waitForValue } from '../helpers/wait.js';
import type { Logger } from '../../core/logger.js';
import type { FunctionVersion } from '../../core/types.js';
import { ProcessBackend, type ProcessInstance } from '../../executor/process-backend.js';
import { WarmPool } from '../../executor/warm-pool.js';
import { InstanceFailure, type Instance } from '../../executor/types.js';
import {
  ACTIVATION_END_MARKER,
  ACTIVATION_START_MARKER,
  LOG_TRUNCATED_MARKER,
  MAX_LOG_BYTES,
  type InitRequest,
  type RunResponse,
} from '../../runtime/protocol.js';

/**
 * Real child processes running the real runtime. The runtime is bundled from
 * source into a temp dir (same esbuild options as build.mjs), so the test
 * always exercises the current code and does not depend on the CLI building.
 */
let workDir: string;
let runtimePath: string;
let backend: ProcessBackend;
const repoRoot = path.resolve(import.meta.dirname, '../..');

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'brisk-proc-test-'));
  runtimePath = await bundleRuntimeTo(path.join(workDir, 'runtime/server.mjs'));
  backend = new ProcessBackend({ runtimePath });
  await backend.start();
});

afterAll(async () => {
  await backend?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function initReq(code: string, over: Partial<InitRequest> = {}): InitRequest {
  return { namespace: 'default', name: 'fn', version: 1, code, exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128, ...over };
}

let seq = 0;
function run(instance: Instance, payload: unknown, timeoutMs = 5000): Promise<RunResponse> {
  return instance.run({ activationId: `act-${++seq}`, payload: JSON.stringify(payload), deadline: Date.now() + timeoutMs }, timeoutMs);
}

async function loaded(code: string, over: Partial<InitRequest> = {}): Promise<Instance> {
  const inst = await backend.createInstance({ memoryMb: over.memoryMb ?? 128, allowEgress: false });
  await inst.init(initReq(code, over));
  return inst;
}

/** Running, not a zombie: an orphan's zombie lingers until PID 1 gets round to reaping it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return !existsSync('/proc');
  }
}

async function waitDead(pids: number[], timeoutMs = 5000): Promise<void> {
  await waitFor(() => !pids.some(alive), timeoutMs).catch(() => {
    throw new Error(`still alive: ${pids.filter(alive).join(', ')}`);
  });
}

backendContract(
  'ProcessBackend',
  async () => {
    const b = new ProcessBackend({ runtimePath });
    await b.start();
    return b;
  },
  {
    // Counted from outside: every child pid the backend ever reported, still alive.
    liveInstances: async (b) => {
      const seen = seenPids.get(b) ?? new Set<number>();
      seenPids.set(b, seen);
      for (const pid of (b as ProcessBackend).pids()) seen.add(pid);
      return [...seen].filter(alive).length;
    },
  },
);
const seenPids = new WeakMap<object, Set<number>>();

describe('ProcessBackend + runtime server', () => {
  it('runs a Lambda-style async handler with event, context and env', async () => {
    const inst = await loaded(
      `export const handler = async (event, context) => ({
        sum: event.a + event.b,
        id: context.activationId,
        name: context.functionName,
        version: context.functionVersion,
        mem: context.memoryLimitInMB,
        remaining: context.getRemainingTimeInMillis(),
        greeting: process.env.GREETING,
      });`,
      { env: { GREETING: 'hi' }, name: 'adder', version: 3 },
    );
    const res = await run(inst, { a: 2, b: 40 });
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const out = JSON.parse(res.resultJson) as Record<string, unknown>;
    expect(out).toMatchObject({ sum: 42, id: `act-${seq}`, name: 'adder', version: '3', mem: 128, greeting: 'hi' });
    expect(out['remaining']).toBeGreaterThan(0);
    expect(out['remaining']).toBeLessThanOrEqual(5000);
    expect(res.durationMs).toBeGreaterThanOrEqual(0);
    // Many runs on one instance.
    for (let i = 0; i < 5; i++) {
      const r = await run(inst, { a: i, b: 1 });
      expect(r.ok && JSON.parse(r.resultJson)).toMatchObject({ sum: i + 1 });
    }
    await inst.destroy();
  });

  it('runs an OpenWhisk main(params) under a fallback export name', async () => {
    const inst = await loaded(`export function main(params) { return { payload: 'Hello, ' + params.name }; }`, { exportName: 'main' });
    const res = await run(inst, { name: 'world' });
    expect(res).toMatchObject({ ok: true, resultJson: '{"payload":"Hello, world"}' });
    await inst.destroy();
  });

  it("package files: a private directory filled before /init, the function's working directory, removed with the instance", async () => {
    const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
    let hostDir = '';
    try {
      const dir = await inst.preparePackage(async (d) => {
        hostDir = d;
        await writeFile(path.join(d, 'data.json'), '{"from":"the package"}');
      });
      expect(dir).toBe(hostDir);
      await inst.init(initReq("import fs from 'node:fs';\nexport const handler = async () => ({ cwd: process.cwd(), data: JSON.parse(fs.readFileSync('data.json', 'utf8')) });", { packageDir: dir }));
      const res = await run(inst, {});
      expect(res.ok && JSON.parse(res.resultJson)).toEqual({ cwd: hostDir, data: { from: 'the package' } });
    } finally {
      await inst.destroy();
    }
    expect(existsSync(hostDir)).toBe(false);
  });

  it('runs a callback-style handler, and a CommonJS bundle that requires builtins', async () => {
    const cb = await loaded(`export const handler = (event, context, callback) => { setTimeout(() => callback(null, { doubled: event.n * 2 }), 5); };`);
    expect(await run(cb, { n: 21 })).toMatchObject({ ok: true, resultJson: '{"doubled":42}' });
    const cbErr = await loaded(`export const handler = (event, context, callback) => callback(new RangeError('out of range'));`);
    expect(await run(cbErr, {})).toMatchObject({ ok: false, error: { errorType: 'RangeError', errorMessage: 'out of range' } });

    // What the bundler produces for `exports.handler = …` with a require of a builtin.
    const bundled = await build({
      stdin: { contents: `const os = require('os'); exports.handler = async (e) => ({ cjs: true, eol: os.EOL === '\\n', e });`, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
    });
    const cjs = await loaded(bundled.outputFiles[0]!.text);
    expect(await run(cjs, { x: 1 })).toMatchObject({ ok: true, resultJson: '{"cjs":true,"eol":true,"e":{"x":1}}' });
    await Promise.all([cb.destroy(), cbErr.destroy(), cjs.destroy()]);
  });

  it('fails the activation on an error escaping asynchronously, and keeps serving', async () => {
    const inst = await loaded(`
      let n = 0;
      export const handler = (event) => {
        n++;
        if (event.escape) return new Promise(() => setTimeout(() => { throw new SyntaxError('escaped ' + n); }, 5));
        if (event.unhandled) { Promise.reject(new Error('unhandled ' + n)); return new Promise(() => {}); }
        return { n };
      };`);
    expect(await run(inst, { escape: true })).toMatchObject({ ok: false, error: { errorType: 'SyntaxError', errorMessage: 'escaped 1' } });
    expect(await run(inst, { unhandled: true })).toMatchObject({ ok: false, error: { errorMessage: 'unhandled 2' } });
    expect(await run(inst, {})).toMatchObject({ ok: true, resultJson: '{"n":3}' });
    await inst.destroy();
  });

  it('captures console and stream output per activation', async () => {
    const inst = await loaded(`export const handler = async (e) => {
      console.log('hello', e.who);
      console.error('an error line');
      process.stdout.write('raw out\\nsecond ');
      process.stdout.write('line\\n');
      console.warn({ nested: { ok: true } });
      return null;
    };`);
    const res = await run(inst, { who: 'logs' });
    expect(res.logs).toEqual(['hello logs', 'an error line', 'raw out', 'second line', '{ nested: { ok: true } }']);
    expect(res.logsTruncated).toBe(false);
    expect(res).toMatchObject({ ok: true, resultJson: 'null' });
    // The next activation starts with an empty log.
    expect((await run(inst, { who: 'again' })).logs[0]).toBe('hello again');
    await inst.destroy();
  });

  it('truncates a 100 MB log flood without dying', async () => {
    const inst = await loaded(`export const handler = async () => {
      const mb = 'x'.repeat(1023) + '\\n';
      const chunk = mb.repeat(1024);
      for (let i = 0; i < 100; i++) process.stdout.write(chunk);
      for (let i = 0; i < 1000; i++) console.log('line', i);
      return 'flooded';
    };`);
    const t0 = Date.now();
    const res = await run(inst, {}, 30_000);
    expect(res).toMatchObject({ ok: true, resultJson: '"flooded"', logsTruncated: true });
    expect(res.logs[res.logs.length - 1]).toBe(LOG_TRUNCATED_MARKER);
    const kept = res.logs.slice(0, -1).join('\n');
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(MAX_LOG_BYTES);
    expect(Buffer.byteLength(kept)).toBeGreaterThan(MAX_LOG_BYTES - 2048);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const next = await run(inst, {}, 30_000);
    expect(next.ok).toBe(true);
    await inst.destroy();
  });

  it('turns a non-serialisable result into ResultNotSerializable, undefined into null', async () => {
    const inst = await loaded(`export const handler = async (e) => {
      if (e.kind === 'cycle') { const o = {}; o.self = o; return o; }
      if (e.kind === 'bigint') return { n: 10n };
      return undefined;
    };`);
    expect(await run(inst, { kind: 'cycle' })).toMatchObject({ ok: false, error: { errorType: 'ResultNotSerializable' } });
    expect(await run(inst, { kind: 'bigint' })).toMatchObject({ ok: false, error: { errorType: 'ResultNotSerializable' } });
    expect(await run(inst, { kind: 'none' })).toMatchObject({ ok: true, resultJson: 'null' });
    await inst.destroy();
  });

  it('kills an instance that exceeds its timeout and rejects with kind timeout', async () => {
    const inst = await loaded(`export const handler = async (e) => { if (e.spin) { for (;;) {} } return new Promise(() => {}); };`);
    const pid = (inst as ProcessInstance).pid!;
    expect(alive(pid)).toBe(true);
    const t0 = Date.now();
    const err = await run(inst, { spin: true }, 300).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(InstanceFailure);
    expect((err as InstanceFailure).fault).toEqual({ kind: 'timeout' });
    await waitDead([pid], 1000);
    // Later calls fail fast instead of hanging.
    await expect(run(inst, {})).rejects.toBeInstanceOf(InstanceFailure);
    await inst.destroy();
  });

  it('fails start() and createInstance with a PlatformError when the runtime is missing', async () => {
    const bad = new ProcessBackend({ runtimePath: path.join(workDir, 'nope.mjs'), readyTimeoutMs: 2000 });
    await expect(bad.start()).rejects.toMatchObject({ code: 'RUNTIME_MISSING' });
    await expect(bad.createInstance({ memoryMb: 128, allowEgress: false })).rejects.toMatchObject({ code: 'INSTANCE_START_FAILED' });
    await bad.close();
  });

  it('serves warm, pool and cold starts through a WarmPool', async () => {
    const own = new ProcessBackend({ runtimePath });
    const fn = (name: string, memoryMb: number): FunctionVersion => ({
      namespace: 'default', name, version: 1, handler: 'index.handler', memoryMb, timeoutMs: 5000, env: { WHO: name },
      maxConcurrency: 0, retries: 0, allowEgress: false, codeHash: name, codeSize: 1, exportName: 'handler', createdAt: '2026-12-01T00:00:00.000Z', // one version: the warm pool keys instances by it
    });
    const pool = new WarmPool({
      backend: own,
      prepareInit: async () => ({ code: `export const handler = async () => process.env.WHO;` }),
      memoryMb: 1024,
      idleTtlMs: 60_000,
      poolSize: 1,
      poolMax: 0,
      poolMemorySizes: [128],
    });
    try {
      pool.start();
      await waitFor(() => pool.stats().pool['128'] === 1, 5000, 10);
      const a = await pool.acquire(fn('a', 128));
      expect(a.startKind).toBe('pool');
      expect(await run(a.instance, {})).toMatchObject({ ok: true, resultJson: '"a"' });
      pool.release(a.instance, { healthy: true });
      const again = await pool.acquire(fn('a', 128));
      expect(again).toMatchObject({ instance: a.instance, startKind: 'warm' });
      expect(again.startMs).toBeLessThan(a.startMs);
      const b = await pool.acquire(fn('b', 256));
      expect(b.startKind).toBe('cold');
      expect(await run(b.instance, {})).toMatchObject({ ok: true, resultJson: '"b"' });
      pool.release(again.instance, { healthy: true });
      pool.release(b.instance, { healthy: false });
    } finally {
      await pool.close(0);
      await own.close();
    }
    expect(own.size).toBe(0);
  });

  it('reaches each child over its own unix socket in a directory private to it, removed with it', async () => {
    const own = new ProcessBackend({ runtimePath });
    await own.start();
    const a = (await own.createInstance({ memoryMb: 128, allowEgress: false })) as ProcessInstance;
    const b = (await own.createInstance({ memoryMb: 128, allowEgress: false })) as ProcessInstance;
    const pa = a.address && 'socketPath' in a.address ? a.address.socketPath : '';
    const pb = b.address && 'socketPath' in b.address ? b.address.socketPath : '';
    expect(pa).toMatch(/\.sock$/);
    expect(pb).toMatch(/\.sock$/);
    expect(path.dirname(pa)).toBe(a.dir);
    expect(path.dirname(pb)).toBe(b.dir);
    expect(a.dir).not.toBe(b.dir);
    for (const dir of [a.dir, b.dir]) expect(statSync(dir).mode & 0o777).toBe(0o700);
    // The bundle /init writes goes to the instance's own directory, and goes with it (it used to leak in /tmp).
    await a.init(initReq(`export const handler = async (e) => ({ n: e.x + 1, file: import.meta.url, tmp: (await import('node:os')).tmpdir() });`));
    const res = await run(a, { x: 41 });
    expect(res.ok).toBe(true);
    const out = JSON.parse((res as { resultJson: string }).resultJson) as { n: number; file: string; tmp: string };
    expect(out.n).toBe(42);
    expect(new URL(out.file).pathname.startsWith(`${a.dir}/code/brisk-fn-`)).toBe(true);
    expect(out.tmp).toBe(`${a.dir}/tmp`);
    await a.destroy();
    expect(existsSync(pa)).toBe(false);
    expect(existsSync(a.dir)).toBe(false);
    await own.close();
    expect(existsSync(b.dir)).toBe(false);
    expect(existsSync(path.dirname(b.dir))).toBe(false);
  });

  it('without per-instance uids (not root, or turned off): warns at start, and still pauses, resumes and kills the process group', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, msg: string) => void warnings.push(msg), info: () => undefined, debug: () => undefined } as unknown as Logger;
    const own = new ProcessBackend({ runtimePath, uidRange: 'off', logger });
    await own.start();
    expect(own.isolatesUids).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/environment/);
    try {
      const inst = (await own.createInstance({ memoryMb: 128, allowEgress: false })) as ProcessInstance;
      expect(inst.uid).toBeUndefined();
      await inst.init(initReq(`import { spawn } from 'node:child_process';
        export const handler = async () => ({ me: process.getuid(), child: spawn('sleep', ['293'], { stdio: 'ignore' }).pid });`));
      const out = JSON.parse((await run(inst, {}) as { resultJson: string }).resultJson) as { me: number; child: number };
      expect(out.me).toBe(process.getuid?.());
      const state = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0]!;
      await inst.pause();
      // A signal to another process is delivered asynchronously: wait for both to show it.
      await expect.poll(() => [state(inst.pid as number), state(out.child)], { timeout: 2000, interval: 10 }).toEqual(['T', 'T']);
      await inst.resume();
      expect(await run(inst, {})).toMatchObject({ ok: true });
      await inst.destroy();
      await waitDead([out.child]);
    } finally {
      await own.close();
    }
  });

  describe('runtime server protocol (spoken directly)', () => {
    async function startRuntime(
      env: Record<string, string>,
    ): Promise<{ kill: () => void; ready: string; stdout: () => string; stderr: () => string; closed: Promise<void> }> {
      const child = spawn(process.execPath, [runtimePath], { stdio: ['ignore', 'pipe', 'pipe'], env });
      // 'close': the process has exited and everything it wrote has been read.
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      let out = '';
      const ready = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /BRISK_RUNTIME_READY (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`runtime exited ${code}: ${out}`)));
      });
      child.stdout.resume();
      return { kill: () => child.kill('SIGKILL'), ready, stdout: () => out, stderr: () => err, closed };
    }

    function request(target: { socketPath: string } | { port: number }, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
      return new Promise((resolve, reject) => {
        const text = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(
          { ...('port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }), method, path: urlPath, agent: false, headers: { 'content-type': 'application/json' } },
          (res) => {
            let data = '';
            res.on('data', (c: Buffer) => (data += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as Record<string, unknown> }));
          },
        );
        req.on('error', reject);
        req.end(text);
      });
    }

    it('listens on BRISK_RUNTIME_SOCKET (mode 0666) and serves /healthz, /init, /run there', async () => {
      const socketPath = path.join(workDir, 'rt.sock');
      await writeFile(socketPath, 'stale');
      const rt = await startRuntime({ BRISK_RUNTIME_SOCKET: socketPath, BRISK_RUNTIME_CODE_DIR: workDir, BRISK_RUNTIME_WARM_UP: '1' });
      try {
        expect(rt.ready).toBe(socketPath);
        expect(statSync(socketPath).mode & 0o777).toBe(0o666);
        // Its warm-up before READY (a module imported and run, requests to itself) left no file and loaded nothing.
        expect(readdirSync(workDir).filter((f) => f.startsWith('brisk-'))).toEqual([]);
        expect(await request({ socketPath }, 'GET', '/healthz')).toMatchObject({ status: 200, body: { ok: true, state: 'none' } });
        const init = await request({ socketPath }, 'POST', '/init', initReq(`export const handler = async (e) => e.v * 2;`));
        expect(init).toMatchObject({ status: 200, body: { ok: true, exportName: 'handler', style: 'promise' } });
        const res = await request({ socketPath }, 'POST', '/run', { activationId: 'x1', payload: '{"v":4}', deadline: Date.now() + 1000 });
        expect(res).toMatchObject({ status: 200, body: { ok: true, resultJson: '8' } });
        expect(res.body['logs']).toEqual([]);
        // Markers are on (the default): the real activation has its pair, the warm-up's runs none.
        rt.kill();
        await rt.closed;
        expect(rt.stdout()).toContain(`${ACTIVATION_START_MARKER} x1`);
        expect(rt.stdout() + rt.stderr()).not.toContain('warm-up');
      } finally {
        rt.kill();
      }
    });

    it('a pre-start found through /healthz (as the Docker backend finds it) is not loaded during its warm-up, so the warm-up never runs the function', async () => {
      const socketPath = path.join(workDir, 'warming.sock');
      const child = spawn(process.execPath, [runtimePath], {
        stdio: ['ignore', 'pipe', 'ignore'],
        env: { BRISK_RUNTIME_SOCKET: socketPath, BRISK_RUNTIME_CODE_DIR: workDir, BRISK_RUNTIME_WARM_UP: '1' },
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        // The first answer the socket gives, READY or not: connection refused until it listens.
        const first = await waitForValue(() => request({ socketPath }, 'GET', '/healthz').catch(() => undefined), 10_000, 'the runtime listening', 1);
        if (!out.includes('BRISK_RUNTIME_READY')) expect(first).toMatchObject({ status: 503, body: { ok: false, state: 'warming' } });
        // A counter: every activation of this module in this process adds one.
        const init = await request({ socketPath }, 'POST', '/init', initReq(`let n = 0; export const handler = async () => ++n;`));
        expect(init).toMatchObject({ status: 200, body: { ok: true } });
        expect(out).toContain('BRISK_RUNTIME_READY');
        const res = await request({ socketPath }, 'POST', '/run', { activationId: 'w1', payload: '{}', deadline: Date.now() + 1000 });
        expect(res).toMatchObject({ status: 200, body: { ok: true, resultJson: '1' } });
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('marks each activation on the real stdout and stderr, unless BRISK_RUNTIME_LOG_MARKERS=0', async () => {
      const code = `export const handler = async () => { console.log('said'); return 1; };`;
      for (const markers of [true, false]) {
        const rt = await startRuntime({
          BRISK_RUNTIME_PORT: '0',
          BRISK_RUNTIME_HOST: '127.0.0.1',
          BRISK_RUNTIME_CODE_DIR: workDir,
          ...(markers ? {} : { BRISK_RUNTIME_LOG_MARKERS: '0' }),
        });
        const target = { port: Number(rt.ready) };
        try {
          await request(target, 'POST', '/init', initReq(code));
          const res = await request(target, 'POST', '/run', { activationId: `m-${markers}`, payload: '{}', deadline: Date.now() + 1000 });
          // The function's own output is captured into the answer either way.
          expect(res).toMatchObject({ status: 200, body: { ok: true, resultJson: '1' } });
          expect(JSON.stringify(res.body['logs'])).toContain('said');
          // Read everything the runtime wrote: stop it and wait until its pipes are drained.
          rt.kill();
          await rt.closed;
          for (const stream of [rt.stdout(), rt.stderr()]) {
            expect(stream.includes(`${ACTIVATION_START_MARKER} m-${markers}`)).toBe(markers);
            expect(stream.includes(`${ACTIVATION_END_MARKER} m-${markers}`)).toBe(markers);
          }
        } finally {
          rt.kill();
        }
      }
    });

    it('answers 409 BUSY to a concurrent /run, keeps answering /healthz, and 404 elsewhere', async () => {
      const rt = await startRuntime({ BRISK_RUNTIME_PORT: '0', BRISK_RUNTIME_HOST: '127.0.0.1', BRISK_RUNTIME_CODE_DIR: workDir, BRISK_RUNTIME_WARM_UP: '1' });
      const target = { port: Number(rt.ready) };
      try {
        expect(await request(target, 'POST', '/run', { activationId: 'early', payload: '{}', deadline: Date.now() + 1000 })).toMatchObject({
          status: 400,
          body: { error: { code: 'NOT_INITIALIZED' } },
        });
        await request(target, 'POST', '/init', initReq(`export const handler = (e) => new Promise((r) => setTimeout(() => r(e.n), 200));`));
        const slow = request(target, 'POST', '/run', { activationId: 'slow', payload: '{"n":1}', deadline: Date.now() + 1000 });
        await waitFor(async () => (await request(target, 'GET', '/healthz')).body['busy'] === true, 2000, 5);
        expect(await request(target, 'POST', '/run', { activationId: 'second', payload: '{"n":2}', deadline: Date.now() + 1000 })).toMatchObject({
          status: 409,
          body: { error: { code: 'BUSY' } },
        });
        expect(await request(target, 'GET', '/healthz')).toMatchObject({ status: 200, body: { ok: true, busy: true } });
        expect(await slow).toMatchObject({ status: 200, body: { ok: true, resultJson: '1' } });
        expect(await request(target, 'GET', '/nope')).toMatchObject({ status: 404 });
        expect(await request(target, 'POST', '/run', { activationId: 'bad', payload: '{not json', deadline: 0 })).toMatchObject({
          status: 400,
          body: { error: { code: 'BAD_PAYLOAD' } },
        });
      } finally {
        rt.kill();
      }
    });
  });

  describe('children die with their parent', () => {
    let parentScript: string;
    beforeAll(async () => {
      const backendBundle = path.join(workDir, 'process-backend.mjs');
      await build({
        entryPoints: [path.join(repoRoot, 'executor/process-backend.ts')],
        outfile: backendBundle,
        bundle: true,
        platform: 'node',
        format: 'esm',
        logLevel: 'warning',
      });
      parentScript = path.join(workDir, 'parent.mjs');
      await writeFile(
        parentScript,
        `import { ProcessBackend } from ${JSON.stringify(backendBundle)};
const b = new ProcessBackend({ runtimePath: ${JSON.stringify(runtimePath)} });
const insts = [await b.createInstance({ memoryMb: 128, allowEgress: false }), await b.createInstance({ memoryMb: 128, allowEgress: false })];
if (process.argv[2] === 'pause') await insts[0].pause();
console.log('PIDS ' + insts.map((i) => i.pid).join(','));
if (process.argv[2] === 'exit') process.exit(0);
setInterval(() => {}, 1000);
`,
      );
    });

    async function startParent(mode: string): Promise<{ pid: number; children: number[] }> {
      const parent = spawn(process.execPath, [parentScript, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      const children = await new Promise<number[]>((resolve, reject) => {
        parent.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /PIDS ([\d,]+)/.exec(out);
          if (m) resolve(m[1]!.split(',').map(Number));
        });
        parent.on('exit', (code) => {
          if (!/PIDS/.test(out)) reject(new Error(`parent exited ${code}`));
        });
      });
      return { pid: parent.pid!, children };
    }

    it('on a normal process.exit of the parent', async () => {
      const { children } = await startParent('exit');
      expect(children).toHaveLength(2);
      await waitDead(children, 1000);
    });

    it('on a SIGKILL of the parent', async () => {
      const { pid, children } = await startParent('stay');
      expect(children.every(alive)).toBe(true);
      process.kill(pid, 'SIGKILL');
      await waitDead(children, 1000);
    });

    it('on a SIGKILL of the parent while one was paused: the next process backend to start kills it', async () => {
      const { pid, children } = await startParent('pause');
      expect(children.every(alive)).toBe(true);
      process.kill(pid, 'SIGKILL');
      // The running one reads EOF on stdin and exits; the paused one reads nothing and stays stopped.
      await waitDead([children[1]!], 1000);
      const next = new ProcessBackend({ runtimePath });
      try {
        await next.start();
        await waitDead(children, 1000);
      } finally {
        await next.close();
      }
    });
  });
});
