/**
 * The services a distributed Brisk needs, started by the bench itself and
 * stopped afterwards: a private redis-server on a free port (no persistence),
 * s3rver in this process on a free port, and a fresh vhost on the local
 * RabbitMQ broker. dockerd must already be running (checked, never started).
 *
 * Same approach as test/helpers/services.ts; kept separate because the bench
 * must not import from test/.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const uniqueId = (n = 8) => randomBytes(n).toString('hex').slice(0, n);

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tcpReachable(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export async function commandExists(cmd) {
  try {
    await execFileAsync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

function redisPing(port, timeoutMs) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok) => {
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

/** A private redis-server. Returns { url, pid, stop }. */
export async function startRedis() {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'brisk-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await redisPing(port, 500))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop };
}

export function s3Available() {
  try {
    createRequire(import.meta.url)('s3rver');
    return true;
  } catch {
    return false;
  }
}

/** s3rver (in this process) on a free port. Returns { endpoint, accessKey, secretKey, stop }. */
export async function startS3() {
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver');
  // Its PUT answers before the object's file is flushed; the tests' patch makes it wait.
  require('../../test/helpers/s3rver-durable-writes.cjs').makeS3rverWritesDurable();
  const dir = await mkdtemp(path.join(tmpdir(), 'brisk-bench-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: await freePort(),
    silent: true,
    directory: dir,
    resetOnClose: true,
    vhostBuckets: false,
    allowMismatchedSignatures: false,
  });
  const { port } = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';

export async function rabbitAvailable() {
  return (await tcpReachable('127.0.0.1', 5672)) && (await commandExists('rabbitmqctl'));
}

/** A fresh vhost on the local broker; stop() deletes it with everything in it. */
export async function startRabbitVhost() {
  const vhost = `brisk-bench-${uniqueId()}`;
  const ctl = (...args) => execFileAsync('rabbitmqctl', ['-q', ...args], { timeout: 30_000 });
  await ctl('add_vhost', vhost);
  await ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  let stopped = false;
  return {
    url: `${RABBIT_URL}/${encodeURIComponent(vhost)}`,
    vhost,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await ctl('delete_vhost', vhost);
    },
  };
}

/**
 * What a distributed Brisk needs, private to one run: a redis-server and an
 * s3rver on free ports and a fresh RabbitMQ vhost. `env` is the BRISK_*
 * settings that point at them; stop() removes all three.
 */
export async function startDistributedServices() {
  const [redis, s3, rabbit] = await Promise.all([startRedis(), startS3(), startRabbitVhost()]);
  return {
    redis,
    s3,
    rabbit,
    env: {
      BRISK_RABBITMQ_URL: rabbit.url,
      BRISK_REDIS_URL: redis.url,
      BRISK_S3_ENDPOINT: s3.endpoint,
      BRISK_S3_ACCESS_KEY: s3.accessKey,
      BRISK_S3_SECRET_KEY: s3.secretKey,
      BRISK_S3_BUCKET: `brisk-bench-${uniqueId()}`,
      BRISK_HEARTBEAT_MS: '500',
      // The roles sign their bus messages with it (required in distributed mode).
      BRISK_BUS_KEY: randomBytes(32).toString('base64url'),
    },
    stop: async () => {
      await Promise.allSettled([redis.stop(), s3.stop(), rabbit.stop()]);
    },
  };
}

/** RabbitMQ's Erlang VM pid (beam.smp), for its RSS under load; undefined if not found. */
export async function rabbitPid() {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-o', '-f', 'beam.smp.*rabbit']);
    const pid = Number(stdout.trim().split('\n')[0]);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
