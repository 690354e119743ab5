// Where a warm c1 invocation's time goes, step by step, in either mode.
//
//   git apply bench/tools/hop-trace.patch && npm run build
//   node bench/tools/hop-trace.mjs [distributed-process|distributed-docker|standalone-process|standalone-docker] [--n=400]
//   git apply -R bench/tools/hop-trace.patch && npm run build
//
// The patch (not part of Brisk) makes the gateway, the executor, its runtime
// client and both buses note `TRACE point [activationId] wall-clock-µs seq`
// lines when BRISK_TRACE=1, written to stderr 5 ms after a call's first (a
// write per point would wake this script mid-call). This script starts Brisk on a private redis-server, s3rver
// and RabbitMQ vhost (as the bench does), deploys a trivial function, warms
// it with 300 calls, then makes N sequential calls over one keep-alive
// connection, each after a pause (so each starts with every process asleep,
// slower than the bench's back-to-back c1). Every trace line between a call's send and its answer belongs
// to that call (one call at a time); the events are sorted by time and the
// median of each step between two consecutive points is printed, with the
// client's round trip. All roles run on one machine, so their clocks agree.
import http from 'node:http';
import { AUTH, deployJson, startBrisk, waitInvocable } from '../lib/brisk.mjs';
import { startDistributedServices } from '../lib/services.mjs';

const system = process.argv.find((a) => /^(distributed|standalone)-/.test(a)) ?? 'distributed-process';
const N = Number(process.argv.find((a) => a.startsWith('--n='))?.slice(4) ?? '400');
const [mode, backend] = system.split('-');
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

const svc = await startDistributedServices();
const brisk = await startBrisk({ mode, backend, serviceEnv: svc.env, extraEnv: { BRISK_TRACE: '1' } });
/** [role, point, µs] of the call in progress. */
const seen = [];
for (const r of Object.values(brisk.roles)) {
  let buf = '';
  r.child.stderr.on('data', (chunk) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith('TRACE ')) continue;
      const f = line.split(' ');
      // TRACE point [id] µs seq
      seen.push([r.role, f[1], Number(f.length === 5 ? f[3] : f[2])]);
    }
  });
}
const url = new URL(brisk.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const call = () =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: '/v1/functions/triv/invoke', method: 'POST', agent, headers: { ...AUTH, 'content-type': 'application/json', 'content-length': 2 } },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`invoke: ${res.statusCode}`));
        res.resume().on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
try {
  await deployJson(brisk.url, 'triv', { code: 'export const handler = async () => ({ ok: true });' });
  await waitInvocable(brisk.url, 'triv', '{}');
  for (let i = 0; i < 300; i++) await call();
  const steps = new Map();
  const totals = [];
  for (let i = 0; i < N; i++) {
    seen.length = 0;
    const t0 = nowUs();
    await call();
    const t1 = nowUs();
    totals.push(t1 - t0);
    // Lines are written 5 ms after a call's first (core/tr.ts in the patch) and arrive within a few more.
    await new Promise((r) => setTimeout(r, 12));
    const events = seen.filter(([, , us]) => us >= t0 && us <= t1).sort((a, b) => a[2] - b[2]);
    let prev = ['client', 'send', t0];
    for (const e of [...events, ['client', 'answer', t1]]) {
      const step = `${prev[0]}:${prev[1]} → ${e[0]}:${e[1]}`;
      if (!steps.has(step)) steps.set(step, []);
      steps.get(step).push(e[2] - prev[2]);
      prev = e;
    }
  }
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(`${system}, ${N} sequential calls; client round trip median ${median(totals)} µs`);
  console.log('| step | median µs | calls |\n|---|---:|---:|');
  // Steps most calls took, in the order of their first call.
  for (const [step, v] of steps) if (v.length >= N / 2) console.log(`| ${step} | ${median(v)} | ${v.length} |`);
} finally {
  await brisk.stop();
  await svc.stop();
}
