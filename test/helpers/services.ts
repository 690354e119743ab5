/**
 * Real services for the integration tier: a throw-away redis-server per test
 * file, an in-process S3 (s3rver) per test file, and an isolated RabbitMQ
 * virtual host per test file on the local broker.
 *
 * Every helper returns a handle with `stop()`; tests call it in `afterAll` so
 * nothing is left behind (temp directories, vhosts, processes).
 *
 * Availability: `requireService(name, available)` turns a missing service into
 * a skip locally and into a hard failure under `CI=true`, so a CI run can never
 * go green by silently skipping the service-backed tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------
// generic

/**
 * Decide whether a service-backed suite runs. Returns `available`, so it reads
 * `describe.skipIf(!requireService('redis', await redisAvailable()))`.
 * Under CI (`CI=true`) a missing service throws: the suite fails, never skips.
 */
export function requireService(name: string, available: boolean): boolean {
  // The one process.env read of the test helpers: CI is the test runner's
  // setting, not Brisk configuration.
  if (!available && process.env['CI'] === 'true') {
    throw new Error(`integration service '${name}' is not available, and CI=true forbids skipping`);
  }
  return available;
}

/** A random lowercase id, safe in queue names, Redis keys and bucket names. */
export function uniqueId(len = 8): string {
  return randomBytes(Math.ceil(len / 2)).toString('hex').slice(0, len);
}

/** A prefix unique to one test (bus topology prefix, Redis key prefix …). */
export function uniquePrefix(label = 'test'): string {
  return `brisk-${label}-${uniqueId()}`;
}

/** A TCP port nothing listens on right now (the kernel picks it). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True if a TCP connection to host:port succeeds within `timeoutMs`. */
export async function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function commandExists(cmd: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}


// ---------------------------------------------------------------------------
// Redis

export interface RedisHandle {
  url: string;
  port: number;
  /** Kill the server (SIGKILL: an outage, not a clean shutdown); {@link restart} brings it back. Idempotent. */
  kill(): Promise<void>;
  /** Kill the server and remove its directory. Idempotent. */
  stop(): Promise<void>;
  /** Start the server again on the same port (empty unless started with `persistent: true`). */
  restart(): Promise<void>;
  /** SIGSTOP: the server accepts TCP but never answers (a hung Redis). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
}

export async function redisAvailable(): Promise<boolean> {
  return await commandExists('redis-server');
}

/** Reply to PING with +PONG within `timeoutMs`? */
async function redisPing(port: number, timeoutMs: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

/**
 * Spawn a private redis-server on a free port. Without persistence by default;
 * `persistent: true` turns on the append-only file, fsynced on every write, so
 * the data survives {@link RedisHandle.restart} (even after a SIGKILL).
 */
export async function startRedis(opts: { persistent?: boolean } = {}): Promise<RedisHandle> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'brisk-redis-'));
  let proc: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    await mkdir(dir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
        ...(opts.persistent === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      ],
      { stdio: 'ignore' },
    );
    proc = child;
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`redis-server on port ${port} exited during start-up`);
      if (await redisPing(port, 500)) return;
      await delay(50); // poll interval of the start-up PING loop
    }
    child.kill('SIGKILL');
    throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
  };

  const kill = async (): Promise<void> => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await kill();
      await launch();
    },
    pause: () => void proc?.kill('SIGSTOP'),
    resume: () => void proc?.kill('SIGCONT'),
  };
}

// ---------------------------------------------------------------------------
// S3 (s3rver, in process)

export interface S3Handle {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  stop(): Promise<void>;
}

/** The slice of s3rver's (untyped) API the helpers use. */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
  vhostBuckets: boolean;
  allowMismatchedSignatures: boolean;
}) => S3rverInstance;

export async function s3Available(): Promise<boolean> {
  try {
    loadS3rver();
    return true;
  } catch {
    return false;
  }
}

function loadS3rver(): S3rverCtor {
  // s3rver ships no type declarations; it is loaded through require and typed
  // by the small interface above.
  // Its PUT answers before the object's file is flushed; the patch makes it wait (see the file).
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as S3rverCtor;
  (require('./s3rver-durable-writes.cjs') as { makeS3rverWritesDurable(): void }).makeS3rverWritesDurable();
  return S3rver;
}

/**
 * Start s3rver on a free port with a temp directory. Path-style access and
 * s3rver's built-in credentials (S3RVER / S3RVER). s3rver checks the access
 * key id but does not verify SigV4 signatures.
 */
export async function startS3(): Promise<S3Handle> {
  const S3rver = loadS3rver();
  const dir = await mkdtemp(path.join(tmpdir(), 'brisk-s3-'));
  const port = await freePort();
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory: dir,
    resetOnClose: true,
    vhostBuckets: false,
    allowMismatchedSignatures: false,
  });
  const { port: bound } = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    region: 'us-east-1',
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------
// RabbitMQ (the local broker, one vhost per test file)

const DEFAULT_RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** URL of the broker under test (BRISK_TEST_RABBITMQ_URL or the local default), optionally on a vhost. */
export function rabbitUrl(vhost?: string): string {
  const base = process.env['BRISK_TEST_RABBITMQ_URL'] ?? DEFAULT_RABBIT_URL;
  if (vhost === undefined) return base;
  const u = new URL(base);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}

async function rabbitctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('rabbitmqctl', ['-q', ...args], { timeout: 30_000 });
  return stdout;
}

/** The broker answers on its port and rabbitmqctl is there to manage vhosts. */
export async function rabbitAvailable(): Promise<boolean> {
  const u = new URL(rabbitUrl());
  const reachable = await tcpReachable(u.hostname, Number(u.port || 5672));
  return reachable && (await commandExists('rabbitmqctl'));
}

export interface RabbitVhostHandle {
  /** AMQP URL pointing at the private vhost. */
  url: string;
  vhost: string;
  /** Server-side close of every connection on this vhost (a broker-side drop). */
  closeConnections(): Promise<void>;
  /** Revoke guest's permissions: reconnect attempts are refused (an outage for this vhost only). */
  revokeAccess(): Promise<void>;
  /** Undo {@link revokeAccess}. */
  grantAccess(): Promise<void>;
  /** Delete the vhost with all its queues and exchanges. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A fresh vhost on the local broker, so a test file's queues, exchanges and
 * connection faults never touch other test files or other users of the broker.
 */
export async function startRabbitVhost(label = 'test'): Promise<RabbitVhostHandle> {
  const vhost = uniquePrefix(label);
  const user = new URL(rabbitUrl()).username || 'guest';
  const grant = async (): Promise<void> => {
    await rabbitctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
  };
  await rabbitctl('add_vhost', vhost);
  await grant();
  let stopped = false;
  return {
    url: rabbitUrl(vhost),
    vhost,
    closeConnections: async () => {
      await rabbitctl('close_all_connections', '--vhost', vhost, 'brisk test: simulated connection loss');
    },
    revokeAccess: async () => {
      await rabbitctl('clear_permissions', '-p', vhost, user);
    },
    grantAccess: grant,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await rabbitctl('delete_vhost', vhost);
    },
  };
}

/**
 * Restart the whole broker application (stop_app + start_app). Disrupts every
 * user of the local broker; prefer {@link RabbitVhostHandle.closeConnections}
 * unless the test really needs a broker restart.
 */
export async function restartRabbit(): Promise<void> {
  await rabbitctl('stop_app');
  await rabbitctl('start_app');
}

export interface PrivateRabbitHandle {
  url: string;
  node: string;
  /** Stop the broker (its data stays): an outage. Idempotent. */
  kill(): Promise<void>;
  /** Start it again on the same port with the same data: durable queues and persistent messages survive. */
  restart(): Promise<void>;
  /** Stop the broker and delete its data. Idempotent. */
  stop(): Promise<void>;
}

export async function privateRabbitAvailable(): Promise<boolean> {
  return (await commandExists('rabbitmq-server')) && (await commandExists('rabbitmqctl'));
}

/**
 * A private RabbitMQ node (own node name, ports and data directory) that a
 * test may stop and restart without disturbing anyone else using the shared
 * local broker. Boots in about three seconds.
 */
export async function startPrivateRabbit(): Promise<PrivateRabbitHandle> {
  const id = uniqueId();
  const node = `brisk-test-${id}@localhost`;
  const port = await freePort();
  const distPort = await freePort();
  const base = await mkdtemp(path.join(tmpdir(), 'brisk-rabbit-'));
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(base, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, 'enabled_plugins'),
    RABBITMQ_PID_FILE: path.join(base, 'pid'),
  };
  await mkdir(path.join(base, 'mnesia'), { recursive: true });
  await mkdir(path.join(base, 'log'), { recursive: true });
  await writeFile(path.join(base, 'enabled_plugins'), '[].\n');
  // As root, rabbitmq-server re-executes itself as the rabbitmq user, who must own the data.
  if (process.getuid?.() === 0) await execFileAsync('chown', ['-R', 'rabbitmq:rabbitmq', base]).catch(() => undefined);
  let running = false;

  const launch = async (): Promise<void> => {
    const child = spawn('rabbitmq-server', [], { env, stdio: 'ignore', detached: true });
    child.unref();
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (exited && !(await tcpReachable('127.0.0.1', port, 200))) {
        throw new Error(`private rabbitmq node ${node} exited during start-up (logs in ${base}/log)`);
      }
      if (await tcpReachable('127.0.0.1', port, 200)) {
        running = true;
        return;
      }
      await delay(100); // poll interval of the start-up port loop
    }
    throw new Error(`private rabbitmq node ${node} did not listen on ${port} within 60 s`);
  };
  const halt = async (): Promise<void> => {
    if (!running) return;
    running = false;
    await execFileAsync('rabbitmqctl', ['-q', '-n', node, 'stop'], { timeout: 30_000 }).catch(() => undefined);
  };

  await launch();
  let removed = false;
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    node,
    kill: halt,
    restart: async () => {
      await halt();
      await launch();
    },
    stop: async () => {
      await halt();
      if (removed) return;
      removed = true;
      await rm(base, { recursive: true, force: true });
    },
  };
}

// Kept here so existing imports keep working; the waiting helpers live in wait.ts.
export { waitFor } from './wait.js';
