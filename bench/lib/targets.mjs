/**
 * Issue 14's targets, each computed from figures of the same run, and the
 * per-process CPU budget of the distributed systems. See bench/README.md,
 * "Targets and verdicts", for the definitions (and why the shares are what
 * they are).
 *
 * Every target is `{ name, goal, measured, limit, unit, pass, verdict }`:
 * `limit` is the goal as a number in `unit` (already derived from the
 * baseline it is relative to), `pass` is null when a figure is missing (a
 * system or baseline not run), and `verdict` says "met" or "missed by X".
 * Where the run measured the floor under a target — the design floor
 * (bench/baselines/design-floor.mjs) for the distributed targets, its
 * standalone shape for the standalone ones, the runtime's floor of the same
 * backend for the transform ratios — the target
 * also carries `floorRef: { system, measured, pass }`, that figure held to the
 * same limit; a miss the floor shares says so in its verdict.
 */

/**
 * Budget shares of the distributed-docker CPU per invocation (2× floor-docker's),
 * by process. They sum to 1. The runtime instances and dockerd get a little
 * more than their floor figures (the platform's instances do the same work as
 * the floor's, plus per-activation bookkeeping); the platform's own processes
 * share the rest by the work each does per call (the gateway parses and
 * answers HTTP, the executor calls the instance and writes the record,
 * RabbitMQ carries ≈ 2 messages, the scheduler places, Redis holds a few keys).
 */
export const BUDGET_SHARES = {
  instances: 0.45,
  dockerd: 0.08,
  gateway: 0.15,
  executor: 0.12,
  rabbitmq: 0.1,
  scheduler: 0.06,
  redis: 0.04,
};

/** CPU per invocation of a system at c64 (trivial), all processes but the load generator, in µs. */
export function cpuPerInvocation(system) {
  const per = system?.warm?.trivial?.c64?.cpuUsPerInvocation;
  if (!per) return undefined;
  let sum = 0;
  for (const [proc, us] of Object.entries(per)) if (proc !== 'loadgen' && typeof us === 'number') sum += us;
  return sum;
}

const round = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

function fmt(x, unit) {
  if (unit === '%') return `${round(x, 1)}%`;
  if (unit === '×') return `${round(x, 2)}×`;
  if (unit === 'µs') return `${Math.round(x)} µs`;
  if (unit === '/s') return `${Math.round(x)} /s`;
  return `${round(x, 2)} ${unit}`;
}

/**
 * One target. `cmp`: 'max' (measured ≤ limit) or 'min' (measured ≥ limit).
 * A miss says by how much, in the unit and as a share of the limit.
 */
export function verdictOf({ measured, limit, cmp, unit }) {
  if (measured === undefined || measured === null || limit === undefined || limit === null || Number.isNaN(measured) || Number.isNaN(limit)) {
    return { pass: null, verdict: 'not measured' };
  }
  const pass = cmp === 'max' ? measured <= limit : measured >= limit;
  if (pass) return { pass, verdict: 'met' };
  const by = Math.abs(measured - limit);
  const rel = limit !== 0 ? ` (${round((by / Math.abs(limit)) * 100, 0)}% ${cmp === 'max' ? 'over' : 'under'})` : '';
  return { pass, verdict: `missed by ${fmt(by, unit)}${rel}` };
}

/**
 * The distributed-docker budget and its basis: 2× floor-docker's CPU per
 * invocation; without floor-docker in the run, 2× floor-process's (noted).
 */
function dockerBudget(sys) {
  const fd = cpuPerInvocation(sys['floor-docker']);
  if (fd !== undefined) return { us: 2 * fd, basis: '2 × floor-docker CPU/inv' };
  const fp = cpuPerInvocation(sys['floor-process']);
  if (fp !== undefined) return { us: 2 * fp, basis: '2 × floor-process CPU/inv (floor-docker not run)' };
  return undefined;
}

/** The per-process budget table of one distributed system. */
function budgetTable(name, system, totalUs, shares, designFloor) {
  const per = system?.warm?.trivial?.c64?.cpuUsPerInvocation;
  if (!per || totalUs === undefined) return undefined;
  // The design floor's µs for the same process (its front end stands for the gateway; it has no scheduler or Redis).
  const floorPer = designFloor?.warm?.trivial?.c64?.cpuUsPerInvocation;
  const floorUs = (proc) => (floorPer ? (floorPer[proc] ?? 0) : null);
  const rows = Object.entries(shares).map(([proc, share]) => {
    const budgetUs = totalUs * share;
    const measuredUs = per[proc];
    return { process: proc, share, budgetUs: Math.round(budgetUs), measuredUs: measuredUs ?? null, designFloorUs: floorUs(proc), ...verdictOf({ measured: measuredUs, limit: budgetUs, cmp: 'max', unit: 'µs' }) };
  });
  // Processes the shares do not name (none today) still count in the total.
  for (const [proc, us] of Object.entries(per)) {
    if (proc === 'loadgen' || proc in shares) continue;
    rows.push({ process: proc, share: 0, budgetUs: 0, measuredUs: us, designFloorUs: floorUs(proc), ...verdictOf({ measured: us, limit: 0, cmp: 'max', unit: 'µs' }) });
  }
  const measuredUs = cpuPerInvocation(system);
  return {
    system: name,
    budgetUs: Math.round(totalUs),
    measuredUs,
    designFloorUs: floorPer ? cpuPerInvocation(designFloor) : null,
    rows,
    ...verdictOf({ measured: measuredUs, limit: totalUs, cmp: 'max', unit: 'µs' }),
  };
}

/**
 * Every target of issue 14 that this run's figures allow, and the budget
 * tables. `results` is bench/run.mjs's results object; `fns` the function
 * names, `concurrencies` and `bursts` the settings.
 */
export function evaluateTargets(results, { fns, concurrencies, bursts }) {
  const sys = results.systems;
  const targets = [];
  const add = (t) => {
    const v = verdictOf(t);
    const entry = { ...t, measured: round(t.measured), limit: round(t.limit), ...v };
    if (t.floorRef !== undefined) {
      // The same figure of a floor (the design floor; for the transform ratios, the runtime's floor), held to the same limit: a limit it misses is out of reach here of whatever the floor stands for.
      const f = verdictOf({ ...t, measured: t.floorRef.measured });
      entry.floorRef = { system: t.floorRef.system, measured: round(t.floorRef.measured), pass: f.pass };
      if (v.pass === false && f.pass === false) entry.verdict = `${v.verdict}; ${t.floorRef.system} misses it too (${fmt(t.floorRef.measured, t.unit)})`;
    }
    targets.push(entry);
  };
  const brisk = Object.entries(sys).filter(([, s]) => s.kind === 'brisk');
  const sls = sys['serverless-offline'];
  const fdock = sys['floor-docker'];

  // distributed-docker against the Docker floor of the same run.
  const dd = sys['distributed-docker'];
  const budget = dockerBudget(sys);
  // The design floor of the same backend, where the run has it.
  const dfd = (figure) => floorRefOf(sys, 'design-floor-docker', figure);
  if (dd) {
    add({ name: 'distributed-docker: CPU per invocation at c64, all processes', goal: `≤ ${budget?.basis ?? '2 × floor-docker CPU/inv'}`, measured: cpuPerInvocation(dd), limit: budget?.us, cmp: 'max', unit: 'µs', ...dfd((s) => cpuPerInvocation(s)) });
    const fc64 = fdock?.warm?.trivial?.c64?.rps;
    add({ name: 'distributed-docker: inv/s at c64', goal: '≥ 45% of floor-docker inv/s c64', measured: dd.warm?.trivial?.c64?.rps, limit: fc64 !== undefined ? 0.45 * fc64 : undefined, cmp: 'min', unit: '/s', ...dfd((s) => s.warm?.trivial?.c64?.rps) });
    add({ name: 'distributed-docker: p50 at c1', goal: '≤ 2.0 ms', measured: dd.warm?.trivial?.latency?.p50, limit: 2.0, cmp: 'max', unit: 'ms', ...dfd((s) => s.warm?.trivial?.latency?.p50) });
  }
  const dp = sys['distributed-process'];
  const processBudgetUs = budget ? budget.us * (1 - BUDGET_SHARES.dockerd) : undefined;
  if (dp) {
    add({ name: 'distributed-process: CPU per invocation at c64, all processes', goal: "≤ the distributed-docker budget less dockerd's share", measured: cpuPerInvocation(dp), limit: processBudgetUs, cmp: 'max', unit: 'µs', ...floorRefOf(sys, 'design-floor-process', (s) => cpuPerInvocation(s)) });
  }

  // Standalone against serverless-offline on every warm row; the standalone floor of the same backend (one bare front end before the same instances) under each.
  for (const name of ['standalone-process', 'standalone-docker']) {
    const s = sys[name];
    if (!s) continue;
    const floorName = `standalone-floor-${name.slice('standalone-'.length)}`;
    for (const fn of fns) {
      const a = s.warm?.[fn];
      const b = sls?.warm?.[fn];
      const ref = (figure) => floorRefOf(sys, floorName, (f) => (f.warm?.[fn] ? figure(f.warm[fn]) : undefined));
      add({ name: `${name} ${fn}: p50 c1`, goal: '≤ serverless-offline', measured: a?.latency?.p50, limit: b?.latency?.p50, cmp: 'max', unit: 'ms', ...ref((w) => w.latency?.p50) });
      add({ name: `${name} ${fn}: p99 c1`, goal: '≤ serverless-offline', measured: a?.latency?.p99, limit: b?.latency?.p99, cmp: 'max', unit: 'ms', ...ref((w) => w.latency?.p99) });
      for (const c of concurrencies) {
        add({ name: `${name} ${fn}: inv/s c${c}`, goal: '≥ serverless-offline', measured: a?.[`c${c}`]?.rps, limit: b?.[`c${c}`]?.rps, cmp: 'min', unit: '/s', ...ref((w) => w[`c${c}`]?.rps) });
      }
      const cMax = `c${Math.max(...concurrencies)}`;
      add({ name: `${name} ${fn}: p99 ${cMax}`, goal: '≤ serverless-offline', measured: a?.[cMax]?.p99, limit: b?.[cMax]?.p99, cmp: 'max', unit: 'ms', ...ref((w) => w[cMax]?.p99) });
    }
  }
  const sp = sys['standalone-process'];
  if (sp) {
    const slsCpu = cpuPerInvocation(sls);
    add({ name: 'standalone-process: CPU per invocation at c64', goal: '≤ 0.75 × serverless-offline', measured: cpuPerInvocation(sp), limit: slsCpu !== undefined ? 0.75 * slsCpu : undefined, cmp: 'max', unit: 'µs', ...floorRefOf(sys, 'standalone-floor-process', (f) => cpuPerInvocation(f)) });
  }

  for (const [name, s] of brisk) {
    // transform within 1.3× of trivial on every row.
    const t = s.warm?.transform;
    const v = s.warm?.trivial;
    if (t && v) {
      // The same ratio of the floor of the same backend: what the 10 KB event costs the function and the runtime themselves.
      const floorName = name.endsWith('-docker') ? 'floor-docker' : 'floor-process';
      const ref = (figure) => floorRefOf(sys, floorName, (f) => (f.warm?.transform && f.warm?.trivial ? figure(f.warm.transform, f.warm.trivial) : undefined));
      add({ name: `${name}: transform p50 c1 vs trivial`, goal: '≤ 1.3×', measured: ratio(t.latency?.p50, v.latency?.p50), limit: 1.3, cmp: 'max', unit: '×', ...ref((a, b) => ratio(a.latency?.p50, b.latency?.p50)) });
      add({ name: `${name}: transform p99 c1 vs trivial`, goal: '≤ 1.3×', measured: ratio(t.latency?.p99, v.latency?.p99), limit: 1.3, cmp: 'max', unit: '×', ...ref((a, b) => ratio(a.latency?.p99, b.latency?.p99)) });
      for (const c of concurrencies) {
        add({ name: `${name}: trivial inv/s c${c} vs transform`, goal: '≤ 1.3×', measured: ratio(v[`c${c}`]?.rps, t[`c${c}`]?.rps), limit: 1.3, cmp: 'max', unit: '×', ...ref((a, b) => ratio(b[`c${c}`]?.rps, a[`c${c}`]?.rps)) });
        add({ name: `${name}: transform p99 c${c} vs trivial`, goal: '≤ 1.3×', measured: ratio(t[`c${c}`]?.p99, v[`c${c}`]?.p99), limit: 1.3, cmp: 'max', unit: '×', ...ref((a, b) => ratio(a[`c${c}`]?.p99, b[`c${c}`]?.p99)) });
      }
    }
    // c16 never below half of c64.
    for (const fn of fns) {
      const w = s.warm?.[fn];
      if (!w?.c16 || !w?.c64) continue;
      add({ name: `${name} ${fn}: inv/s c16 vs c64`, goal: '≥ 50% of c64', measured: (w.c16.rps / w.c64.rps) * 100, limit: 50, cmp: 'min', unit: '%' });
    }
    // Pool-hit cold start.
    add({ name: `${name}: cold start, pool hit, client p50`, goal: '≤ 20 ms (goal 10 ms)', measured: s.coldStart?.pool?.client?.p50, limit: 20, cmp: 'max', unit: 'ms' });
    const other = s.coldStart?.otherSize;
    if (other && name.endsWith('-docker')) {
      // Every memory size gets a pool hit on Docker: all samples `pool`, and as fast as the default size's.
      const pools = other.startKinds?.pool ?? 0;
      add({ name: `${name}: first call of a ${other.memoryMb} MB function is a pool hit`, goal: 'every sample', measured: (pools / other.client.samples) * 100, limit: 100, cmp: 'min', unit: '%' });
      add({ name: `${name}: first call of a ${other.memoryMb} MB function, client p50`, goal: '≤ 20 ms (goal 10 ms)', measured: other.client.p50, limit: 20, cmp: 'max', unit: 'ms' });
    }
    // Python's pool hit (issue 16), where the run had Python rows.
    const py = s.coldStart?.pythonPool?.client?.p50;
    if (py !== undefined && py !== null) add({ name: `${name}: Python cold start, pool hit, client p50`, goal: '≤ 30 ms', measured: py, limit: 30, cmp: 'max', unit: 'ms' });
    // Bursts: p99 ≤ 2 × one pool-hit cold start + queueing N starts at the floor's rate.
    const floor = sys[name.endsWith('-docker') ? 'floor-docker' : 'floor-process'];
    const pool = s.coldStart?.pool?.client?.p50;
    for (const n of bursts) {
      const b = s.burst?.[n];
      if (!b) continue;
      const rate = floor?.burst?.[n]?.instancesReadyPerS;
      const limit = pool !== undefined && pool !== null && rate ? 2 * pool + (n / rate) * 1000 : undefined;
      add({
        name: `${name}: burst of ${n}, p99`,
        goal: `≤ 2 × pool-hit p50 + ${n} starts at the ${name.endsWith('-docker') ? 'floor-docker' : 'floor-process'} rate`,
        measured: b.p99,
        limit,
        cmp: 'max',
        unit: 'ms',
      });
    }
  }

  const budgets = [];
  if (budget) {
    const d = budgetTable('distributed-docker', dd, budget.us, BUDGET_SHARES, sys['design-floor-docker']);
    if (d) budgets.push({ ...d, basis: budget.basis });
    const { dockerd: _dockerd, ...processShares } = BUDGET_SHARES;
    const p = budgetTable('distributed-process', dp, processBudgetUs, Object.fromEntries(Object.entries(processShares).map(([k, v]) => [k, v / (1 - BUDGET_SHARES.dockerd)])), sys['design-floor-process']);
    if (p) budgets.push({ ...p, basis: `${budget.basis} less dockerd's share (${BUDGET_SHARES.dockerd * 100}%)` });
  }
  return { targets, budgets };
}

/**
 * `{ floorRef: { system, measured } }`: `figure` of the floor `system` in
 * this run (a design floor, or a runtime floor), or nothing when the run did
 * not measure it.
 */
function floorRefOf(sys, system, figure) {
  const s = sys[system];
  const measured = s ? figure(s) : undefined;
  return measured === undefined || measured === null ? {} : { floorRef: { system, measured } };
}

/** a ÷ b, or undefined when either is missing. */
function ratio(a, b) {
  return a && b ? a / b : undefined;
}
