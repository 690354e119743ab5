// Kernel work per invocation: system-wide syscalls, socket writes and
// context switches counted by `perf stat -a` while a fixed number of warm
// sync invocations run. Counts, unlike timings, barely move with what else
// the machine does, so two trees can be compared on a noisy machine.
//
//   node bench/tools/syscalls.mjs [--root=DIR] [--system=distributed-docker] [--n=3000] [--c=16]
//
// Needs `perf` (Debian linux-perf) with tracepoints, root, and the services
// the system needs (see bench/README.md). Everything on the machine is
// counted, the load generator included (it is the same for both trees) and
// the machine's background, shown beside (the same events over 2 s with
// Brisk idle, scaled to the run's duration, per invocation).
import { spawn } from 'node:child_process';
import http from 'node:http';
import { ADMIN_KEY, setBriskRoot, startBrisk, waitInvocable } from '../lib/brisk.mjs';
import { startDistributedServices } from '../lib/services.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const root = arg('root', undefined);
if (root) setBriskRoot(root);
const system = arg('system', 'distributed-docker');
const N = Number(arg('n', '3000'));
const C = Number(arg('c', '16'));
const [mode, backend] = system.split('-');

const EVENTS = [
  'raw_syscalls:sys_enter',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_writev',
  'syscalls:sys_enter_sendmsg',
  'syscalls:sys_enter_sendto',
  'context-switches',
];

/** Start `perf stat -a`; stop() ends it and returns { event: count }. */
function perfStat() {
  // The workload is `cat` on a pipe from us: closing the pipe ends it, and perf prints (perf waits for its workload, SIGINT or not).
  const p = spawn('perf', ['stat', '-a', '-x', ',', '-e', EVENTS.join(','), '--', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => p.once('exit', r));
  return {
    ready: new Promise((r) => setTimeout(r, 300)),
    async stop() {
      p.stdin.end();
      await exited;
      const out = {};
      for (const line of err.split('\n')) {
        const [count, , event] = line.split(',');
        if (event && /^\d+$/.test(count)) out[event] = Number(count);
      }
      if (Object.keys(out).length === 0) throw new Error(`perf stat printed nothing usable:\n${err}`);
      return out;
    },
  };
}

async function closedLoop(url, n, c) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  const u = new URL(`${url}/v1/functions/trivial/invoke`);
  let left = n;
  let errors = 0;
  const one = () =>
    new Promise((resolve) => {
      const req = http.request(
        { agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'content-length': 7 } },
        (res) => {
          if (res.statusCode !== 200) errors++;
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end('{"n":1}');
    });
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (left-- > 0) await one();
    }),
  );
  agent.destroy();
  return errors;
}

const services = mode === 'distributed' ? await startDistributedServices() : undefined;
const brisk = await startBrisk({ mode, backend, serviceEnv: services?.env ?? {} });
try {
  const res = await fetch(`${brisk.url}/v1/functions/trivial`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ code: 'export const handler = async (event) => ({ ok: true, n: event.n ?? 0 });' }),
  });
  if (!res.ok) throw new Error(`deploy: ${res.status} ${await res.text()}`);
  await waitInvocable(brisk.url, 'trivial', '{"n":1}');
  await closedLoop(brisk.url, 2000, C); // warm: the pool at its size for this concurrency
  await new Promise((r) => setTimeout(r, 1000));

  const idle = perfStat();
  await idle.ready;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 2000));
  const idleCounts = await idle.stop();
  const idleSec = (performance.now() - t0) / 1000;

  const perf = perfStat();
  await perf.ready;
  const t1 = performance.now();
  const errors = await closedLoop(brisk.url, N, C);
  const sec = (performance.now() - t1) / 1000;
  const counts = await perf.stop();

  console.log(`${system} at ${root ?? 'this tree'}: ${N} invocations at c${C} in ${sec.toFixed(2)} s (${errors} errors)`);
  console.log('| event | per invocation | of which background at most |\n|---|---:|---:|');
  for (const e of EVENTS) {
    if (counts[e] === undefined) continue;
    const bg = ((idleCounts[e] ?? 0) / idleSec) * sec;
    console.log(`| ${e} | ${(counts[e] / N).toFixed(1)} | ${(bg / N).toFixed(1)} |`);
  }
} finally {
  await brisk.stop();
  await services?.stop();
}
