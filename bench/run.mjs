#!/usr/bin/env node
/**
 * `npm run bench`: Brisk side by side with its baselines, in one run.
 *
 * Writes bench/results/<date>.json and bench/results/<date>.md, prints the
 * Markdown tables. See bench/README.md for what each figure means.
 *
 * Options:
 *   --quick              fewer samples, shorter runs (a smoke test, ~2 min)
 *   --only=a,b           Brisk systems to run: standalone-process, standalone-docker,
 *                        distributed-process, distributed-docker (default: all)
 *   --no-baselines       skip floor, design floor, docker run and serverless-offline
 *   --baselines=a,b      run only these baselines: floor-process, floor-docker,
 *                        design-floor-process, design-floor-docker,
 *                        standalone-floor-process, standalone-floor-docker,
 *                        serverless-offline, docker-run (default: all)
 *   --profile            run the Brisk processes with --cpu-prof; profiles and
 *                        their top functions go to bench/results/profiles/<date>/
 *   --scenarios=a,b      scenarios to run: warm, cold, burst, concurrency (default
 *                        all); the baselines run only the parts those scenarios
 *                        compare with (none for concurrency)
 *   --root=DIR           bench the Brisk built in another tree (its bin/ and dist/;
 *                        default: this repo), e.g. to compare two commits
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import {
  bundleHandler,
  closedLoop,
  dockerRunPlatform,
  ensureServerlessOffline,
  runBody,
  startFloorContainers,
  startDesignFloor,
  startFloorProcesses,
  startServerlessOffline,
} from './lib/baselines.mjs';
import { AUTH, activation, briskRoot, deployJson, deployZip, instancePids, invoke, leftoverContainers, setBriskRoot, startBrisk, waitInvocable } from './lib/brisk.mjs';
import { summariseProfiles } from './lib/cpuprofile.mjs';
import { packageZip, smallFunctionBody, PACKAGE_DEPS } from './lib/fixtures.mjs';
import { LoadGen } from './lib/loadgen-client.mjs';
import { transformEvent, trivialEvent } from './lib/payload.mjs';
import { ProcSampler, descendants, rssMb } from './lib/procstat.mjs';
import { renderMarkdown } from './lib/report.mjs';
import { evaluateTargets } from './lib/targets.mjs';
import { rabbitAvailable, rabbitPid, s3Available, commandExists, startDistributedServices, startRabbitVhost, uniqueId } from './lib/services.mjs';

const execFileAsync = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..');
const IMAGE = 'brisk-runtime:latest';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// options

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const BASELINES = !argv.includes('--no-baselines');
const ONLY_BASELINES = argv.find((a) => a.startsWith('--baselines='))?.slice('--baselines='.length).split(',');
const ALL_SYSTEMS = ['standalone-process', 'standalone-docker', 'distributed-process', 'distributed-docker'];
const onlyArg = argv.find((a) => a.startsWith('--only='));
const rootArg = argv.find((a) => a.startsWith('--root='));
if (rootArg) setBriskRoot(rootArg.slice(7));
const SYSTEMS = onlyArg ? onlyArg.slice(7).split(',').filter((s) => ALL_SYSTEMS.includes(s)) : ALL_SYSTEMS;
const ALL_SCENARIOS = ['warm', 'cold', 'burst', 'concurrency'];
const scenariosArg = argv.find((a) => a.startsWith('--scenarios='));
const SCENARIOS = new Set(scenariosArg ? scenariosArg.slice(12).split(',').filter((s) => ALL_SCENARIOS.includes(s)) : ALL_SCENARIOS);

/** Sample sizes and durations: small enough for < 10 minutes in all, large enough for a stable p99. */
const S = QUICK
  ? { latencyCount: 200, warmup: 30, tputMs: 1500, tputWarmupMs: 800, coldPool: 4, coldEmpty: 3, deploySmall: 5, deployPkg: 3, dockerRunC1: 3, dockerRunMs: 2500 }
  : { latencyCount: 600, warmup: 100, tputMs: 3000, tputWarmupMs: 1500, coldPool: 10, coldEmpty: 5, deploySmall: 12, deployPkg: 6, dockerRunC1: 8, dockerRunMs: 5000 };
const CONCURRENCIES = [16, 64];
/** Simultaneous calls of the burst scenario, onto a function with one warm instance. */
const BURSTS = [16, 64];
/**
 * The concurrency scenario (issue 17): the I/O-bound function deployed with
 * each `concurrency` setting, driven by `clients` like the warm c64 run.
 * 128 MB, the smallest size the executor counts in (its in-flight cap is
 * BRISK_EXECUTOR_MEMORY_MB / 128), so concurrency 1 may get as many
 * instances as the executor takes calls at once, and memory does not cap it first.
 * Before the measured run the load ramps the instances up in segments of
 * `rampSegmentMs` until the function's warm instances on the executors (as
 * their heartbeats, one a second, tell `GET /v1/executors`) have not grown
 * for `rampStableSegments` segments (at most `rampLimitMs`): starting ~30
 * instances takes seconds on 2 cores (~30 containers took 23–29 s on a busy
 * machine), and a measured window that caught
 * them starting would measure their start-up, not the steady state.
 */
const CONC = { settings: [1, 16], clients: 64, memoryMb: 128, rampSegmentMs: 1000, rampStableSegments: 2, rampLimitMs: 60_000 };

const FUNCTIONS = {
  trivial: { file: path.join(REPO, 'bench/functions/trivial.mjs'), event: JSON.stringify(trivialEvent()) },
  transform: { file: path.join(REPO, 'bench/functions/transform.mjs'), event: JSON.stringify(transformEvent()) },
};
for (const f of Object.values(FUNCTIONS)) f.code = readFileSync(f.file, 'utf8');
/** The I/O-bound function of the concurrency scenario: awaits a 20 ms timer, answers `{ instance }`. Not a warm-run function. */
const IO_WAIT = { file: path.join(REPO, 'bench/functions/io-wait.mjs'), event: '{}' };
IO_WAIT.code = readFileSync(IO_WAIT.file, 'utf8');
/** The trivial function in Python (issue 16), run beside Node's when an interpreter is here; `--no-python` skips it. */
const PYTHON = argv.includes('--no-python') ? undefined : ['/usr/bin/python3', 'python3'].find((p) => p.includes('/') ? existsSync(p) : true);
const PY_TRIVIAL = readFileSync(path.join(REPO, 'bench/functions/trivial.py'), 'utf8');

// ---------------------------------------------------------------------------
// bookkeeping

const t0 = Date.now();
const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..+$/, 'Z');
const resultsDir = path.join(REPO, 'bench/results');
const profileRoot = path.join(resultsDir, 'profiles', stamp);
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);

const results = {
  date: new Date().toISOString(),
  quick: QUICK,
  profiled: PROFILE,
  machine: {},
  loadGenerator: '',
  settings: { ...S, concurrencies: CONCURRENCIES, bursts: BURSTS, concurrencyScenario: CONC, scenarios: [...SCENARIOS] },
  payloadBytes: { trivial: FUNCTIONS.trivial.event.length, transform: FUNCTIONS.transform.event.length },
  systems: {},
  targets: [],
  cpuBudget: [],
  skipped: [],
  notes: [],
};

/** Stops that must run whatever happens, most recent first. */
const cleanups = [];
async function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      log(`cleanup failed: ${err.message}`);
    }
  }
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: cleaning up`);
    void runCleanups().then(() => process.exit(130));
  });
}

const skip = (what, why) => {
  log(`SKIP ${what}: ${why}`);
  results.skipped.push({ what, why });
};

// ---------------------------------------------------------------------------
// machine and services

const docker = new Dockerode();

async function machineInfo() {
  const cpus = os.cpus();
  const version = async (cmd, args) => {
    try {
      const { stdout } = await execFileAsync(cmd, args, { timeout: 20_000 });
      return stdout.trim().split('\n')[0];
    } catch {
      return null;
    }
  };
  let dockerVersion = null;
  let otherContainers = null;
  try {
    dockerVersion = (await docker.version()).Version;
    otherContainers = (await docker.listContainers()).length;
  } catch {
    // reported as missing below
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: `${os.type()} ${os.arch()}`,
    node: process.version,
    docker: dockerVersion,
    redis: await version('redis-server', ['--version']),
    rabbitmq: await version('rabbitmqctl', ['-q', 'version']),
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    otherRunningContainersAtStart: otherContainers,
  };
}

async function dockerReady() {
  try {
    await docker.ping();
  } catch {
    return 'dockerd is not reachable';
  }
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    log(`${IMAGE} missing: building it with infra/runtime/build-offline.sh`);
    try {
      await execFileAsync('bash', [path.join(REPO, 'infra/runtime/build-offline.sh'), IMAGE], { cwd: REPO, timeout: 300_000 });
    } catch (err) {
      return `could not build ${IMAGE}: ${String(err.message).slice(0, 300)}`;
    }
  }
  if (PYTHON) {
    // The Python image too (the executors of the Python runs would build it on start, inside the platform's start-up time).
    const pyImage = 'brisk-runtime-python:latest';
    const fresh = await docker.getImage(pyImage).inspect().then((i) => i.Config?.Labels?.['brisk.runtime.sha256'] === createHash('sha256').update(readFileSync(path.join(REPO, 'runtime/python/brisk_runtime.py'))).digest('hex'), () => false);
    if (!fresh) {
      log(`${pyImage} missing or stale: building it with infra/runtime/build-python-offline.sh`);
      await execFileAsync('bash', [path.join(REPO, 'infra/runtime/build-python-offline.sh'), pyImage], { cwd: REPO, timeout: 300_000 }).catch((err) => log(`could not build ${pyImage}: ${String(err.message).slice(0, 300)}`));
    }
  }
  return null;
}

// ---------------------------------------------------------------------------
// measurement primitives

const lg = new LoadGen();
cleanups.push(async () => lg.close());

/** The loadgen target of `POST /v1/functions/{fn}/invoke` (body: the function's bench event). */
function briskTarget(url, fn, body = FUNCTIONS[fn].event) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    method: 'POST',
    path: `/v1/functions/${fn}/invoke`,
    headers: { ...AUTH, 'content-type': 'application/json' },
    body,
  };
}

/**
 * Load the sampling window must not see: the job's warm-up runs as a job of
 * its own first, and the measured job keeps only this much of a warm-up (its
 * connections open), so the CPU sampled is the CPU of the calls counted.
 */
const SAMPLED_WARMUP_MS = 100;

/**
 * One throughput job of the load generator; with `procs`, each process's CPU
 * and RSS are sampled during it (`processes`) and its CPU is divided by the
 * calls completed (`cpuUsPerInvocation`, µs per process). The warm-up (in
 * which a platform may still be starting instances) runs before the sampler
 * starts: until 2026-12-02 it ran inside the sampled window, so every
 * system's CPU per call carried its warm-up's CPU (1.5 s of 4.5 s sampled),
 * and a platform that started instances then carried their start too.
 */
async function sampledThroughput(job, procs) {
  if (procs && (job.warmupMs ?? 0) > SAMPLED_WARMUP_MS) {
    await lg.run({ kind: 'throughput', ...job, durationMs: job.warmupMs, warmupMs: 0 });
    job = { ...job, warmupMs: SAMPLED_WARMUP_MS };
  }
  const sampler = procs ? new ProcSampler(procs()) : undefined;
  sampler?.start();
  const r = await lg.run({ kind: 'throughput', ...job });
  if (sampler) {
    const st = sampler.stop();
    r.processes = st;
    r.cpuUsPerInvocation = Object.fromEntries(Object.entries(st.cpuMs).map(([k, v]) => [k, r.ok ? Math.round((v * 1000) / r.ok) : null]));
  }
  return r;
}

/**
 * Latency at c1 and throughput at each concurrency against `target(s)`,
 * sampling `procs` during the throughput runs. `ramp(c)` (Brisk systems)
 * loads the platform at `c` until it stops adding instances before that
 * concurrency is measured: a warm row measures warm instances, and how fast a
 * platform adds them is the burst scenario's to measure (the floors'
 * instances are all there from the start).
 */
async function warmScenarios(label, fn, { target, targets, procs, perConcurrencyTargets, afterLatency, ramp }) {
  const out = {};
  log(`${label} ${fn}: latency c1 (${S.latencyCount} samples)`);
  out.latency = await lg.run({ kind: 'latency', target: target ?? targets[0], count: S.latencyCount, warmup: S.warmup });
  if (afterLatency) out.breakdown = await afterLatency(out.latency);
  for (const c of CONCURRENCIES) {
    const tg = perConcurrencyTargets ? perConcurrencyTargets(c) : targets;
    const ramped = ramp ? await ramp(c) : undefined;
    if (ramped && !ramped.stable) results.notes.push(`${label} ${fn} c${c}: instances still growing after ${ramped.ms} ms of load; measured anyway`);
    log(`${label} ${fn}: throughput c${c} (${S.tputMs} ms)${ramped ? ` after a ${ramped.ms} ms ramp-up to ${ramped.instances} instances` : ''}`);
    out[`c${c}`] = await sampledThroughput({ ...(tg ? { targets: tg } : { target }), concurrency: c, durationMs: S.tputMs, warmupMs: S.tputWarmupMs }, procs);
    if (ramped) out[`c${c}`].rampUp = ramped;
  }
  return out;
}

const pct = (arr, p) => {
  if (!arr.length) return null;
  const s = [...arr].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] * 100) / 100;
};
const stats = (arr) => ({ samples: arr.length, p50: pct(arr, 50), p90: pct(arr, 90), max: pct(arr, 100) });

// ---------------------------------------------------------------------------
// Brisk systems

let distServices; // { env, redisPid, stop } shared by the distributed systems
async function distributedServices() {
  if (distServices !== undefined) return distServices;
  const missing = [];
  if (!(await commandExists('redis-server'))) missing.push('redis-server');
  if (!s3Available()) missing.push('s3rver');
  if (!(await rabbitAvailable())) missing.push('rabbitmq (127.0.0.1:5672 + rabbitmqctl)');
  if (missing.length) {
    distServices = { missing: missing.join(', ') };
    return distServices;
  }
  log('starting redis-server, s3rver and a RabbitMQ vhost');
  const services = await startDistributedServices();
  cleanups.push(services.stop);
  distServices = {
    env: services.env,
    redisPid: services.redis.pid,
    rabbitPid: await rabbitPid(),
    stop: services.stop,
  };
  return distServices;
}

let dockerdPid;
async function findDockerdPid() {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-o', '-x', 'dockerd']);
    return Number(stdout.trim());
  } catch {
    return undefined;
  }
}

async function withBrisk(system, extraEnv, profileTag, fn) {
  const [mode, backend] = system.split('-');
  let serviceEnv = {};
  let svc;
  if (mode === 'distributed') {
    svc = await distributedServices();
    serviceEnv = svc.env;
  }
  const brisk = await startBrisk({
    mode,
    backend,
    serviceEnv,
    extraEnv,
    profileDir: PROFILE ? path.join(profileRoot, `${system}${profileTag}`) : undefined,
  });
  const stop = async () => {
    await brisk.stop();
    if (backend === 'docker') {
      const left = await leftoverContainers(brisk.executorId);
      if (left.length) {
        results.notes.push(`${system}: ${left.length} container(s) left after the executor stopped; removed by the bench`);
        await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      }
    }
  };
  cleanups.push(stop);
  try {
    return await fn(brisk, svc);
  } finally {
    cleanups.splice(cleanups.indexOf(stop), 1);
    await stop();
  }
}

/**
 * The processes of a running Brisk, as ProcSampler takes them: each role, its
 * runtime instances (summed; their pids refreshed every 500 ms, as instances
 * come and go), RabbitMQ and Redis when distributed, dockerd on Docker, and
 * the load generator. `close()` stops the refresh.
 */
async function platformProcs(brisk, svc) {
  let instPids = [];
  const refresh = async () => {
    instPids = await instancePids(brisk).catch(() => instPids);
  };
  await refresh();
  const timer = setInterval(() => void refresh(), 500);
  const procs = () => {
    const p = {};
    for (const [role, r] of Object.entries(brisk.roles)) p[role] = r.pid;
    p.instances = () => instPids;
    if (svc?.rabbitPid) p.rabbitmq = svc.rabbitPid;
    if (svc?.redisPid) p.redis = svc.redisPid;
    if (brisk.backend === 'docker' && dockerdPid) p.dockerd = dockerdPid;
    p.loadgen = lg.pid;
    return p;
  };
  return { procs, refresh, instancePids: () => instPids, close: () => clearInterval(timer) };
}

/** Throws unless `got` is what the handler of `fn` answers its event when run here (`what` names the system). */
async function checkAnswer(what, fn, got) {
  const { handler } = await import(FUNCTIONS[fn].file);
  const want = JSON.stringify(await handler(JSON.parse(FUNCTIONS[fn].event), {}));
  if (got !== want) throw new Error(`${what}: wrong result ${got.slice(0, 200)}`);
}

/** Warm runs of one function on a fresh Brisk: latency c1, throughput c16/c64, idle RSS, and (trivial) the after-burst probe. */
async function warmBrisk(system, fn, brisk, svc, out) {
  await deployJson(brisk.url, fn, { code: FUNCTIONS[fn].code });
  await waitInvocable(brisk.url, fn, FUNCTIONS[fn].event);
  // The response is checked once against the handler run locally, so a fast wrong answer cannot pass.
  await checkAnswer(`${system} ${fn}`, fn, (await invoke(brisk.url, fn, FUNCTIONS[fn].event)).text);

  // Process figures: each platform process, the runtime instances (summed), and the services.
  const watch = await platformProcs(brisk, svc);
  try {
    out.warm[fn] = await warmScenarios(system, fn, {
      target: briskTarget(brisk.url, fn),
      procs: watch.procs,
      afterLatency: (lat) => breakdown(brisk.url, fn, lat),
      ramp: (c) => rampUp(brisk.url, fn, briskTarget(brisk.url, fn), c),
    });
    if (fn !== 'trivial') return;
    // Idle RSS: every live instance (warm ones + the pre-started pool) after the load, at rest.
    await sleep(1000);
    await watch.refresh();
    const rss = watch.instancePids().map((p) => rssMb(p)).filter((x) => x !== undefined);
    out.memory.idleInstanceRssMb = { instances: rss.length, median: pct(rss, 50), max: pct(rss, 100) };
    out.memory.idlePlatformRssMb = Object.fromEntries(Object.entries(brisk.roles).map(([role, r]) => [role, rssMb(r.pid)]));
  } finally {
    watch.close();
  }

  // A new function right after the burst: the executor's budget is full of idle warm instances,
  // which it could evict; a platform that cannot place the new function here stalls real users.
  log(`${system}: new function right after the c64 burst (10 s limit)`);
  await deployJson(brisk.url, 'after-burst', smallFunctionBody(FUNCTIONS.trivial.code, `after ${uniqueId()}`));
  const tb = performance.now();
  const ab = await fetch(`${brisk.url}/v1/functions/after-burst/invoke`, { method: 'POST', headers: AUTH, body: FUNCTIONS.trivial.event, signal: AbortSignal.timeout(10_000) })
    .then(async (res) => ({ status: res.status, text: (await res.text()).slice(0, 200) }))
    .catch((err) => ({ status: null, text: String(err.name === 'TimeoutError' ? 'no answer within 10 s' : err.message) }));
  out.afterBurst = { ms: Math.round(performance.now() - tb), ...ab };
  if (ab.status !== 200) {
    results.notes.push(`${system}: a new function invoked right after the c64 burst got ${ab.status ?? 'no answer'} after ${out.afterBurst.ms} ms (${ab.text}); see bench/README.md, hot spots.`);
  }
}

/**
 * Where a c1 invocation's time goes, from the activation records of the latency
 * run: queuedAt (gateway) → startedAt (executor took it) → + durationMs (instance
 * acquired and run) → the rest is the way back (reply, gateway, client). Record
 * times are whole milliseconds, so means over many samples are used.
 */
async function breakdown(url, fn, lat) {
  try {
    const res = await fetch(`${url}/v1/activations?function=${fn}&limit=${Math.min(1000, S.latencyCount)}`, { headers: AUTH });
    const body = await res.json();
    const recs = (Array.isArray(body) ? body : body.activations ?? body.items ?? []).filter((a) => a.status === 'success' && a.startKind === 'warm');
    if (!recs.length) return undefined;
    const mean = (xs) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100;
    const toExecutor = mean(recs.map((a) => Date.parse(a.startedAt) - Date.parse(a.queuedAt)));
    const inExecutor = mean(recs.map((a) => a.durationMs));
    return {
      samples: recs.length,
      clientMeanMs: lat.mean,
      gatewayToExecutorMs: toExecutor,
      executorAcquireAndRunMs: inExecutor,
      replyPathAndHttpMs: Math.round((lat.mean - toExecutor - inExecutor) * 100) / 100,
    };
  } catch (err) {
    return { error: String(err.message) };
  }
}

/**
 * Python beside Node on a platform that pre-starts Python instances
 * (BRISK_POOL_RUNTIMES=nodejs,python): warm runs of the trivial function in
 * Python (`trivial-python`), and the cold start with a pool hit.
 */
async function benchPython(system, out) {
  await withBrisk(system, { BRISK_POOL_RUNTIMES: 'nodejs,python', BRISK_PYTHON: PYTHON }, '-python', async (brisk, svc) => {
    const fn = 'trivial-python';
    await deployJson(brisk.url, fn, { code: PY_TRIVIAL, runtime: 'python' });
    await waitInvocable(brisk.url, fn, FUNCTIONS.trivial.event);
    // The Python function answers as Node's trivial one does.
    await checkAnswer(`${system} ${fn}`, 'trivial', (await invoke(brisk.url, fn, FUNCTIONS.trivial.event)).text);
    let instPids = await instancePids(brisk).catch(() => []);
    const timer = setInterval(() => void instancePids(brisk).then((p) => (instPids = p), () => undefined), 500);
    const procs = () => ({ ...Object.fromEntries(Object.entries(brisk.roles).map(([role, r]) => [role, r.pid])), instances: () => instPids, ...(svc?.rabbitPid ? { rabbitmq: svc.rabbitPid } : {}), loadgen: lg.pid });
    try {
      const pyTarget = { ...briskTarget(brisk.url, 'trivial'), path: `/v1/functions/${fn}/invoke` };
      out.warm[fn] = await warmScenarios(system, fn, { target: pyTarget, procs, ramp: (c) => rampUp(brisk.url, fn, pyTarget, c) });
    } finally {
      clearInterval(timer);
    }
  });
  // A fresh platform for the pool hits, as for Node's: the warm runs leave the budget full of idle instances, and a pool refills from free memory only.
  await withBrisk(system, { BRISK_POOL_RUNTIMES: 'nodejs,python', BRISK_PYTHON: PYTHON }, '-python-cold', async (brisk) => {
    await deployJson(brisk.url, 'pyprobe', { code: PY_TRIVIAL, runtime: 'python' });
    await waitInvocable(brisk.url, 'pyprobe', FUNCTIONS.trivial.event);
    log(`${system}: Python cold start with a pool hit (${S.coldPool} samples)`);
    const client = [];
    const startMs = [];
    const kinds = {};
    for (let i = 0; i < S.coldPool; i++) {
      await poolRefilled(system, brisk.url, 4); // Node's pool and Python's, BRISK_POOL_SIZE each
      const name = `pycold-${i}`;
      await deployJson(brisk.url, name, { code: `${PY_TRIVIAL}\n# cold ${uniqueId()}\n`, runtime: 'python' });
      const r = await invoke(brisk.url, name, FUNCTIONS.trivial.event);
      if (r.status !== 200) throw new Error(`${system} Python cold start: ${r.status} ${r.text}`);
      const rec = await activation(brisk.url, r.activationId);
      kinds[rec.startKind] = (kinds[rec.startKind] ?? 0) + 1;
      if (rec.startKind === 'pool') {
        client.push(r.ms);
        startMs.push(rec.startMs);
      }
    }
    out.coldStart.pythonPool = { client: stats(client), startMs: stats(startMs), startKinds: kinds };
  });
}

/**
 * Until every executor of this Brisk reports nothing in flight and a full
 * generic pool (at least `poolSize` ready), as its heartbeats tell the gateway,
 * in a heartbeat sent after `since` (epoch ms; one from before a call may
 * still count the pre-started instance that call took).
 */
async function waitIdle(url, poolSize = 2, timeoutMs = 20_000, since = 0) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/v1/executors`, { headers: AUTH }).catch(() => undefined);
    const body = res?.status === 200 ? await res.json() : undefined;
    const execs = (body?.executors ?? []).filter((e) => e.state === 'healthy');
    const idle = execs.length > 0 && execs.every((e) => e.lastHeartbeatAt > since && e.inFlight === 0 && Object.values(e.pool ?? {}).reduce((a, b) => a + b, 0) >= poolSize);
    if (idle) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** Until the pool has refilled after the last call (see waitIdle); noted in the results when it does not within 20 s. */
async function poolRefilled(system, url, poolSize = 2) {
  if (!(await waitIdle(url, poolSize, 20_000, Date.now()))) results.notes.push(`${system}: a cold-start sample ran before the executor reported a full pool (20 s limit)`);
}

/** The activation records of a burst (written after each reply, so polled until all are there). */
async function burstRecords(url, name, count, firedAt) {
  const deadline = Date.now() + 10_000;
  let recs = [];
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/v1/activations?function=${name}&limit=${count + 20}`, { headers: AUTH });
    const body = await res.json();
    const all = Array.isArray(body) ? body : body.activations ?? body.items ?? [];
    // The first call (which made the warm instance) was before the burst was fired.
    recs = all.filter((a) => Date.parse(a.queuedAt) >= firedAt - 1 && a.status !== 'queued' && a.status !== 'running');
    if (recs.length >= count) break;
    await sleep(50);
  }
  return recs;
}

/**
 * The burst scenario: a fresh Brisk per size, a new function invoked once (one
 * warm instance), the executor idle with its pool full, then N calls at once.
 */
async function burstBrisk(system, out) {
  log(`${system}: bursts of ${BURSTS.join(' and ')} calls`);
  out.burst = {};
  for (const n of BURSTS) {
    await withBrisk(system, {}, `-burst${n}`, async (brisk) => {
      const name = `burst-${n}`;
      await deployJson(brisk.url, name, smallFunctionBody(FUNCTIONS.trivial.code, `burst ${uniqueId()}`));
      await waitInvocable(brisk.url, name, FUNCTIONS.trivial.event);
      const idle = await waitIdle(brisk.url);
      if (!idle) results.notes.push(`${system}: burst ${n} fired before the executor reported itself idle with a full pool (20 s limit)`);
      const before = new Set(await instancePids(brisk));
      log(`${system}: burst of ${n} simultaneous calls onto one warm instance`);
      const r = await lg.run({ kind: 'burst', target: { ...briskTarget(brisk.url, 'trivial'), path: `/v1/functions/${name}/invoke` }, count: n });
      const started = (await instancePids(brisk)).filter((p) => !before.has(p)).length;
      const recs = await burstRecords(brisk.url, name, n, r.firedAt);
      const kinds = {};
      for (const a of recs) kinds[a.startKind] = (kinds[a.startKind] ?? 0) + 1;
      // An instance loaded for the burst is ready when its activation's start ended.
      const loaded = recs.filter((a) => a.startKind === 'cold' || a.startKind === 'pool');
      const lastReady = Math.max(...loaded.map((a) => Date.parse(a.startedAt) + (a.startMs ?? 0)));
      out.burst[n] = {
        ...r,
        startKinds: kinds,
        instancesLoaded: loaded.length,
        instancesStarted: started,
        instancesReadyPerS: loaded.length && lastReady > r.firedAt ? Math.round((loaded.length / (lastReady - r.firedAt)) * 10_000) / 10 : null,
      };
    });
  }
}

/** Warm instances of function `name` on every executor, as their last heartbeats told the gateway. */
async function warmInstancesOf(url, name) {
  const res = await fetch(`${url}/v1/executors`, { headers: AUTH });
  if (res.status !== 200) throw new Error(`GET /v1/executors: ${res.status} ${await res.text()}`);
  const { executors } = await res.json();
  return executors.reduce((n, e) => n + e.warm.filter((w) => w.function === name).length, 0);
}

/**
 * Drive function `name` (at `target`) with CONC.clients clients in segments
 * until its warm instances have not grown for CONC.rampStableSegments
 * segments. Answers the most warm instances seen, when that count was first
 * reached (ms from the start of the load), and whether it settled within
 * CONC.rampLimitMs.
 */
async function rampUp(url, name, target, clients = CONC.clients) {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  let instances = 0;
  let reachedMs = 0;
  let flat = 0;
  while (ms() < CONC.rampLimitMs) {
    await lg.run({ kind: 'throughput', target, concurrency: clients, durationMs: CONC.rampSegmentMs, warmupMs: 0 });
    const warm = await warmInstancesOf(url, name);
    if (warm > instances) {
      instances = warm;
      reachedMs = ms();
      flat = 0;
    } else if (instances > 0 && ++flat >= CONC.rampStableSegments) {
      return { instances, reachedMs, ms: ms(), stable: true };
    }
  }
  return { instances, reachedMs, ms: ms(), stable: false };
}

/**
 * The concurrency scenario (issue 17): the I/O-bound function (a 20 ms timer)
 * deployed with each `concurrency` setting, each on a fresh platform (the
 * concurrency-1 run leaves the executor's budget full of its idle instances),
 * ramped up (see CONC), then driven by CONC.clients clients for the warm run's duration. Per
 * setting: inv/s, p50/p99, the instances that answered during the measured
 * window (the distinct ids the function returns) and the function's warm
 * instances on the executors right after it, CPU per call by process.
 */
async function concurrencyBrisk(system, out) {
  out.concurrency = {};
  for (const n of CONC.settings) {
    await withBrisk(system, {}, `-conc${n}`, async (brisk, svc) => {
      const name = `io-wait-c${n}`;
      await deployJson(brisk.url, name, { code: IO_WAIT.code, concurrency: n, memoryMb: CONC.memoryMb });
      const first = await waitInvocable(brisk.url, name, IO_WAIT.event);
      if (typeof JSON.parse(first.text).instance !== 'string') throw new Error(`${system} ${name}: answer without an instance id: ${first.text.slice(0, 200)}`);
      const target = briskTarget(brisk.url, name, IO_WAIT.event);
      log(`${system}: I/O-bound function, concurrency ${n}: c${CONC.clients} until its instances stop growing`);
      const ramp = await rampUp(brisk.url, name, target);
      if (!ramp.stable) results.notes.push(`${system} concurrency ${n}: instances still growing after ${ramp.ms} ms of load; measured anyway`);
      const watch = await platformProcs(brisk, svc);
      try {
        log(`${system}: I/O-bound function, concurrency ${n}, c${CONC.clients} (${S.tputMs} ms)`);
        const r = await sampledThroughput({ target, concurrency: CONC.clients, durationMs: S.tputMs, warmupMs: S.tputWarmupMs, distinct: 'instance' }, watch.procs);
        const all = Object.entries(r.cpuUsPerInvocation).filter(([proc, us]) => proc !== 'loadgen' && typeof us === 'number');
        out.concurrency[`c${n}`] = {
          functionConcurrency: n,
          memoryMb: CONC.memoryMb,
          rampUp: ramp,
          ...r,
          instancesUsed: r.distinct.count,
          warmInstancesAfter: await warmInstancesOf(brisk.url, name),
          cpuUsPerInvocationAll: all.length ? all.reduce((sum, [, us]) => sum + us, 0) : null,
        };
        if (r.distinct.answersWithout) results.notes.push(`${system} concurrency ${n}: ${r.distinct.answersWithout} answer(s) without an instance id`);
      } finally {
        watch.close();
      }
    });
  }
}

async function benchBriskSystem(system) {
  const label = system;
  const out = { kind: 'brisk', warm: {}, coldStart: {}, deploy: {}, memory: {} };
  results.systems[system] = out;

  // One fresh platform per function for the warm runs: the c64 burst of one function leaves the
  // executor's budget full of its idle instances, which must not decide the other function's figures.
  for (const fn of SCENARIOS.has('warm') ? Object.keys(FUNCTIONS) : []) {
    await withBrisk(system, {}, `-${fn}`, async (brisk, svc) => {
      await warmBrisk(system, fn, brisk, svc, out);
    });
  }
  if (SCENARIOS.has('concurrency')) await concurrencyBrisk(system, out);
  if (!SCENARIOS.has('cold')) {
    if (SCENARIOS.has('burst')) await burstBrisk(system, out);
    return;
  }

  if (PYTHON) await benchPython(system, out);

  // A fresh platform for cold starts and deploys, so neither runs into instances the warm runs left behind.
  await withBrisk(system, {}, '-cold', async (brisk) => {
    await deployJson(brisk.url, 'probe', { code: FUNCTIONS.trivial.code });
    await waitInvocable(brisk.url, 'probe', FUNCTIONS.trivial.event);
    // Cold start with a pool hit: a new function (new code hash) invoked once, after the pool has refilled.
    log(`${label}: cold start with a pool hit (${S.coldPool} samples)`);
    const client = [];
    const startMs = [];
    const kinds = {};
    for (let i = 0; i < S.coldPool; i++) {
      await poolRefilled(system, brisk.url);
      const name = `coldp-${i}`;
      await deployJson(brisk.url, name, smallFunctionBody(FUNCTIONS.trivial.code, `cold ${uniqueId()}`));
      const r = await invoke(brisk.url, name, FUNCTIONS.trivial.event);
      if (r.status !== 200) throw new Error(`${system} cold start: ${r.status} ${r.text}`);
      const rec = await activation(brisk.url, r.activationId);
      kinds[rec.startKind] = (kinds[rec.startKind] ?? 0) + 1;
      if (rec.startKind === 'pool') {
        client.push(r.ms);
        startMs.push(rec.startMs);
      }
    }
    out.coldStart.pool = { client: stats(client), startMs: stats(startMs), startKinds: kinds };

    // The same with a non-default memory size: a pool hit on Docker (the pre-started container is
    // resized), a cold start on the process backend (its pool is per size; see the README).
    const otherMb = 512;
    log(`${label}: first call of a ${otherMb} MB function (${Math.ceil(S.coldPool / 2)} samples)`);
    const oc = [];
    const os_ = [];
    const okinds = {};
    for (let i = 0; i < Math.ceil(S.coldPool / 2); i++) {
      await poolRefilled(system, brisk.url);
      const name = `coldm-${i}`;
      await deployJson(brisk.url, name, { ...smallFunctionBody(FUNCTIONS.trivial.code, `cold ${uniqueId()}`), memoryMb: otherMb });
      const r = await invoke(brisk.url, name, FUNCTIONS.trivial.event);
      if (r.status !== 200) throw new Error(`${system} cold start (${otherMb} MB): ${r.status} ${r.text}`);
      const rec = await activation(brisk.url, r.activationId);
      okinds[rec.startKind] = (okinds[rec.startKind] ?? 0) + 1;
      oc.push(r.ms);
      os_.push(rec.startMs);
    }
    out.coldStart.otherSize = { memoryMb: otherMb, client: stats(oc), startMs: stats(os_), startKinds: okinds };

    // Deploy latency: esbuild bundle + store, measured at the client.
    log(`${label}: deploy latency`);
    const small = [];
    for (let i = 0; i < S.deploySmall; i++) {
      small.push((await deployJson(brisk.url, `dep-small-${i}`, smallFunctionBody(FUNCTIONS.transform.code, `deploy ${uniqueId()}`))).ms);
    }
    const pkg = [];
    let zipBytes = 0;
    for (let i = 0; i < S.deployPkg; i++) {
      const zip = packageZip(`deploy ${uniqueId()}`);
      zipBytes = zip.length;
      pkg.push((await deployZip(brisk.url, `dep-pkg-${i}`, zip, 'src/index.handler')).ms);
    }
    // The package really runs (its dependencies were bundled).
    const pr = await invoke(brisk.url, `dep-pkg-0`, '{"cookie":"x=1"}');
    if (pr.status !== 200 || !pr.text.includes('"ttl":"2m"')) throw new Error(`${system} package function: ${pr.status} ${pr.text}`);
    out.deploy = { small: stats(small), package: { ...stats(pkg), zipBytes, dependencies: PACKAGE_DEPS } };
  });

  if (SCENARIOS.has('burst')) await burstBrisk(system, out);

  // Cold start with the pool empty: a platform started with BRISK_POOL_SIZE=0 and BRISK_POOL_MAX=0.
  log(`${label}: cold start with an empty pool (${S.coldEmpty} samples)`);
  await withBrisk(system, { BRISK_POOL_SIZE: '0', BRISK_POOL_MAX: '0' }, '-nopool', async (brisk) => {
    await deployJson(brisk.url, 'probe', { code: FUNCTIONS.trivial.code });
    await waitInvocable(brisk.url, 'probe', FUNCTIONS.trivial.event);
    const client = [];
    const startMs = [];
    const kinds = {};
    for (let i = 0; i < S.coldEmpty; i++) {
      const name = `colde-${i}`;
      await deployJson(brisk.url, name, smallFunctionBody(FUNCTIONS.trivial.code, `cold ${uniqueId()}`));
      const r = await invoke(brisk.url, name, FUNCTIONS.trivial.event);
      if (r.status !== 200) throw new Error(`${system} cold start (empty pool): ${r.status} ${r.text}`);
      const rec = await activation(brisk.url, r.activationId);
      kinds[rec.startKind] = (kinds[rec.startKind] ?? 0) + 1;
      if (rec.startKind === 'cold') {
        client.push(r.ms);
        startMs.push(rec.startMs);
      }
    }
    out.coldStart.empty = { client: stats(client), startMs: stats(startMs), startKinds: kinds };
  });
}

// ---------------------------------------------------------------------------
// baselines

/** Warm instances of the floor and the design floor: as many as Brisk's default executor runs at once (4096 MB / 256 MB). */
const FLOOR_INSTANCES = 16;

/** `count` warm runtime instances loaded with `code`: hardened containers (`docker`) or child processes on TCP (`process`). */
function startFloorInstances(kind, { code, count, name, readyTimeoutMs }) {
  const opts = { code, count, name, ...(readyTimeoutMs !== undefined ? { readyTimeoutMs } : {}) };
  return kind === 'docker' ? startFloorContainers({ image: IMAGE, ...opts }) : startFloorProcesses({ ...opts, root: briskRoot() });
}

async function benchFloor(kind) {
  const system = `floor-${kind}`;
  const out = { kind: 'floor', warm: {}, memory: {} };
  results.systems[system] = out;
  for (const fn of SCENARIOS.has('warm') ? Object.keys(FUNCTIONS) : []) {
    const code = await bundleHandler(FUNCTIONS[fn].file);
    const maxC = Math.max(...CONCURRENCIES);
    const count = FLOOR_INSTANCES;
    log(`${system} ${fn}: starting ${count} warm runtime instances`);
    const floor = await startFloorInstances(kind, { code, count, name: fn });
    cleanups.push(floor.stop);
    try {
      const body = runBody(FUNCTIONS[fn].event);
      const targets = floor.targets.map((t) => ({ ...t, method: 'POST', path: '/run', headers: { 'content-type': 'application/json' }, body }));
      const runtimePids = () => floor.rootPids.flatMap((p) => [p, ...descendants(p)]);
      out.warm[fn] = await warmScenarios(system, fn, {
        target: targets[0],
        targets,
        perConcurrencyTargets: (c) => targets.slice(0, Math.min(c, count, maxC)),
        procs: () => ({ instances: runtimePids, ...(kind === 'docker' && dockerdPid ? { dockerd: dockerdPid } : {}), loadgen: lg.pid }),
      });
      const rss = floor.rootPids.map((root) => {
        // The node process: the root itself (process) or tini's child (container).
        const node = kind === 'process' ? root : descendants(root)[0] ?? root;
        return rssMb(node);
      });
      out.memory.idleInstanceRssMb = { instances: rss.length, median: pct(rss, 50), max: pct(rss, 100) };
    } finally {
      cleanups.splice(cleanups.indexOf(floor.stop), 1);
      await floor.stop();
    }
  }
  if (SCENARIOS.has('burst')) out.burst = await burstFloor(kind);
}

/**
 * The design floor (bench/baselines/design-floor.mjs) in front of the same 16
 * warm instances as the floor, with none of a platform's work. `shape`
 * 'distributed' (design-floor-<kind>): the design card's warm sync path —
 * front end, RabbitMQ, executor, warm instance and back; 'standalone'
 * (standalone-floor-<kind>): one front end posting to the instances itself,
 * the shape of `npm start`. What any implementation of the design costs here,
 * per process.
 */
async function benchDesignFloor(kind, shape = 'distributed') {
  const system = shape === 'standalone' ? `standalone-floor-${kind}` : `design-floor-${kind}`;
  const bus = shape === 'distributed';
  if (bus && !(await rabbitAvailable())) return skip(system, 'rabbitmq (127.0.0.1:5672 + rabbitmqctl) missing');
  const out = { kind: 'design-floor', warm: {} };
  results.systems[system] = out;
  const vhost = bus ? await startRabbitVhost() : undefined;
  if (vhost) cleanups.push(vhost.stop);
  const rabbit = bus ? await rabbitPid() : undefined;
  try {
    for (const fn of Object.keys(FUNCTIONS)) {
      const code = await bundleHandler(FUNCTIONS[fn].file);
      const count = FLOOR_INSTANCES;
      log(`${system} ${fn}: starting ${count} warm runtime instances and ${bus ? 'a front end and an executor' : 'a front end'}`);
      const instances = await startFloorInstances(kind, { code, count, name: fn });
      cleanups.push(instances.stop);
      try {
        const floor = await startDesignFloor({ shape, amqpUrl: vhost?.url, targets: instances.targets, profileDir: PROFILE ? path.join(profileRoot, `${system}-${fn}`) : undefined });
        cleanups.push(floor.stop);
        try {
          const u = new URL(floor.url);
          const target = { host: u.hostname, port: Number(u.port), method: 'POST', path: `/v1/functions/${fn}/invoke`, headers: { 'content-type': 'application/json' }, body: FUNCTIONS[fn].event };
          await checkAnswer(`${system} ${fn}`, fn, await fetch(`${floor.url}${target.path}`, { method: 'POST', body: FUNCTIONS[fn].event }).then((r) => r.text()));
          const runtimePids = () => instances.rootPids.flatMap((p) => [p, ...descendants(p)]);
          out.warm[fn] = await warmScenarios(system, fn, {
            target,
            procs: () => ({
              ...floor.pids,
              instances: runtimePids,
              ...(rabbit ? { rabbitmq: rabbit } : {}),
              ...(kind === 'docker' && dockerdPid ? { dockerd: dockerdPid } : {}),
              loadgen: lg.pid,
            }),
          });
        } finally {
          cleanups.splice(cleanups.indexOf(floor.stop), 1);
          await floor.stop();
        }
      } finally {
        cleanups.splice(cleanups.indexOf(instances.stop), 1);
        await instances.stop();
      }
    }
  } finally {
    if (vhost) {
      cleanups.splice(cleanups.indexOf(vhost.stop), 1);
      await vhost.stop();
    }
  }
}

/**
 * The floor of a burst: N instances started in parallel with nothing in
 * between (`docker create` + `start` of hardened containers, or N spawns of
 * the runtime), each until its runtime answers and has loaded the handler.
 * Their rate is what the engine here manages.
 */
async function burstFloor(kind) {
  const code = await bundleHandler(FUNCTIONS.trivial.file);
  const out = {};
  for (const n of BURSTS) {
    log(`floor-${kind}: ${n} instances started in parallel`);
    const t = performance.now();
    const floor = await startFloorInstances(kind, { code, count: n, name: `burst${n}`, readyTimeoutMs: 120_000 });
    const ms = performance.now() - t;
    cleanups.push(floor.stop);
    try {
      out[n] = { count: n, allReadyMs: Math.round(ms * 10) / 10, instancesReadyPerS: Math.round((n / ms) * 10_000) / 10 };
    } finally {
      cleanups.splice(cleanups.indexOf(floor.stop), 1);
      await floor.stop();
    }
  }
  return out;
}

async function benchDockerRun() {
  const system = 'docker-run';
  const out = { kind: 'docker-run', warm: {} };
  results.systems[system] = out;
  for (const fn of Object.keys(FUNCTIONS)) {
    const p = dockerRunPlatform({ image: IMAGE, handlerFile: FUNCTIONS[fn].file });
    cleanups.push(p.stop);
    try {
      const call = () => p.invoke(FUNCTIONS[fn].event);
      await call(); // first run warms the page cache
      log(`${system} ${fn}: ${S.dockerRunC1} sequential runs`);
      const c1 = await closedLoop(call, { concurrency: 1, durationMs: 60_000, maxCount: S.dockerRunC1 });
      const lat = c1.lat;
      out.warm[fn] = { latency: { ...stats(lat), p99: pct(lat, 99), errors: c1.errors ? { failed: c1.errors } : {} } };
      log(`${system} ${fn}: throughput c16 (${S.dockerRunMs} ms)`);
      const t = await closedLoop(call, { concurrency: 16, durationMs: S.dockerRunMs });
      out.warm[fn].c16 = {
        concurrency: 16,
        ok: t.lat.length,
        rps: Math.round((t.lat.length / t.wallMs) * 10000) / 10,
        p50: pct(t.lat, 50),
        p99: pct(t.lat, 99),
        errors: t.errors ? { failed: t.errors } : {},
      };
    } finally {
      cleanups.splice(cleanups.indexOf(p.stop), 1);
      await p.stop();
    }
  }
  results.notes.push('docker-run: c64 not measured (64 parallel `docker run` only queue behind dockerd; c16 already shows the ceiling).');
}

async function benchServerlessOffline() {
  const system = 'serverless-offline';
  if (!(await ensureServerlessOffline(log))) {
    skip(system, 'npm ci of bench/baselines/serverless-offline failed (no registry access?)');
    return;
  }
  const out = { kind: 'serverless-offline', warm: {}, coldStart: {}, deploy: {}, memory: {} };
  log(`${system}: starting sls offline`);
  const sls = await startServerlessOffline({ functionFiles: Object.values(FUNCTIONS).map((f) => f.file) });
  cleanups.push(sls.stop);
  try {
    results.systems[system] = out;
    out.deploy.startupMs = Math.round(sls.startupMs);
    const target = (fn) => ({
      host: '127.0.0.1',
      port: sls.lambdaPort,
      method: 'POST',
      path: sls.invokePath(fn),
      headers: { 'content-type': 'application/json' },
      body: FUNCTIONS[fn].event,
    });
    // Cold start: the first call of a function starts its worker thread and loads the handler.
    const cold = [];
    for (let i = 1; i <= 8; i++) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${sls.lambdaPort}${sls.invokePath(`cold0${i}`)}`, { method: 'POST', body: FUNCTIONS.trivial.event });
      await res.text();
      if (res.status === 200) cold.push(performance.now() - t);
    }
    out.coldStart.first = { client: stats(cold) };
    for (const fn of Object.keys(FUNCTIONS)) {
      const res = await fetch(`http://127.0.0.1:${sls.lambdaPort}${sls.invokePath(fn)}`, { method: 'POST', body: FUNCTIONS[fn].event });
      await checkAnswer(`serverless-offline ${fn}`, fn, await res.text());
      out.warm[fn] = await warmScenarios(system, fn, { target: target(fn), procs: () => ({ 'sls offline': sls.pid, loadgen: lg.pid }) });
    }
    await sleep(500);
    out.memory.idlePlatformRssMb = { 'sls offline': rssMb(sls.pid) };
  } finally {
    cleanups.splice(cleanups.indexOf(sls.stop), 1);
    await sls.stop();
  }
}

// ---------------------------------------------------------------------------
// main

async function main() {
  mkdirSync(resultsDir, { recursive: true });
  results.machine = await machineInfo();
  results.brisk = { root: briskRoot(), commit: await execFileAsync('git', ['-C', briskRoot(), 'rev-parse', '--short', 'HEAD']).then((r) => r.stdout.trim()).catch(() => {
      // A tree exported with `git archive` has no .git; the exporter may leave the commit in .bench-commit.
      try {
        return readFileSync(path.join(briskRoot(), '.bench-commit'), 'utf8').trim();
      } catch {
        return null;
      }
    }) };
  results.loadGenerator =
    'bench/lib/loadgen.mjs: one separate Node.js process, closed loop (N workers, one request in flight each) over a keep-alive http.Agent with maxSockets = concurrency; its own CPU time is reported per run (loadgenCpuMs, and "loadgen" in the process CPU figures). Not pinned: on a 2-core machine it shares the CPUs with the system under test, as any client on the same box would.';
  log(`machine: ${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memGiB} GiB, node ${results.machine.node}, load avg ${results.machine.loadAvgAtStart.join(' ')}`);
  if (results.machine.otherRunningContainersAtStart) {
    results.notes.push(`${results.machine.otherRunningContainersAtStart} other container(s) were running when the bench started: the machine was not idle.`);
  }

  const dockerProblem = await dockerReady();
  dockerdPid = dockerProblem ? undefined : await findDockerdPid();

  for (const system of SYSTEMS) {
    const [mode, backend] = system.split('-');
    if (backend === 'docker' && dockerProblem) {
      skip(system, dockerProblem);
      continue;
    }
    if (mode === 'distributed') {
      const svc = await distributedServices();
      if (svc.missing) {
        skip(system, `missing service(s): ${svc.missing}`);
        continue;
      }
    }
    try {
      await benchBriskSystem(system);
    } catch (err) {
      log(`${system} FAILED: ${err.stack}`);
      results.skipped.push({ what: system, why: `failed: ${String(err.message).slice(0, 400)}` });
    }
  }
  if (distServices?.stop) {
    await distServices.stop();
    cleanups.splice(cleanups.indexOf(distServices.stop), 1);
  }

  if (BASELINES) {
    const baselineRuns = [
      ['floor-process', () => benchFloor('process')],
      ['floor-docker', () => (dockerProblem ? skip('floor-docker', dockerProblem) : benchFloor('docker'))],
      ['design-floor-process', () => benchDesignFloor('process')],
      ['design-floor-docker', () => (dockerProblem ? skip('design-floor-docker', dockerProblem) : benchDesignFloor('docker'))],
      ['standalone-floor-process', () => benchDesignFloor('process', 'standalone')],
      ['standalone-floor-docker', () => (dockerProblem ? skip('standalone-floor-docker', dockerProblem) : benchDesignFloor('docker', 'standalone'))],
      ['serverless-offline', () => benchServerlessOffline()],
      ['docker-run', () => (dockerProblem ? skip('docker-run', dockerProblem) : benchDockerRun())],
    ]
      .filter(([name]) => SCENARIOS.has('warm') || (name.startsWith('floor') && SCENARIOS.has('burst')))
      .filter(([name]) => ONLY_BASELINES === undefined || ONLY_BASELINES.includes(name));
    for (const [name, run] of baselineRuns) {
      try {
        await run();
      } catch (err) {
        log(`${name} FAILED: ${err.stack}`);
        results.skipped.push({ what: name, why: `failed: ${String(err.message).slice(0, 400)}` });
      }
    }
  }

  const { targets, budgets } = evaluateTargets(results, { fns: Object.keys(FUNCTIONS), concurrencies: CONCURRENCIES, bursts: BURSTS });
  results.targets = targets;
  results.cpuBudget = budgets;
  if (PROFILE) {
    results.profiles = await summariseProfiles(profileRoot);
  }
  results.durationS = Math.round((Date.now() - t0) / 1000);
  const md = renderMarkdown(results);
  const jsonPath = path.join(resultsDir, `${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, `${stamp}.md`), md);
  process.stdout.write(`${md}\n`);
  log(`wrote ${path.relative(REPO, jsonPath)} (${results.durationS} s)`);
}

try {
  await main();
} finally {
  await runCleanups();
}
process.exit(0);
