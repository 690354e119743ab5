/**
 * Starts Brisk as the bench's child processes (the real `bin/brisk.js`, built
 * into dist/ by `npm run build`), standalone or as separate gateway, scheduler
 * and executor processes, and talks to its HTTP API.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { cmdline, descendants } from './procstat.mjs';
import { uniqueId } from './services.mjs';

/** The Brisk tree under test: this repo, or another checkout (`--root=DIR`, e.g. to compare two commits). */
let ROOT = path.resolve(import.meta.dirname, '../..');
export function setBriskRoot(dir) {
  ROOT = path.resolve(dir);
}
export const briskRoot = () => ROOT;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The operator key every Brisk of the bench starts with (BRISK_ADMIN_KEY; a
 * distributed gateway refuses to start without one) and every /v1 call carries.
 * The admin key acts in the `default` namespace.
 */
export const ADMIN_KEY = `bench-${uniqueId(16)}`;
export const AUTH = { authorization: `Bearer ${ADMIN_KEY}` };

/**
 * Spawn one role and wait for its ready line. `profileDir`: run node with
 * --cpu-prof into that directory (the profile is written at exit).
 */
export async function spawnRole(role, env, { profileDir, readyTimeoutMs = 60_000 } = {}) {
  const bin = path.join(ROOT, 'bin/brisk.js');
  const nodeArgs = [];
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${role}-${uniqueId(4)}.cpuprofile`);
  }
  // cwd = repo root: the process backend finds dist/runtime/server.mjs relative to it.
  const child = spawn(process.execPath, [...nodeArgs, bin, role], {
    cwd: ROOT,
    env: { ...process.env, BRISK_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk) => {
    tail = (tail + chunk.toString()).slice(-20_000);
  };
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
  const readyMsg = role === 'executor' ? 'executor ready' : role === 'scheduler' ? 'scheduler ready' : 'gateway listening';
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${role} not ready in ${readyTimeoutMs} ms:\n${tail}`)), readyTimeoutMs);
    const onData = (chunk) => {
      keep(chunk);
      buf += chunk.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes(readyMsg)) continue;
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        try {
          resolve(JSON.parse(line).port);
        } catch {
          resolve(undefined);
        }
        return;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited (${code}) before ready:\n${tail}`));
    });
  });
  return { role, child, pid: child.pid, port, exited, output: () => tail };
}

/** SIGTERM, then SIGKILL after `timeoutMs`. */
export async function stopRole(p, timeoutMs = 15_000) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  await p.exited;
  clearTimeout(timer);
}

/**
 * A running Brisk: `{ url, roles: {label: proc}, executorId, backend, stop() }`.
 * mode 'standalone' | 'distributed'; backend 'process' | 'docker';
 * serviceEnv: BRISK_* variables of the distributed services.
 */
export async function startBrisk({ mode, backend, serviceEnv = {}, extraEnv = {}, profileDir }) {
  const executorId = `bench-${uniqueId(6)}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'brisk-bench-data-'));
  const env = {
    BRISK_EXECUTOR_BACKEND: backend,
    BRISK_EXECUTOR_ID: executorId,
    BRISK_DATA_DIR: dataDir,
    BRISK_PORT: '0',
    BRISK_ADMIN_KEY: ADMIN_KEY,
    ...serviceEnv,
    ...extraEnv,
  };
  const roles = {};
  const opts = (role) => ({ profileDir: profileDir ? path.join(profileDir, role) : undefined });
  const stop = async () => {
    await Promise.all(Object.values(roles).map((p) => stopRole(p)));
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (mode === 'standalone') {
      roles.standalone = await spawnRole('standalone', env, opts('standalone'));
    } else {
      roles.scheduler = await spawnRole('scheduler', env, opts('scheduler'));
      roles.executor = await spawnRole('executor', env, opts('executor'));
      roles.gateway = await spawnRole('gateway', env, opts('gateway'));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const front = roles.standalone ?? roles.gateway;
  const url = `http://127.0.0.1:${front.port}`;
  const executorPid = (roles.standalone ?? roles.executor).pid;
  return { url, roles, executorId, backend, mode, executorPid, stop };
}

/** PUT a function (JSON body). Returns { ms, status, body }. */
export async function deployJson(url, name, body) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/functions/${name}`, {
    method: 'PUT',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 201 && res.status !== 200) throw new Error(`deploy ${name}: ${res.status} ${text}`);
  return { ms, status: res.status, body: JSON.parse(text) };
}

/** PUT a function as a zip archive. */
export async function deployZip(url, name, zip, handler) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/functions/${name}?handler=${encodeURIComponent(handler)}`, {
    method: 'PUT',
    headers: { ...AUTH, 'content-type': 'application/zip' },
    body: zip,
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 201 && res.status !== 200) throw new Error(`deploy ${name} (zip): ${res.status} ${text}`);
  return { ms, status: res.status, body: JSON.parse(text) };
}

/** One sync invoke; returns { ms, status, text, activationId }. */
export async function invoke(url, name, eventJson) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/functions/${name}/invoke`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: eventJson,
  });
  const text = await res.text();
  return { ms: performance.now() - t0, status: res.status, text, activationId: res.headers.get('x-brisk-activation-id') };
}

/** The activation record, polling briefly until it is final (the record is written after the reply). */
export async function activation(url, id) {
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${url}/v1/activations/${id}`, { headers: AUTH });
    if (res.status === 200) {
      const rec = await res.json();
      if (rec.status !== 'queued' && rec.status !== 'running') return rec;
    }
    await sleep(20);
  }
  throw new Error(`activation ${id} not final`);
}

/** Invoke until the platform answers 200 (executor registered with the scheduler, etc.). */
export async function waitInvocable(url, name, eventJson, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await invoke(url, name, eventJson).catch((e) => ({ status: -1, text: String(e) }));
    if (last.status === 200) return last;
    await sleep(100);
  }
  throw new Error(`${name} never answered 200: ${last?.status} ${last?.text}`);
}

const docker = new Dockerode();

/**
 * The runtime's node process itself (not tini / docker-init, whose command
 * line also names server.mjs). The process backend runs a private copy named
 * runtime.mjs (readable by its instances' uids).
 */
function isRuntime(pid) {
  const cmd = cmdline(pid);
  return /(?:server|runtime)\.mjs/.test(cmd) && !cmd.includes('docker-init');
}

/**
 * pids of the runtime (node) processes of the instances of a Brisk: children
 * of the executor for the process backend, processes inside the executor's
 * labelled containers for the Docker backend.
 */
export async function instancePids(brisk) {
  if (brisk.backend === 'process') {
    return descendants(brisk.executorPid).filter(isRuntime);
  }
  const list = await docker.listContainers({ filters: { label: [`brisk.executor=${brisk.executorId}`] } });
  const pids = [];
  for (const c of list) {
    const info = await docker.getContainer(c.Id).inspect();
    const root = info.State.Pid;
    for (const pid of [root, ...descendants(root)]) if (isRuntime(pid)) pids.push(pid);
  }
  return pids;
}

/** Containers a Brisk executor left behind (should be none after stop). */
export async function leftoverContainers(executorId) {
  return docker.listContainers({ all: true, filters: { label: [`brisk.executor=${executorId}`] } });
}
