// CPU and Redis work per warm sync invocation in distributed mode, per
// process, for two settings of the same tree in one run (default: the direct
// path off and on, BRISK_DIRECT_SYNC=false/true), alternated `--rounds` times.
// CPU time per call (user+system of each process ÷ calls) and Redis commands
// per call barely move with what else the machine runs, unlike latencies, so
// the comparison holds on a loaded machine. RabbitMQ's CPU is not counted (its
// one Erlang VM serves every vhost on the machine); its work is the messages
// per call, which the design fixes (see docs/architecture.md).
//
//   node bench/tools/warm-cost.mjs [--system=distributed-process] [--n=1500] [--c=16] [--rounds=2] [--against=DIR]
//
// --against=DIR compares the Brisk built in DIR (its bin/ and dist/, e.g. a
// `git worktree` of an older commit after `npm ci && node build.mjs`) with
// this tree instead, both with their defaults. The "direct" column is the
// share of the measured calls the gateway sent straight to an executor.
//
// Needs the distributed services (see bench/README.md); `npm run build` first.
import http from 'node:http';
import Redis from 'ioredis';
import { ADMIN_KEY, briskRoot, deployJson, instancePids, setBriskRoot, startBrisk, waitInvocable } from '../lib/brisk.mjs';
import { cpuMs } from '../lib/procstat.mjs';
import { startDistributedServices } from '../lib/services.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const system = arg('system', 'distributed-process');
const N = Number(arg('n', '1500'));
const C = Number(arg('c', '16'));
const ROUNDS = Number(arg('rounds', '2'));
const [mode, backend] = system.split('-');
const against = arg('against', undefined);
const here = briskRoot();
const SETTINGS = against
  ? [
      { label: `built in ${against}`, env: {}, root: against },
      { label: 'this tree', env: {}, root: here },
    ]
  : [
      { label: 'through the scheduler (BRISK_DIRECT_SYNC=false)', env: { BRISK_DIRECT_SYNC: 'false' }, root: here },
      { label: 'direct (BRISK_DIRECT_SYNC=true)', env: { BRISK_DIRECT_SYNC: 'true' }, root: here },
    ];
const CODE = 'export const handler = async (event) => ({ ok: true, n: event.n ?? 0 });';

/** `n` POSTs to /invoke from `c` keep-alive workers; resolves with the count of non-200 answers. */
async function load(url, n, c) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  let next = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      const req = http.request(`${url}/v1/functions/trivial/invoke`, {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      }, (res) => {
        if (res.statusCode !== 200) failed++;
        res.resume().on('end', resolve);
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end('{"n":1}');
    });
  await Promise.all(Array.from({ length: c }, async () => {
    while (next++ < n) await one();
  }));
  agent.destroy();
  return failed;
}

async function redisCalls(redis) {
  const text = await redis.info('commandstats');
  let calls = 0;
  for (const m of text.matchAll(/calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

/** Sync calls the gateway has sent straight to an executor (its `brisk_dispatches_total{placement="direct"}`). */
async function directDispatches(url) {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
  const m = /^brisk_dispatches_total\{placement="direct"[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

async function measure(setting) {
  setBriskRoot(setting.root);
  const svc = await startDistributedServices();
  const brisk = await startBrisk({ mode, backend, serviceEnv: svc.env, extraEnv: setting.env });
  const redis = new Redis(svc.redis.url);
  try {
    await deployJson(brisk.url, 'trivial', { code: CODE });
    await waitInvocable(brisk.url, 'trivial', '{"n":1}');
    await load(brisk.url, Math.min(N, 400), C); // warm-up: instances started, caches filled
    const pids = { ...Object.fromEntries(Object.entries(brisk.roles).map(([k, p]) => [k, [p.pid]])), instances: await instancePids(brisk), redis: [svc.redis.pid] };
    const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, list]) => [k, list.reduce((s, pid) => s + (cpuMs(pid) ?? 0), 0)]));
    const before = cpu();
    const r0 = await redisCalls(redis);
    const d0 = await directDispatches(brisk.url);
    const t0 = performance.now();
    const failed = await load(brisk.url, N, C);
    const seconds = (performance.now() - t0) / 1000;
    const after = cpu();
    const r1 = await redisCalls(redis);
    const direct = Math.round((100 * ((await directDispatches(brisk.url)) - d0)) / N);
    const perCallUs = Object.fromEntries(Object.keys(before).map((k) => [k, Math.round(((after[k] - before[k]) * 1000) / N)]));
    return { perCallUs, redisPerCall: Math.round(((r1 - r0 - 1) / N) * 10) / 10, failed, rate: Math.round(N / seconds), direct };
  } finally {
    redis.disconnect();
    await brisk.stop();
    await svc.stop();
  }
}

const results = SETTINGS.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, s] of SETTINGS.entries()) {
    process.stderr.write(`round ${round + 1}: ${s.label}\n`);
    results[i].push(await measure(s));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${system}, ${N} warm sync calls at c${C}, ${ROUNDS} round(s) alternated; median per call (all rounds: in brackets)\n`);
const roles = Object.keys(results[0][0].perCallUs);
console.log(`| setting | ${roles.map((r) => `${r} µs`).join(' | ')} | total µs (Brisk + redis) | Redis commands | inv/s | direct % | failed |`);
console.log(`|---|${roles.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|`);
for (const [i, s] of SETTINGS.entries()) {
  const rs = results[i];
  const cells = roles.map((r) => `${median(rs.map((x) => x.perCallUs[r]))} (${rs.map((x) => x.perCallUs[r]).join(', ')})`);
  const totals = rs.map((x) => Object.values(x.perCallUs).reduce((a, b) => a + b, 0));
  console.log(`| ${s.label} | ${cells.join(' | ')} | ${median(totals)} (${totals.join(', ')}) | ${median(rs.map((x) => x.redisPerCall))} | ${median(rs.map((x) => x.rate))} | ${rs.map((x) => x.direct).join(', ')} | ${rs.map((x) => x.failed).join(', ')} |`);
}
