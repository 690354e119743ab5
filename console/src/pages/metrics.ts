import { errorBox, pageHeader, poll, type Page, type PageContext } from '../app.js';
import { lineChart } from '../charts.js';
import { h, replace } from '../dom.js';
import { ms } from '../format.js';
import { bucketize, poolSize, recent, summarize, type MetricsBucket } from '../metrics.js';
import type { Activation, ExecutorInfo } from '../types.js';

/** How far back the charts reach, their resolution, and the polling period. */
const WINDOW_MS = 3 * 60_000;
const BUCKET_MS = 5_000;
const POLL_MS = 2_000;
/** The API's largest page; a busier gateway makes the oldest buckets blank (see `complete`). */
const SAMPLE_LIMIT = 1000;

const COLORS = { blue: '#2563eb', red: '#dc2626', amber: '#d97706', green: '#16a34a', violet: '#7c3aed', grey: '#64748b' };

/**
 * Live charts computed in the browser from the latest activations (polled
 * every 2 s) and the executors' heartbeats: invocations/s, errors, latency
 * percentiles, cold vs warm starts, and the generic pool's size over time.
 */
export function metricsPage(ctx: PageContext): Page {
  const tiles = h('div', { class: 'tiles' });
  const charts = h('div', { class: 'charts' });
  const status = h('div', { class: 'hint' });
  const poolHistory: { t: number; size: number }[] = [];

  const refresh = async (): Promise<void> => {
    const [acts, execs] = await Promise.allSettled([
      ctx.api.get<{ activations: Activation[] }>('/v1/activations', { limit: SAMPLE_LIMIT }),
      ctx.api.get<{ executors: ExecutorInfo[] }>('/v1/executors'),
    ]);
    const now = Date.now();
    if (acts.status === 'rejected') {
      replace(status, errorBox(acts.reason));
      return;
    }
    const activations = acts.value.activations;
    const executors = execs.status === 'fulfilled' ? execs.value.executors : undefined;
    if (executors) {
      poolHistory.push({ t: now, size: poolSize(executors) });
      while ((poolHistory[0]?.t ?? now) < now - WINDOW_MS) poolHistory.shift();
    }
    const buckets = bucketize(activations, { now, windowMs: WINDOW_MS, bucketMs: BUCKET_MS, limit: SAMPLE_LIMIT });
    replace(tiles, summaryTiles(activations, executors, now));
    replace(charts, ...chartsOf(buckets, poolHistory));
    replace(status, `Updated ${new Date(now).toLocaleTimeString(undefined, { hour12: false })} from the last ${activations.length} activations; ${BUCKET_MS / 1000} s buckets.`);
  };

  const stop = poll(refresh, POLL_MS);
  return { el: h('section', { 'data-testid': 'metrics-page' }, pageHeader('Metrics'), tiles, charts, status), dispose: stop };
}

function summaryTiles(activations: Activation[], executors: ExecutorInfo[] | undefined, now: number): HTMLElement[] {
  const lastMinute = summarize(recent(activations, now, 60_000), 60_000);
  const last10s = summarize(recent(activations, now, 10_000), 10_000);
  const starts = lastMinute.cold + lastMinute.pool + lastMinute.warm;
  const tile = (label: string, value: string, sub?: string): HTMLElement =>
    h('div', { class: 'card tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value), sub ? h('div', { class: 'hint' }, sub) : null);
  const healthy = executors?.filter((e) => e.state === 'healthy').length;
  return [
    tile('Invocations / s', last10s.perSecond.toFixed(1), `${lastMinute.invocations} in the last minute`),
    tile('Error rate', lastMinute.errorRate === undefined ? '—' : `${(lastMinute.errorRate * 100).toFixed(1)}%`, `${lastMinute.errors} errors / min`),
    tile('Latency p50 · p99', `${ms(lastMinute.p50)} · ${ms(lastMinute.p99)}`, `p90 ${ms(lastMinute.p90)}`),
    tile('Cold starts', starts === 0 ? '—' : `${((lastMinute.cold / starts) * 100).toFixed(0)}%`, `${lastMinute.cold} cold · ${lastMinute.pool} pool · ${lastMinute.warm} warm`),
    tile('Pool size', executors ? String(poolSize(executors)) : '—', executors ? `${healthy}/${executors.length} executors healthy` : 'executors unavailable'),
  ];
}

function chartsOf(buckets: MetricsBucket[], pool: { t: number; size: number }[]): HTMLElement[] {
  const times = buckets.map((b) => b.end);
  const of = (pick: (b: MetricsBucket) => number | undefined): (number | undefined)[] => buckets.map((b) => (b.complete ? pick(b) : undefined));
  return [
    lineChart({ title: 'Invocations per second', times, testId: 'chart-invocations', series: [{ name: 'invocations/s', color: COLORS.blue, values: of((b) => b.perSecond) }] }),
    lineChart({
      title: 'Errors per second',
      times,
      testId: 'chart-errors',
      series: [{ name: 'errors/s', color: COLORS.red, values: of((b) => b.errors / (BUCKET_MS / 1000)) }],
    }),
    lineChart({
      title: 'Latency percentiles',
      times,
      testId: 'chart-latency',
      format: (v) => ms(v),
      minMax: 10,
      series: [
        { name: 'p50', color: COLORS.green, values: of((b) => b.p50) },
        { name: 'p90', color: COLORS.amber, values: of((b) => b.p90) },
        { name: 'p99', color: COLORS.red, values: of((b) => b.p99) },
      ],
    }),
    lineChart({
      title: 'Starts: cold vs pool vs warm (per bucket)',
      times,
      testId: 'chart-starts',
      series: [
        { name: 'cold', color: COLORS.red, values: of((b) => b.cold) },
        { name: 'pool', color: COLORS.violet, values: of((b) => b.pool) },
        { name: 'warm', color: COLORS.green, values: of((b) => b.warm) },
      ],
    }),
    lineChart({
      title: 'Generic pool size',
      times: pool.map((p) => p.t),
      testId: 'chart-pool',
      minMax: 4,
      series: [{ name: 'instances', color: COLORS.grey, values: pool.map((p) => p.size) }],
    }),
  ];
}
