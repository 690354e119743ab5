import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './wait.js';

/**
 * Starts the real `brisk` binary (built into dist/ by `npm run build`) as child
 * processes, for end-to-end tests over HTTP.
 */

const BIN = path.resolve('bin/brisk.js');

/** The admin key test clusters run with unless a test sets its own BRISK_ADMIN_KEY. */
export const TEST_ADMIN_KEY = 'brisk-test-admin-key';

/** The bus key distributed roles run with unless a test sets its own BRISK_BUS_KEY ('' for none). */
export const TEST_BUS_KEY = 'brisk-test-bus-key-0123456789abcdef';

export interface BriskProcess {
  role: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Spawn one role and wait for the log line that says it is ready. */
export async function spawnRole(
  role: 'standalone' | 'gateway' | 'scheduler' | 'executor',
  env: Record<string, string>,
  readyTimeoutMs = 30_000,
): Promise<BriskProcess & { port?: number }> {
  // An empty value removes the variable (e.g. BRISK_ADMIN_KEY: '' for a keyless start).
  // Distributed roles sign their bus messages: they share a key unless the test names one.
  const busKey = role === 'standalone' ? {} : { BRISK_BUS_KEY: TEST_BUS_KEY };
  const merged: Record<string, string | undefined> = { ...process.env, BRISK_LOG_LEVEL: 'info', ...busKey, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k];
  const child = spawn(process.execPath, [BIN, role], {
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readyMsg = role === 'executor' ? 'executor ready' : role === 'scheduler' ? 'scheduler ready' : 'gateway listening';
  const port = await new Promise<number | undefined>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} not ready in ${readyTimeoutMs} ms:\n${out}`)), readyTimeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        if (!line.includes(readyMsg)) continue;
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line) as { port?: number }).port);
        } catch {
          resolve(undefined);
        }
        return;
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited with ${code} before ready:\n${out}`));
    });
  });
  // Keep collecting output for diagnostics.
  return { role, child, output: () => out, exited, ...(port !== undefined ? { port } : {}) };
}

/**
 * Wait until the gateway at `url` lists `count` healthy executors (or every
 * id in `count` when it is a list). Executors heartbeat on a fanout that the
 * gateways and the schedulers all hear: once a gateway has heard them, so has
 * every scheduler, and a test's first invocation finds them placeable.
 */
export async function waitForExecutors(url: string, adminKey: string, count: number | string[], timeoutMs = 20_000): Promise<void> {
  const enough = (healthy: string[]): boolean => (typeof count === 'number' ? healthy.length >= count : count.every((id) => healthy.includes(id)));
  await waitFor(async () => {
    const res = await fetch(`${url}/v1/executors`, { headers: { authorization: `Bearer ${adminKey}` } }).catch(() => undefined);
    if (res?.status !== 200) return false;
    const { executors } = (await res.json()) as { executors: { executorId: string; state: string }[] };
    return enough(executors.filter((e) => e.state === 'healthy').map((e) => e.executorId));
  }, timeoutMs, 50);
}

/** SIGTERM and wait (SIGKILL after a bound). */
export async function stopProcess(p: BriskProcess, timeoutMs = 15_000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `brisk-${label}-`));
}

/**
 * A temp dir functions may write into: on the process backend run as root,
 * each instance runs as a uid of its own, which a 0700 root dir keeps out.
 */
export function sharedTempDir(label: string): string {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o777);
  return dir;
}

/** An empty file in `dir` that every instance (whatever its uid) may append to. */
export function sharedFile(dir: string, name: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, '');
  fs.chmodSync(file, 0o666);
  return file;
}

export interface Cluster {
  /** Gateways' base URLs. */
  urls: string[];
  url: string;
  processes: BriskProcess[];
  /** Stop everything and start it again with the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A cluster whose processes `boot` starts: `stop` ends them all, `restart`
 * stops and boots again (data dirs and services stay).
 */
async function bootCluster(boot: () => Promise<{ processes: BriskProcess[]; gateways: BriskProcess[] }>): Promise<Cluster> {
  // `restart` uses this, not `cluster.stop`, which callers may extend (to stop services too).
  const stopProcesses = async (): Promise<void> => {
    await Promise.all(cluster.processes.map((p) => stopProcess(p)));
    cluster.processes = [];
  };
  const cluster: Cluster = {
    urls: [],
    url: '',
    processes: [],
    restart: async () => {
      await stopProcesses();
      await start();
    },
    stop: stopProcesses,
  };
  const start = async (): Promise<void> => {
    const { processes, gateways } = await boot();
    cluster.processes = processes;
    cluster.urls = gateways.map((g) => `http://127.0.0.1:${(g as { port?: number }).port}`);
    cluster.url = cluster.urls[0] as string;
  };
  await start();
  return cluster;
}

/** One standalone process on a random port with its own data dir. */
export async function startStandalone(extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const dataDir = tempDir('data');
  const env = { BRISK_PORT: '0', BRISK_DATA_DIR: dataDir, BRISK_POOL_SIZE: '1', BRISK_ADMIN_KEY: TEST_ADMIN_KEY, ...extraEnv };
  return bootCluster(async () => {
    const p = await spawnRole('standalone', env);
    return { processes: [p], gateways: [p] };
  });
}

export interface DistributedOptions {
  env: Record<string, string>;
  gateways?: number;
  schedulers?: number;
  executors?: number;
}

/** Separate gateway, scheduler and executor processes on real services. */
export async function startDistributed(opts: DistributedOptions): Promise<Cluster & { spawnExecutor(id?: string): Promise<BriskProcess> }> {
  // Process executors unless a test asks for docker (a distributed executor defaults to docker).
  const base = { BRISK_EXECUTOR_BACKEND: 'process', BRISK_POOL_SIZE: '1', BRISK_HEARTBEAT_MS: '500', BRISK_ADMIN_KEY: TEST_ADMIN_KEY, ...opts.env };
  const cluster = await bootCluster(async () => {
    const schedulers = await Promise.all(Array.from({ length: opts.schedulers ?? 1 }, () => spawnRole('scheduler', base)));
    const executors = await Promise.all(Array.from({ length: opts.executors ?? 1 }, () => spawnRole('executor', base)));
    const gateways = await Promise.all(Array.from({ length: opts.gateways ?? 1 }, () => spawnRole('gateway', { ...base, BRISK_PORT: '0' })));
    const gw = gateways[0];
    if (gw?.port !== undefined) await waitForExecutors(`http://127.0.0.1:${gw.port}`, base.BRISK_ADMIN_KEY, executors.length);
    return { processes: [...schedulers, ...executors, ...gateways], gateways };
  });
  return Object.assign(cluster, {
    spawnExecutor: async (id?: string) => {
      const p = await spawnRole('executor', { ...base, ...(id ? { BRISK_EXECUTOR_ID: id } : {}) });
      cluster.processes.push(p);
      return p;
    },
  });
}

/**
 * A cluster for one `describe` block: started before its tests, stopped after
 * them. The returned object stands for the started cluster (it reads through
 * to it), so tests write `cluster.url` as usual.
 */
export function useCluster(start: () => Promise<Cluster>): Cluster {
  let current: Cluster | undefined;
  const started = (): Cluster => {
    if (!current) throw new Error('the cluster is not started yet (use it inside a test or a later hook)');
    return current;
  };
  beforeAll(async () => {
    current = await start();
  });
  afterAll(async () => {
    await current?.stop();
  });
  return {
    get url() {
      return started().url;
    },
    get urls() {
      return started().urls;
    },
    get processes() {
      return started().processes;
    },
    restart: () => started().restart(),
    stop: () => started().stop(),
  };
}
