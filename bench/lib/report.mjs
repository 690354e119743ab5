/** Renders a results object of bench/run.mjs as Markdown tables. */

const f = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : typeof x === 'number' ? String(Math.round(x * 10 ** d) / 10 ** d) : String(x));
const int = (x) => (x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
/** a/b as "N× faster" or "N× slower" (latency: a = the other's, b = ours). */
const faster = (a, b) => (!a || !b ? '–' : a >= b ? `${f(a / b, 2)}× faster` : `**${f(b / a, 2)}× slower**`);
/** a/b as "N× more" or "N× less" (throughput: a = ours, b = the other's). */
const more = (a, b) => (!a || !b ? '–' : a >= b ? `${f(a / b, 2)}× more` : `**${f(b / a, 2)}× less**`);
const errs = (e) => {
  const n = e ? Object.values(e).reduce((s, v) => s + v, 0) : 0;
  return n ? ` (${n} err: ${Object.entries(e).map(([k, v]) => `${k}×${v}`).join(' ')})` : '';
};

function floorOf(system) {
  if (system.endsWith('-docker') && !system.startsWith('floor')) return 'floor-docker';
  if (system.endsWith('-process') && !system.startsWith('floor')) return 'floor-process';
  return undefined;
}

export function renderMarkdown(r) {
  const L = [];
  const m = r.machine;
  const sys = r.systems;
  const sls = sys['serverless-offline'];
  const fns = ['trivial', 'trivial-python', 'transform'];
  L.push(`# Brisk bench — ${r.date}${r.quick ? ' (quick)' : ''}${r.profiled ? ' (profiled: --cpu-prof slows Brisk)' : ''}`);
  L.push('');
  L.push(`Machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}, Docker ${m.docker ?? '–'}, ${m.redis ?? 'no redis'}, RabbitMQ ${m.rabbitmq ?? '–'}. Load average at start: ${m.loadAvgAtStart?.join(' ')}.`);
  L.push('');
  L.push(`Load generator: ${r.loadGenerator}`);
  L.push('');
  L.push(`Events: trivial ${r.payloadBytes.trivial} B, transform ${r.payloadBytes.transform} B of JSON. Latency: ${r.settings.latencyCount} sequential samples after ${r.settings.warmup} warm-up calls; throughput: ${r.settings.tputMs} ms per run after ${r.settings.tputWarmupMs} ms warm-up. All times in ms.`);
  L.push('');

  L.push('## Warm sync invoke');
  L.push('');
  L.push('| system | function | p50 c1 | p90 c1 | p99 c1 | inv/s c16 | inv/s c64 | p99 c64 | vs serverless-offline: p50 c1 / inv/s c16 / inv/s c64 | above the floor: p50 c1, inv/s c64 |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---|---|');
  for (const [name, s] of Object.entries(sys)) {
    if (!s.warm) continue;
    for (const fn of fns) {
      const w = s.warm[fn];
      if (!w) continue;
      const lat = w.latency ?? {};
      const vs =
        sls?.warm[fn] && name !== 'serverless-offline'
          ? `${faster(sls.warm[fn].latency.p50, lat.p50)} / ${more(w.c16?.rps, sls.warm[fn].c16?.rps)} / ${more(w.c64?.rps, sls.warm[fn].c64?.rps)}`
          : '';
      const fl = floorOf(name) && sys[floorOf(name)]?.warm[fn];
      const above = fl ? `+${f(lat.p50 - fl.latency.p50)} ms, ${fl.c64 && w.c64 ? `${f((w.c64.rps / fl.c64.rps) * 100, 0)}% of floor inv/s` : ''}` : '';
      L.push(
        `| ${name} | ${fn} | ${f(lat.p50)} | ${f(lat.p90)} | ${f(lat.p99)}${errs(lat.errors)} | ${int(w.c16?.rps)}${errs(w.c16?.errors)} | ${w.c64 ? int(w.c64.rps) + errs(w.c64.errors) : '–'} | ${f(w.c64?.p99)} | ${vs} | ${above} |`,
      );
    }
  }
  L.push('');
  const bd = Object.entries(sys).flatMap(([name, s]) => (s.kind === 'brisk' ? fns.map((fn) => [name, fn, s.warm[fn]?.breakdown]) : [])).filter(([, , b]) => b && !b.error);
  if (bd.length) {
    L.push('');
    L.push('Where a warm c1 invocation\'s time goes (means, from the activation records: queuedAt → startedAt → durationMs):');
    L.push('');
    L.push('| system | function | client mean | queued → executor started (bus, scheduler) | executor: acquire + run | the rest: HTTP, auth, lookup, quota, reply path |');
    L.push('|---|---|---:|---:|---:|---:|');
    for (const [name, fn, b] of bd) L.push(`| ${name} | ${fn} | ${f(b.clientMeanMs)} | ${f(b.gatewayToExecutorMs)} | ${f(b.executorAcquireAndRunMs)} | ${f(b.replyPathAndHttpMs)} |`);
  }
  L.push('');
  L.push('floor = the same runtime reached directly (16 warm instances, a zero-cost client-side dispatcher); design-floor = those 16 instances behind a bare front end and executor with RabbitMQ between them (bench/baselines/design-floor.mjs: the design card\'s path with none of a platform\'s work); standalone-floor = those 16 instances behind one bare front end that posts to them itself (the design floor\'s standalone shape); docker-run = `docker run --rm` per event, inv/s at c16 only.');
  L.push('');

  L.push('## Cold start (first invoke after deploy)');
  L.push('');
  L.push('| system | pool hit: client p50 / p90 | pool hit: startMs p50 | 512 MB function: client p50 (start kinds) | empty pool: client p50 / p90 | empty pool: startMs p50 | startKinds seen | vs serverless-offline first call (pool hit) |');
  L.push('|---|---|---:|---|---|---:|---|---|');
  const slsCold = sls?.coldStart?.first?.client;
  for (const [name, s] of Object.entries(sys)) {
    if (s.kind !== 'brisk') continue;
    const p = s.coldStart.pool;
    const e = s.coldStart.empty;
    const o = s.coldStart.otherSize;
    const kinds = [p?.startKinds, e?.startKinds].map((k) => (k ? Object.entries(k).map(([a, b]) => `${a}×${b}`).join(' ') : '–')).join(' | empty: ');
    L.push(
      `| ${name} | ${f(p?.client.p50)} / ${f(p?.client.p90)} | ${f(p?.startMs.p50)} | ${o ? `${f(o.client.p50)} (${Object.entries(o.startKinds).map(([a, b]) => `${a}×${b}`).join(' ')})` : '–'} | ${f(e?.client.p50)} / ${f(e?.client.p90)} | ${f(e?.startMs.p50)} | pool: ${kinds} | ${slsCold ? faster(slsCold.p50, p?.client.p50) : '–'} |`,
    );
  }
  if (slsCold) L.push(`| serverless-offline (first call of a function: worker thread + handler load) | ${f(slsCold.p50)} / ${f(slsCold.p90)} | – | – | – | – | – | |`);
  const dr = sys['docker-run'];
  if (dr?.warm?.trivial) L.push(`| docker-run (every call is a cold start) | ${f(dr.warm.trivial.latency.p50)} / ${f(dr.warm.trivial.latency.p90)} | – | – | – | – | – | |`);
  L.push('');
  const py = Object.entries(sys).filter(([, s]) => s.coldStart?.pythonPool);
  if (py.length) {
    L.push('');
    L.push('Python (`trivial-python`, a platform pre-starting Python instances), cold start with a pool hit:');
    L.push('');
    L.push('| system | client p50 / p90 | startMs p50 | startKinds seen |');
    L.push('|---|---|---:|---|');
    for (const [name, s] of py) {
      const p = s.coldStart.pythonPool;
      L.push(`| ${name} | ${f(p.client.p50)} / ${f(p.client.p90)} | ${f(p.startMs.p50)} | ${Object.entries(p.startKinds).map(([a, b]) => `${a}×${b}`).join(' ')} |`);
    }
  }
  L.push('');
  L.push('client = time of the first POST …/invoke as the client sees it; startMs = the activation record\'s time to get a loaded instance.');
  const ab = Object.entries(sys).filter(([, s]) => s.afterBurst);
  if (ab.length) {
    L.push('');
    L.push(`A new function invoked right after the c64 burst (executor budget full of idle instances): ${ab.map(([n, s]) => `${n} ${s.afterBurst.status === 200 ? `200 in ${s.afterBurst.ms} ms` : `**${s.afterBurst.status ?? 'no answer'} after ${s.afterBurst.ms} ms**`}`).join('; ')}.`);
  }
  L.push('');

  L.push('## Deploy (esbuild bundle + store)');
  L.push('');
  L.push('| system | small function p50 / p90 | package with dependencies p50 / p90 |');
  L.push('|---|---|---|');
  for (const [name, s] of Object.entries(sys)) {
    if (s.kind !== 'brisk' || !s.deploy.small) continue;
    L.push(`| ${name} | ${f(s.deploy.small.p50)} / ${f(s.deploy.small.p90)} | ${f(s.deploy.package.p50)} / ${f(s.deploy.package.p90)} (zip ${f(s.deploy.package.zipBytes / 1024, 0)} KiB: ${s.deploy.package.dependencies.join(', ')}) |`);
  }
  if (sls) L.push(`| serverless-offline | no deploy step: \`sls offline start\` took ${int(sls.deploy.startupMs)} ms until ready | |`);
  L.push('');

  L.push('## Memory and CPU');
  L.push('');
  L.push('| system | idle instance RSS MiB (median, n) | max RSS MiB under load (c64, trivial) | CPU µs per invocation (c64, trivial) | machine busy (c64) |');
  L.push('|---|---|---|---|---:|');
  for (const [name, s] of Object.entries(sys)) {
    const c64 = s.warm?.trivial?.c64;
    if (!c64 && !s.memory) continue;
    const idle = s.memory?.idleInstanceRssMb;
    const rss = c64?.processes ? Object.entries(c64.processes.rssMaxMb).filter(([k]) => k !== 'loadgen').map(([k, v]) => `${k} ${f(v, 0)}`).join(', ') : '–';
    const cpu = c64?.cpuUsPerInvocation ? Object.entries(c64.cpuUsPerInvocation).map(([k, v]) => `${k} ${int(v)}`).join(', ') : '–';
    L.push(`| ${name} | ${idle ? `${f(idle.median, 1)} (${idle.instances})` : '–'} | ${rss} | ${cpu} | ${c64?.processes ? `${c64.processes.machineBusyPct}%` : '–'} |`);
  }
  L.push('');
  L.push('instances = all runtime processes of the system summed (warm + pool). CPU per invocation counts each process\'s user+system time during the c64 run (after its warm-up, which runs unsampled) divided by the invocations completed.');
  L.push('');

  const bursts = Object.entries(sys).filter(([, s]) => s.burst);
  if (bursts.length) {
    L.push('## Bursts (N simultaneous calls onto a function with one warm instance)');
    L.push('');
    L.push('| system | N | all answered | p50 | p99 | instances loaded (start kinds) | new instances right after | instances ready /s |');
    L.push('|---|---:|---:|---:|---:|---|---:|---:|');
    for (const [name, s] of bursts) {
      for (const [n, b] of Object.entries(s.burst)) {
        if (s.kind === 'floor') {
          L.push(`| ${name}: ${n} started in parallel | ${n} | ${f(b.allReadyMs, 0)} | – | – | ${n} | ${n} | ${f(b.instancesReadyPerS, 1)} |`);
          continue;
        }
        const kinds = b.startKinds ? Object.entries(b.startKinds).map(([k, v]) => `${k}×${v}`).join(' ') : '–';
        L.push(`| ${name} | ${n} | ${f(b.allAnsweredMs, 0)}${errs(b.errors)} | ${f(b.p50, 1)} | ${f(b.p99, 1)} | ${b.instancesLoaded ?? '–'} (${kinds}) | ${b.instancesStarted ?? '–'} | ${f(b.instancesReadyPerS, 1)} |`);
      }
    }
    L.push('');
    L.push('all answered = from firing the N calls to the last answer; instances loaded = burst calls whose start kind was `pool` or `cold`; new instances = runtime processes that were not there before the burst (pool refills included); ready /s = instances loaded ÷ time from firing to the last one ready (its record\'s startedAt + startMs). floor rows: N hardened containers (`docker create` + `start`) or N runtime processes started in parallel until each answered `/healthz` and loaded the handler.');
    L.push('');
  }

  const conc = Object.entries(sys).filter(([, s]) => s.concurrency && Object.keys(s.concurrency).length);
  if (conc.length) {
    const c = r.settings.concurrencyScenario;
    L.push('## Several calls per instance (issue 17: an I/O-bound function, a 20 ms timer)');
    L.push('');
    L.push('| system | concurrency | ramp-up: warm instances, reached after ms | inv/s | p50 | p99 | instances used (answered / warm after) | CPU µs per invocation (all but the load generator) | instances\' RSS MiB (max, summed) |');
    L.push('|---|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, s] of conc) {
      for (const x of Object.values(s.concurrency)) {
        const ramp = x.rampUp ? `${x.rampUp.instances} after ${int(x.rampUp.reachedMs)}${x.rampUp.stable ? '' : ' (**still growing**)'}` : '–';
        L.push(`| ${name} | ${x.functionConcurrency} | ${ramp} | ${int(x.rps)}${errs(x.errors)} | ${f(x.p50, 1)} | ${f(x.p99, 1)} | ${x.instancesUsed ?? '–'} / ${x.warmInstancesAfter ?? '–'} | ${int(x.cpuUsPerInvocationAll)} | ${f(x.processes?.rssMaxMb?.instances, 0)} |`);
      }
    }
    L.push('');
    L.push(
      `${c?.clients ?? 64} clients in a closed loop, a ${c?.memoryMb ?? 128} MB function, a fresh platform per setting. Ramp-up: from one warm instance, ${c?.rampSegmentMs ?? 1000} ms segments of load until the function's warm instances on the executors (from their heartbeats, \`GET /v1/executors\`) stopped growing; then ${r.settings.tputMs} ms measured after ${r.settings.tputWarmupMs} ms warm-up. instances used: answered = distinct instance ids in the answers of the measured window (the function returns the id its instance drew at load), warm after = the function's warm instances on the executors right after it; RSS counts every runtime process, the pre-started pool too. The clients' ceiling: ${c?.clients ?? 64} calls in flight ÷ 20 ms = ${int(((c?.clients ?? 64) / 20) * 1000)} inv/s; an executor's bus prefetch (BRISK_EXECUTOR_MEMORY_MB ÷ 128, 32 by default) bounds the calls it takes at once from one queue (32 ÷ 20 ms = 1,600 inv/s).`,
    );
    L.push('');
  }

  if (r.cpuBudget?.length) {
    L.push('## CPU budget per process (c64, trivial, µs per invocation)');
    L.push('');
    for (const b of r.cpuBudget) {
      const df = b.designFloorUs !== null && b.designFloorUs !== undefined;
      L.push(`${b.system}: budget ${int(b.budgetUs)} µs (${b.basis}), measured ${int(b.measuredUs)} µs: ${b.pass ? 'met' : `**${b.verdict}**`}.${df ? ` The design floor of the same backend: ${int(b.designFloorUs)} µs.` : ''}`);
      L.push('');
      L.push(`| process | share | budget µs | measured µs | verdict |${df ? ' design floor µs |' : ''}`);
      L.push(`|---|---:|---:|---:|---|${df ? '---:|' : ''}`);
      for (const row of b.rows) L.push(`| ${row.process} | ${f(row.share * 100, 0)}% | ${int(row.budgetUs)} | ${int(row.measuredUs)} | ${row.pass === false ? `**${row.verdict}**` : row.verdict} |${df ? ` ${int(row.designFloorUs)} |` : ''}`);
      L.push('');
    }
    L.push('Shares and the budget are defined in bench/README.md ("Targets and verdicts").');
    L.push('');
  }

  if (r.targets.length) {
    L.push('## Targets (issue 14, this run)');
    L.push('');
    L.push('| target | goal | measured | limit | verdict | the floor under it |');
    L.push('|---|---|---:|---:|---|---|');
    const show = (x, unit) => (x === null || x === undefined ? '–' : unit === '×' || unit === '%' ? `${f(x)}${unit}` : `${f(x)} ${unit}`);
    for (const t of r.targets) {
      const df = t.floorRef ? `${t.floorRef.system} ${show(t.floorRef.measured, t.unit)} (${t.floorRef.pass ? 'meets' : t.floorRef.pass === false ? 'misses' : '?'})` : '';
      L.push(`| ${t.name} | ${t.goal} | ${show(t.measured, t.unit)} | ${show(t.limit, t.unit)} | ${t.pass === false ? `**${t.verdict}**` : t.verdict} | ${df} |`);
    }
    const met = r.targets.filter((t) => t.pass === true).length;
    const missed = r.targets.filter((t) => t.pass === false).length;
    L.push('');
    L.push(`${met} met, ${missed} missed, ${r.targets.length - met - missed} not measured in this run.`);
    L.push('');
  }
  if (r.profiles?.length) {
    L.push('## CPU profiles (top self time)');
    L.push('');
    for (const p of r.profiles) {
      if (p.error) {
        L.push(`- profile analysis failed: ${p.error}`);
        continue;
      }
      L.push(`- \`${p.file}\`: busy ${p.busyMs} ms, GC ${p.gcMs} ms; top: ${p.functions.slice(0, 6).map((x) => `${x.name} ${x.pctOfBusy}%`).join('; ')}`);
    }
    L.push('');
  }
  if (r.skipped.length) {
    L.push('## Skipped');
    L.push('');
    for (const s of r.skipped) L.push(`- ${s.what}: ${s.why}`);
    L.push('');
  }
  if (r.notes.length) {
    L.push('## Notes');
    L.push('');
    for (const n of r.notes) L.push(`- ${n}`);
    L.push('');
  }
  L.push(`Finished in ${r.durationS} s.`);
  return L.join('\n');
}
