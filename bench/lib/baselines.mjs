/**
 * The baselines measured in the same run as Brisk:
 *
 *  - floor: warm runtime instances reached directly over HTTP with nothing in
 *    between — a container of `brisk-runtime:latest` created with the same
 *    hardening as the Docker backend (unix socket in a bind-mounted dir), or
 *    the same runtime as a child process on TCP (the process backend's floor).
 *    `POST /init` once, then `POST /run` is what is timed. Whatever a platform
 *    adds sits above this.
 *  - `docker run` per invocation: the naive platform (a fresh container for
 *    every event, `--rm`, no network, the handler read from a bind mount).
 *  - serverless-offline 13 on serverless 3 (bench/baselines/serverless-offline):
 *    the same handler files through its Lambda Invoke API.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { build } from 'esbuild';
import { stopRole } from './brisk.mjs';
import { freePort } from './services.mjs';

const execFileAsync = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const REPO = path.resolve(import.meta.dirname, '../..');
const docker = new Dockerode();

/** esbuild the handler file the way Brisk's deploy does (ESM bundle, node built-ins external). */
export async function bundleHandler(file) {
  const out = await build({ entryPoints: [file], bundle: true, platform: 'node', target: 'node20', format: 'esm', write: false, logLevel: 'silent' });
  return out.outputFiles[0].text;
}

function request({ socketPath, host = '127.0.0.1', port, method = 'GET', path: p, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { ...(socketPath ? { socketPath } : { host, port }), method, path: p, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

async function waitHealthy(addr, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await request({ ...addr, path: '/healthz' });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`runtime at ${JSON.stringify(addr)} not healthy in ${timeoutMs} ms`);
    await sleep(5);
  }
}

function initBody(name, code) {
  return JSON.stringify({ namespace: 'bench', name, version: 1, code, exportName: 'handler', env: {}, timeoutMs: 30_000, memoryMb: 256 });
}

/** The /run body the loadgen sends over and over (the runtime takes one activation at a time). */
export function runBody(eventJson) {
  return JSON.stringify({ activationId: 'bench', payload: eventJson, deadline: Date.now() + 3_600_000 });
}

/**
 * `count` warm runtime containers loaded with `code`. Returns
 * { targets: [{socketPath}], pids: () => number[], stop }.
 */
export async function startFloorContainers({ image, code, count, name, readyTimeoutMs = 15_000 }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bbf-'));
  chmodSync(dir, 0o755);
  const containers = [];
  const targets = [];
  const stop = async () => {
    await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const sub = path.join(dir, String(i));
        mkdirSync(sub);
        chmodSync(sub, 0o777);
        // The Docker backend's hardening (executor/docker-backend.ts containerOptions), so the floor pays the same container costs.
        const c = await docker.createContainer({
          name: `brisk-bench-floor-${randomBytes(6).toString('hex')}`,
          Image: image,
          User: '1000:1000',
          WorkingDir: '/tmp',
          // As both backends run it: no activation markers on the container's log (logs ride in each /run answer).
          Env: ['BRISK_RUNTIME_SOCKET=/run/brisk/rt.sock', 'NODE_ENV=production', 'BRISK_RUNTIME_LOG_MARKERS=0'],
          Labels: { 'brisk.bench': 'floor' },
          NetworkDisabled: true,
          HostConfig: {
            NetworkMode: 'none',
            Binds: [`${sub}:/run/brisk:rw`],
            Memory: 256 * 1024 * 1024,
            MemorySwap: 256 * 1024 * 1024,
            CpuShares: 128,
            PidsLimit: 64,
            ReadonlyRootfs: true,
            Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=64m' },
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
            Init: true,
          },
        });
        containers.push(c);
        await c.start();
        const socketPath = path.join(sub, 'rt.sock');
        await waitHealthy({ socketPath }, readyTimeoutMs);
        const r = await request({ socketPath, method: 'POST', path: '/init', body: initBody(name, code) });
        if (r.status !== 200) throw new Error(`floor /init: ${r.status} ${r.text}`);
        targets.push({ socketPath, pidContainer: c });
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const pids = [];
  for (const t of targets) {
    const info = await t.pidContainer.inspect();
    pids.push(info.State.Pid);
  }
  return { targets: targets.map((t) => ({ socketPath: t.socketPath })), rootPids: pids, stop };
}

/** `count` runtime child processes on TCP, loaded with `code` (the process backend's floor). */
export async function startFloorProcesses({ code, count, name, root = REPO, readyTimeoutMs = 15_000 }) {
  const runtime = path.join(root, 'dist/runtime/server.mjs');
  const children = [];
  const targets = [];
  const stop = async () => {
    for (const c of children) c.kill('SIGKILL');
  };
  try {
    await Promise.all(
      Array.from({ length: count }, async () => {
        const port = await freePort();
        const child = spawn(process.execPath, ['--max-old-space-size=256', runtime], {
          env: { PATH: process.env.PATH, BRISK_RUNTIME_PORT: String(port), BRISK_RUNTIME_HOST: '127.0.0.1', NODE_ENV: 'production', BRISK_RUNTIME_LOG_MARKERS: '0' },
          stdio: 'ignore',
        });
        children.push(child);
        await waitHealthy({ port }, readyTimeoutMs);
        const r = await request({ port, method: 'POST', path: '/init', body: initBody(name, code) });
        if (r.status !== 200) throw new Error(`floor /init: ${r.status} ${r.text}`);
        targets.push({ host: '127.0.0.1', port });
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { targets, rootPids: children.map((c) => c.pid), stop };
}

/**
 * The naive platform: `docker run --rm` per event. Returns { invoke(eventJson) → ms, stop }.
 * The handler file and a 10-line wrapper are bind-mounted read-only.
 */
export function dockerRunPlatform({ image, handlerFile }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'brisk-bench-dockerrun-'));
  chmodSync(dir, 0o755);
  copyFileSync(handlerFile, path.join(dir, 'handler.mjs'));
  writeFileSync(
    path.join(dir, 'invoke.mjs'),
    `import { handler } from './handler.mjs';
let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const result = await handler(input === '' ? {} : JSON.parse(input), {});
process.stdout.write(JSON.stringify(result));
`,
  );
  const invokeOnce = (eventJson) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const child = spawn(
        'docker',
        ['run', '--rm', '-i', '--network', 'none', '--user', '1000:1000', '--read-only', '-v', `${dir}:/fn:ro`, '--entrypoint', '/usr/local/bin/node', image, '/fn/invoke.mjs'],
        { stdio: ['pipe', 'pipe', 'ignore'] },
      );
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('close', (code) => resolve({ ms: performance.now() - t0, ok: code === 0 && out.length > 0 }));
      child.stdin.end(eventJson);
    });
  return { invoke: invokeOnce, stop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** Closed-loop load over an async `invoke()` (for docker run, which is not HTTP). */
export async function closedLoop(invokeFn, { concurrency, durationMs, maxCount = Infinity }) {
  const lat = [];
  let errors = 0;
  let started = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() - t0 < durationMs && started < maxCount) {
      started++;
      const r = await invokeFn();
      if (r.ok) lat.push(r.ms);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  return { lat, errors, wallMs };
}

const SLS_DIR = path.join(REPO, 'bench/baselines/serverless-offline');

/** Install serverless + serverless-offline into their own folder if missing (npm ci from the lockfile). */
export async function ensureServerlessOffline(log) {
  if (existsSync(path.join(SLS_DIR, 'node_modules/serverless-offline/package.json'))) return true;
  log('installing serverless-offline baseline (npm ci --prefix bench/baselines/serverless-offline, ~1 min)…');
  try {
    await execFileAsync('npm', ['ci', '--prefix', SLS_DIR, '--no-audit', '--no-fund', '--loglevel=error'], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    return true;
  } catch (err) {
    log(`serverless-offline install failed: ${String(err.message).slice(0, 500)}`);
    return false;
  }
}

/**
 * Start `sls offline start` with the bench's functions (copied into fns/).
 * Returns { lambdaPort, pid, startupMs, stop, functionName(name) }.
 */
export async function startServerlessOffline({ functionFiles }) {
  const fns = path.join(SLS_DIR, 'fns');
  mkdirSync(fns, { recursive: true });
  for (const f of functionFiles) copyFileSync(f, path.join(fns, path.basename(f)));
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [path.join(SLS_DIR, 'node_modules/serverless/bin/serverless.js'), 'offline', 'start', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort), '--host', '127.0.0.1'],
    {
      cwd: SLS_DIR,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_DEPRECATION_DISABLE: '*', CI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    },
  );
  let out = '';
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serverless-offline not ready in 60 s:\n${out.slice(-3000)}`)), 60_000);
    const onData = (c) => {
      out = (out + c.toString()).slice(-50_000);
      if (out.includes('Server ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serverless-offline exited (${code}):\n${out.slice(-3000)}`));
    });
  });
  const startupMs = performance.now() - t0;
  return {
    lambdaPort,
    httpPort,
    pid: child.pid,
    startupMs,
    /** Lambda Invoke API path of a function of serverless.yml. */
    invokePath: (fn) => `/2015-03-31/functions/brisk-bench-bench-${fn}/invocations`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * The design floor (bench/baselines/design-floor.mjs) in front of `targets`
 * (warm runtime instances from {@link startFloorContainers} or
 * {@link startFloorProcesses}). `shape` 'distributed': a front end and an
 * executor with nothing but RabbitMQ between them (`amqpUrl`: a vhost of its
 * own); 'standalone': one front end posting to the instances itself.
 * `profileDir`: run its processes with --cpu-prof into a folder per role.
 * Returns { url, pids: { gateway, executor } | { standalone }, stop }.
 */
export async function startDesignFloor({ shape = 'distributed', amqpUrl, targets, profileDir, readyTimeoutMs = 30_000 }) {
  const script = path.join(REPO, 'bench/baselines/design-floor.mjs');
  /** `{ child, exited }` of each role started, as Brisk's roles are (stopped the same way). */
  const procs = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => stopRole(p)));
  };
  const spawnRole = (role, env) =>
    new Promise((resolve, reject) => {
      const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, role)}`] : [];
      const child = spawn(process.execPath, [...prof, script, role], { env: { PATH: process.env.PATH, NODE_ENV: 'production', ...(amqpUrl ? { FLOOR_AMQP_URL: amqpUrl } : {}), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push({ child, exited: new Promise((r) => child.once('exit', r)) });
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`design floor ${role}: not ready in ${readyTimeoutMs} ms; ${err.slice(-500)}`)), readyTimeoutMs);
      child.stderr.on('data', (c) => (err += c));
      child.stdout.on('data', (c) => {
        out += c;
        const m = /READY ?(\d*)\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ child, port: m[1] ? Number(m[1]) : undefined });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`design floor ${role} exited (${code}): ${err.slice(-500)}`));
      });
    });
  try {
    const addresses = targets.map((t) => (t.socketPath ? { socketPath: t.socketPath } : { host: t.host, port: t.port }));
    if (shape === 'standalone') {
      const standalone = await spawnRole('standalone', { FLOOR_TARGETS: JSON.stringify(addresses), FLOOR_PORT: '0' });
      return { url: `http://127.0.0.1:${standalone.port}`, pids: { standalone: standalone.child.pid }, stop };
    }
    const executor = await spawnRole('executor', { FLOOR_TARGETS: JSON.stringify(addresses) });
    const gateway = await spawnRole('gateway', { FLOOR_PORT: '0' });
    return { url: `http://127.0.0.1:${gateway.port}`, pids: { gateway: gateway.child.pid, executor: executor.child.pid }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
