// Several calls per instance (`concurrency`, issue 17): an I/O-bound function
// (it awaits a 20 ms timer) called by 64 clients at once for a few seconds,
// deployed with concurrency 1 and with concurrency 16, on one standalone
// server (process backend). Prints, per setting, the throughput, the latency,
// how many instances served the calls, and the server's CPU per call.
//
//   npm run build && node bench/tools/instance-concurrency.mjs [--seconds=5] [--clients=64] [--executor-mb=2048]
//
// Needs only Node. A diagnostic beside the bench, not a figure to quote from
// a noisy machine: compare the two rows of one run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const SECONDS = Number(arg('seconds', '5'));
const CLIENTS = Number(arg('clients', '64'));
const KEY = 'bench-concurrency-key';
const CODE = `
const instance = Math.random().toString(36).slice(2);
export const handler = async () => { await new Promise((r) => setTimeout(r, 20)); return { instance }; };`;

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'brisk-bench-conc-'));
const child = spawn(process.execPath, [path.resolve('bin/brisk.js'), 'standalone'], {
  env: { ...process.env, BRISK_PORT: '0', BRISK_DATA_DIR: dataDir, BRISK_ADMIN_KEY: KEY, BRISK_LOG_LEVEL: 'info', BRISK_EXECUTOR_MEMORY_MB: arg('executor-mb', '2048') },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const port = await new Promise((resolve, reject) => {
  let buf = '';
  child.stderr.on('data', (c) => {
    buf += c.toString();
    for (const line of buf.split('\n')) {
      if (line.includes('"gateway listening"')) resolve(JSON.parse(line).port);
    }
  });
  child.once('exit', (code) => reject(new Error(`standalone exited (${code})`)));
});
const base = `http://127.0.0.1:${port}`;
const h = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

/** User + system CPU of the server process (its threads included), in µs, from /proc. */
function serverCpuUs() {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

async function scenario(concurrency) {
  const name = `io-c${concurrency}`;
  const d = await fetch(`${base}/v1/functions/${name}`, { method: 'PUT', headers: h, body: JSON.stringify({ code: CODE, concurrency, memoryMb: 128 }) });
  if (!d.ok) throw new Error(`deploy: ${await d.text()}`);
  const invoke = async () => {
    const r = await fetch(`${base}/v1/functions/${name}/invoke`, { method: 'POST', headers: h, body: '{}' });
    return { ok: r.ok, json: r.ok ? await r.json() : await r.text() };
  };
  await invoke();
  const instances = new Set();
  const latencies = [];
  let ok = 0;
  let failed = 0;
  const cpu0 = serverCpuUs();
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const r = await invoke();
        latencies.push(performance.now() - t);
        if (r.ok) {
          ok++;
          instances.add(r.json.instance);
        } else failed++;
      }
    }),
  );
  const cpu = serverCpuUs() - cpu0;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
  return { concurrency, calls: ok, failed, perSecond: (ok / SECONDS).toFixed(0), p50: pct(0.5), p99: pct(0.99), instances: instances.size, cpuUsPerCall: (cpu / Math.max(1, ok + failed)).toFixed(0) };
}

try {
  const rows = [await scenario(1), await scenario(16)];
  console.log(`I/O-bound (20 ms timer), ${CLIENTS} clients, ${SECONDS} s each, standalone process backend`);
  console.log('| concurrency | calls/s | p50 ms | p99 ms | instances used | server CPU µs/call | failed |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.concurrency} | ${r.perSecond} | ${r.p50} | ${r.p99} | ${r.instances} | ${r.cpuUsPerCall} | ${r.failed} |`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
