// Where a warm c1 invocation's time goes, hop by hop, in distributed mode.
//
//   git apply bench/tools/hop-trace.patch && npm run build
//   node bench/tools/hop-trace.mjs [distributed-docker|distributed-process|standalone-docker|standalone-process]
//   git apply -R bench/tools/hop-trace.patch && npm run build
//
// The patch (not part of Brisk) makes the gateway, scheduler and executor
// append `label activationId wall-clock-µs` lines to /tmp/trace-<role>.log
// when BRISK_TRACE=1. This script starts Brisk (distributed: on a private
// redis-server, s3rver and RabbitMQ vhost, like the bench), deploys the
// trivial function, warms it with 100 calls, times 300 sequential calls and
// prints the p50 and mean of every step. All roles run on one machine, so
// their clocks agree.
import fs from 'node:fs';
import { ADMIN_KEY, invoke, startBrisk, waitInvocable } from '../lib/brisk.mjs';
import { startDistributedServices } from '../lib/services.mjs';

const system = process.argv[2] ?? 'distributed-docker';
const [mode, backend] = system.split('-');
const traceFiles = () => fs.readdirSync('/tmp').filter((f) => f.startsWith('trace-') && f.endsWith('.log')).map((f) => `/tmp/${f}`);
const clear = () => {
  for (const f of traceFiles()) fs.rmSync(f);
};

const services = mode === 'distributed' ? await startDistributedServices() : undefined;
const brisk = await startBrisk({ mode, backend, serviceEnv: services?.env ?? {}, extraEnv: { BRISK_TRACE: '1' } });
try {
  const code = 'export const handler = async (event) => ({ ok: true, n: event.n ?? 0 });';
  const res = await fetch(`${brisk.url}/v1/functions/trivial`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ code }),
  });
  if (!res.ok) throw new Error(`deploy: ${res.status} ${await res.text()}`);
  await waitInvocable(brisk.url, 'trivial', '{"n":1}');
  for (let i = 0; i < 100; i++) await invoke(brisk.url, 'trivial', '{"n":1}');
  clear();
  const client = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    await invoke(brisk.url, 'trivial', '{"n":1}');
    client.push(performance.now() - t0);
  }
  const events = new Map();
  for (const f of traceFiles()) {
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      if (!line) continue;
      const [label, id, t] = line.split(' ');
      if (!events.has(id)) events.set(id, {});
      events.get(id)[label] = Number(t);
    }
  }
  if (events.size === 0) throw new Error('no trace lines: apply bench/tools/hop-trace.patch and rebuild first');
  const steps = [
    ['g0', 'g1', 'gateway: route entered → request built (lookup, quota)'],
    ['g1', 'g2', 'gateway: → publish'],
    ['g2', 's0', 'broker hop: gateway → scheduler (incl. parse)'],
    ['s0', 's1', 'scheduler: concurrency slot (Redis round trip)'],
    ['s1', 's2', 'scheduler: placement'],
    ['s2', 'e0', 'broker hop: scheduler → executor (incl. parse)'],
    ['e0', 'e1', 'executor: run claim (Redis round trip)'],
    ['e1', 'e1a', 'executor: instance from the pool'],
    ['e1a', 'e1b', 'executor ↔ container: POST /run'],
    ['e1b', 'e2', 'executor: release instance'],
    ['e2', 'e3', 'executor: build record and reply'],
    ['e3', 'g3', 'broker hop: executor → gateway (incl. parse)'],
    ['g3', 'g4', 'gateway: reply matched'],
    ['g4', 'g5', 'gateway: response written'],
    ['g0', 'g5', 'total inside the gateway route'],
  ];
  const q = (v, p) => v[Math.min(v.length - 1, Math.floor(v.length * p))];
  console.log(`${system}, trivial, ${events.size} traced calls`);
  console.log('| step | p50 ms | mean ms |\n|---|---:|---:|');
  for (const [a, b, what] of steps) {
    const v = [...events.values()].filter((e) => a in e && b in e).map((e) => e[b] - e[a]).sort((x, y) => x - y);
    if (v.length === 0) continue;
    console.log(`| ${what} | ${q(v, 0.5).toFixed(3)} | ${(v.reduce((s, x) => s + x, 0) / v.length).toFixed(3)} |`);
  }
  client.sort((x, y) => x - y);
  console.log(`| client round trip | ${q(client, 0.5).toFixed(3)} | ${(client.reduce((s, x) => s + x, 0) / client.length).toFixed(3)} |`);
} finally {
  await brisk.stop();
  await services?.stop();
}
