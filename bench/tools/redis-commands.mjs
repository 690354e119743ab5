// Redis commands per warm sync invocation in distributed mode, by command
// and key family, read from `redis-cli monitor` while N sequential calls run
// (after a warm-up). Counts do not move with the machine's load, so two trees
// can be compared on a busy machine.
//
//   node bench/tools/redis-commands.mjs [--root=DIR] [--backend=process] [--n=50]
//
// Needs redis-server, redis-cli, RabbitMQ and s3rver as the bench does (see
// bench/README.md). Background chatter (heartbeat-driven leases, refreshes)
// is counted too and shows as fractions below one per call.
import { spawn } from 'node:child_process';
import { AUTH, deployJson, setBriskRoot, startBrisk } from '../lib/brisk.mjs';
import { startDistributedServices } from '../lib/services.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const root = arg('root', undefined);
if (root) setBriskRoot(root);
const backend = arg('backend', 'process');
const N = Number(arg('n', '50'));

const svc = await startDistributedServices();
const brisk = await startBrisk({ mode: 'distributed', backend, serviceEnv: svc.env });
const call = () => fetch(`${brisk.url}/v1/functions/triv/invoke`, { method: 'POST', headers: AUTH, body: '{}' }).then((r) => r.text());
try {
  await deployJson(brisk.url, 'triv', { code: 'export const handler = async () => ({ ok: true });' });
  for (let i = 0; i < 20; i++) await call();
  const monitor = spawn('redis-cli', ['-p', new URL(svc.env.BRISK_REDIS_URL).port, 'monitor']);
  let out = '';
  monitor.stdout.on('data', (c) => {
    out += c;
  });
  // MONITOR answers OK once it is on.
  while (!out.includes('OK')) await new Promise((r) => setTimeout(r, 10));
  const from = out.length;
  for (let i = 0; i < N; i++) await call();
  const seen = out.length;
  monitor.kill();
  const lines = out.slice(from, seen).split('\n').filter((l) => l.includes('"'));
  const counts = new Map();
  for (const line of lines) {
    const m = /\] "(\w+)"(?: "([^"]*)")?/.exec(line);
    if (!m) continue;
    // Key family: ids and the last segment dropped, so one entry per kind of key.
    const key = (m[2] ?? '').replace(/[0-9a-f]{8,}/g, '*').replace(/:[^:]*$/, ':…');
    const what = `${m[1].toLowerCase()} ${key}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  console.log(`Redis commands per warm sync call (${backend} executor, ${N} calls): ${(lines.length / N).toFixed(1)}`);
  for (const [what, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${(n / N).toFixed(2).padStart(6)}  ${what}`);
} finally {
  await brisk.stop();
  await svc.stop();
}
