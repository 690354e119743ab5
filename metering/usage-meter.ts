import type { KeyValueStore } from '../storage/types.js';

/** One finished activation, as the meter counts it. */
export interface UsageSample {
  namespace: string;
  function: string;
  memoryMb: number;
  durationMs: number;
  coldStart: boolean;
  error: boolean;
}

/** Usage of one function over a time range. */
export interface FunctionUsage {
  function: string;
  invocations: number;
  errors: number;
  coldStarts: number;
  /** memoryMb/1024 × seconds, the unit FaaS bills in. */
  gbSeconds: number;
}

const METRICS = ['invocations', 'errors', 'coldStarts', 'mbMs'] as const;
/**
 * Order of the writes in a flush: `invocations` last. A reader that sees a
 * flush's invocations (read first, on the same ordered store) then sees its
 * other counters too, never invocations without the cold starts they had.
 */
const WRITE_ORDER = ['errors', 'coldStarts', 'mbMs', 'invocations'] as const;
type Metric = (typeof METRICS)[number];
const HOUR_MS = 3600_000;
/** Hourly counters are kept this long (13 months: a year of bills plus a month to dispute them). */
const RETENTION_MS = 396 * 24 * HOUR_MS;

/**
 * Metering (the lecture's billing and monitoring): counts invocations, errors,
 * cold starts and memory × time per namespace, function and hour, where the
 * work happens (the executor), in the KeyValueStore so every executor adds to
 * the same counters and a restart loses nothing already flushed.
 *
 * Samples are summed in memory and flushed every `flushMs` (and on close), so
 * the hot path costs no store round trip: a crash loses at most that window.
 */
export class UsageMeter {
  private pending = new Map<string, Record<Metric, number>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly kv: KeyValueStore,
    private readonly opts: { flushMs?: number; now?: () => number } = {},
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), this.opts.flushMs ?? 1000);
    this.timer.unref();
  }

  record(s: UsageSample): void {
    const hour = Math.floor((this.opts.now ?? Date.now)() / HOUR_MS);
    const key = `${s.namespace}\u0000${hour}\u0000${s.function}`;
    let c = this.pending.get(key);
    if (!c) {
      c = { invocations: 0, errors: 0, coldStarts: 0, mbMs: 0 };
      this.pending.set(key, c);
    }
    c.invocations++;
    if (s.error) c.errors++;
    if (s.coldStart) c.coldStarts++;
    c.mbMs += Math.round(s.memoryMb * s.durationMs);
  }

  /** Write what was counted since the last flush. Serialised: one flush at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [key, c] of batch) {
      const [namespace, hour, fn] = key.split('\u0000') as [string, string, string];
      const left = { ...c };
      try {
        await this.kv.hset(`usageidx:${namespace}`, `${hour}:${fn}`, '1');
        for (const m of WRITE_ORDER) {
          if (left[m] !== 0) await this.kv.incr(`usage:${namespace}:${hour}:${fn}:${m}`, left[m], { ttlMs: RETENTION_MS });
          left[m] = 0;
        }
      } catch {
        // The store is down: keep what was not written for the next flush rather than lose it (or count it twice).
        const again = this.pending.get(key);
        if (again) for (const m of METRICS) again[m] += left[m];
        else this.pending.set(key, left);
      }
    }
  }
}

/**
 * Forget a namespace's usage (it is being deleted): a namespace created later
 * under the same name starts from zero and never sees the old function names.
 */
export async function deleteUsage(kv: KeyValueStore, namespace: string): Promise<void> {
  await kv.deleteCollection(`usageidx:${namespace}`);
  await kv.deleteByPrefix(`usage:${namespace}:`);
}

/**
 * Reads usage back for `GET /v1/usage`: hourly buckets overlapping
 * [from, to), summed per function.
 */
export async function readUsage(kv: KeyValueStore, namespace: string, fromMs: number, toMs: number): Promise<FunctionUsage[]> {
  const fromHour = Math.floor(fromMs / HOUR_MS);
  const toHour = Math.ceil(toMs / HOUR_MS);
  const byFn = new Map<string, FunctionUsage>();
  for (const field of Object.keys(await kv.hgetall(`usageidx:${namespace}`))) {
    const sep = field.indexOf(':');
    const hour = Number(field.slice(0, sep));
    const fn = field.slice(sep + 1);
    if (hour < fromHour || hour >= toHour) continue;
    // Issued in METRICS order, invocations first (see WRITE_ORDER).
    const values = await Promise.all(METRICS.map((m) => kv.get(`usage:${namespace}:${hour}:${fn}:${m}`)));
    const [inv, err, cold, mbMs] = values.map((v) => Number(v ?? 0)) as [number, number, number, number];
    const u = byFn.get(fn) ?? { function: fn, invocations: 0, errors: 0, coldStarts: 0, gbSeconds: 0 };
    u.invocations += inv;
    u.errors += err;
    u.coldStarts += cold;
    u.gbSeconds += mbMs / 1024 / 1000;
    byFn.set(fn, u);
  }
  return [...byFn.values()]
    .map((u) => ({ ...u, gbSeconds: Math.round(u.gbSeconds * 1e6) / 1e6 }))
    .sort((a, b) => a.function.localeCompare(b.function));
}
