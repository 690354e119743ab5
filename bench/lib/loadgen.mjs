/**
 * The load generator: a separate Node process (forked by bench/run.mjs) that
 * drives HTTP requests at the system under test and reports latencies.
 *
 * Why a separate process: on a 2-core machine the generator competes with the
 * system under test for CPU. In its own process it cannot stall the bench's
 * orchestration, and its own CPU time is measured (process.cpuUsage) and
 * reported next to every figure, so a reader can see what it took.
 *
 * Closed loop: `concurrency` workers each keep exactly one request in flight
 * over a keep-alive `http.Agent` bounded to `concurrency` sockets; a worker
 * sends its next request when the previous one has answered. So the generator
 * never queues more than the system can take (no coordinated-omission
 * inflation from an open-loop backlog), and never opens more connections
 * than the concurrency asked for.
 *
 * Protocol (IPC): the parent sends `{ id, job }`, the child answers
 * `{ id, result }` or `{ id, error }`. Jobs:
 *  - `{ kind: 'latency', target, count, warmup }`: sequential requests (concurrency 1).
 *  - `{ kind: 'throughput', target, concurrency, durationMs, warmupMs }`.
 *  - `{ kind: 'burst', target, count }`: `count` requests sent at once, each
 *    on its own connection (opened before the burst, so connecting is not
 *    timed); answers the latencies, the time until every call was answered,
 *    and the epoch ms the burst was fired at.
 * A target is `{ host, port, socketPath?, method, path, headers, body }`.
 * A throughput job may give `targets` (a list of instances) instead: each
 * request then takes a free target and holds it until answered, a zero-cost
 * dispatcher in front of single-activation instances (the floor baseline).
 * A throughput job may also name a `distinct` field: the answers of the
 * measured window are parsed as JSON and the distinct values of that
 * top-level field counted (`distinct: { field, count }`), e.g. which
 * instance served each call when the function answers its instance's id.
 */
import http from 'node:http';

/** A request unanswered after this long is abandoned and counted as `timeout`. */
const REQUEST_TIMEOUT_MS = 15_000;
/** A latency run stops after this many timeouts (the system is stuck; waiting longer measures nothing). */
const MAX_TIMEOUTS = 3;

/** Nearest-rank percentile of a sorted array. */
function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function summarise(latMs) {
  const s = Float64Array.from(latMs).sort();
  const sum = s.reduce((a, b) => a + b, 0);
  const r3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    samples: s.length,
    p50: r3(pct(s, 50)),
    p90: r3(pct(s, 90)),
    p99: r3(pct(s, 99)),
    max: r3(s.length ? s[s.length - 1] : null),
    mean: r3(s.length ? sum / s.length : null),
  };
}

/**
 * One request; resolves with { status, ms } (ms = time to the last byte of the
 * response). `keepBody`: a 200 answer's text is kept too, as `text`.
 */
function once(target, agent, body, keepBody = false) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(
      {
        agent,
        ...(target.socketPath ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
        method: target.method,
        path: target.path,
        headers: { ...target.headers, 'content-length': body.length },
      },
      (res) => {
        let bytes = 0;
        // An error answer is kept (its start) to count errors by their code.
        let errorText = res.statusCode === 200 ? undefined : '';
        const chunks = keepBody && res.statusCode === 200 ? [] : undefined;
        res.on('data', (c) => {
          bytes += c.length;
          chunks?.push(c);
          if (errorText !== undefined && errorText.length < 2048) errorText += c.toString('utf8');
        });
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          resolve({
            status: res.statusCode ?? 0,
            ms,
            bytes,
            ...(errorText !== undefined ? { code: errorCode(errorText) } : {}),
            ...(chunks ? { text: Buffer.concat(chunks).toString('utf8') } : {}),
          });
        });
        res.on('error', () => resolve({ status: -1, ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes }));
      },
    );
    req.on('error', (err) => resolve({ status: err.message === 'timeout' ? 'timeout' : -1, ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: 0 }));
    // A request the system never answers must not hang the bench: it counts as an error.
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/** `error.code` of a Brisk error body; undefined for any other body. */
function errorCode(text) {
  try {
    const code = JSON.parse(text)?.error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Errors are counted by status and, when the body names one, the error code: "429 CONCURRENCY_LIMIT". */
function errorKey(r) {
  return r.code === undefined ? r.status : `${r.status} ${r.code}`;
}

function cpuMs(start) {
  const u = process.cpuUsage(start);
  return Math.round((u.user + u.system) / 1000);
}

async function latency({ target, count, warmup = 20 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const body = Buffer.from(target.body ?? '');
  const errors = {};
  for (let i = 0, timeouts = 0; i < warmup && timeouts < MAX_TIMEOUTS; i++) {
    if ((await once(target, agent, body)).status === 'timeout') timeouts++;
  }
  const lat = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let aborted = false;
  for (let i = 0; i < count; i++) {
    const r = await once(target, agent, body);
    if (r.status === 200) lat.push(r.ms);
    else errors[errorKey(r)] = (errors[errorKey(r)] ?? 0) + 1;
    if ((errors.timeout ?? 0) >= MAX_TIMEOUTS) {
      aborted = true;
      break;
    }
  }
  const wallMs = performance.now() - t0;
  agent.destroy();
  return { ...summarise(lat), errors, ...(aborted ? { aborted: true } : {}), wallMs: Math.round(wallMs), loadgenCpuMs: cpuMs(cpu0) };
}

/** Free targets handed out one request at a time; waiters queue in order. */
class TargetPool {
  constructor(targets) {
    this.free = [...targets];
    this.waiters = [];
  }
  take() {
    const t = this.free.pop();
    return t ? Promise.resolve(t) : new Promise((r) => this.waiters.push(r));
  }
  give(t) {
    const w = this.waiters.shift();
    if (w) w(t);
    else this.free.push(t);
  }
}

/** The value of top-level `field` in a JSON answer, as a string; undefined when the answer has none. */
function fieldOf(text, field) {
  try {
    const v = JSON.parse(text)?.[field];
    return v === undefined || v === null ? undefined : String(v);
  } catch {
    return undefined;
  }
}

async function throughput({ target, targets, concurrency, durationMs, warmupMs = 500, distinct }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const one = target ?? targets[0];
  const body = Buffer.from(one.body ?? '');
  const pool = targets ? new TargetPool(targets.map((t) => ({ t, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) }))) : undefined;
  const keepBody = distinct !== undefined;
  const send = async () => {
    if (!pool) return once(target, agent, body, keepBody);
    const slot = await pool.take();
    try {
      return await once(slot.t, slot.agent, body, keepBody);
    } finally {
      pool.give(slot);
    }
  };
  const errors = {};
  let lat = [];
  let ok = 0;
  let measuring = false;
  let stop = false;
  const seen = new Set();
  let unnamed = 0;
  const worker = async () => {
    while (!stop) {
      const r = await send();
      if (!measuring) continue;
      if (r.status === 200) {
        ok++;
        lat.push(r.ms);
        if (keepBody) {
          const v = fieldOf(r.text, distinct);
          if (v === undefined) unnamed++;
          else seen.add(v);
        }
      } else errors[errorKey(r)] = (errors[errorKey(r)] ?? 0) + 1;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  lat = [];
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const wallMs = performance.now() - t0;
  const loadgenCpuMs = cpuMs(cpu0);
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  if (pool) for (const s of pool.free) s.agent.destroy();
  return {
    concurrency,
    ...(targets ? { instances: targets.length } : {}),
    ok,
    rps: Math.round((ok / wallMs) * 1000),
    ...summarise(lat),
    errors,
    ...(keepBody ? { distinct: { field: distinct, count: seen.size, answersWithout: unnamed } } : {}),
    wallMs: Math.round(wallMs),
    loadgenCpuMs,
  };
}

/**
 * `count` simultaneous calls. Each has a keep-alive connection of its own,
 * opened beforehand by a `GET /healthz` on the same agent, so the burst's
 * figures hold the platform's time only.
 */
async function burst({ target, count }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  const warm = { ...target, method: 'GET', path: '/healthz', headers: {} };
  await Promise.all(Array.from({ length: count }, () => once(warm, agent, Buffer.alloc(0))));
  const body = Buffer.from(target.body ?? '');
  const errors = {};
  const cpu0 = process.cpuUsage();
  const firedAt = Date.now();
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: count }, () => once(target, agent, body)));
  const allAnsweredMs = performance.now() - t0;
  agent.destroy();
  const lat = [];
  for (const r of results) {
    if (r.status === 200) lat.push(r.ms);
    else errors[errorKey(r)] = (errors[errorKey(r)] ?? 0) + 1;
  }
  return { count, ok: lat.length, ...summarise(lat), errors, allAnsweredMs: Math.round(allAnsweredMs * 100) / 100, firedAt, loadgenCpuMs: cpuMs(cpu0) };
}

const JOBS = { latency, throughput, burst };

process.on('message', async ({ id, job }) => {
  try {
    const result = await JOBS[job.kind](job);
    process.send({ id, result });
  } catch (err) {
    process.send({ id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
