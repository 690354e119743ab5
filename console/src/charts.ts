import { h, s } from './dom.js';

/** One line of a chart: `values[i]` belongs to `times[i]`; undefined leaves a gap. */
export interface Series {
  name: string;
  color: string;
  values: readonly (number | undefined)[];
}

export interface LineChartOptions {
  title: string;
  /** Epoch ms of each point, ascending. */
  times: readonly number[];
  series: readonly Series[];
  /** Formats axis labels and the latest values in the legend. */
  format?: (v: number) => string;
  /** Lowest top of the y axis (so a flat zero line does not fill the chart). */
  minMax?: number;
  testId?: string;
}

const W = 560;
const H = 180;
const PAD = { left: 48, right: 12, top: 10, bottom: 22 };

/**
 * A small SVG line chart: grid, y labels, x labels relative to the last
 * point, one path per series, and a legend with each series' latest value.
 * Redrawn whole on every poll; at 60 points that is cheaper than diffing.
 */
export function lineChart(opts: LineChartOptions): HTMLElement {
  const fmt = opts.format ?? ((v: number) => formatNumber(v));
  const { times } = opts;
  const all = opts.series.flatMap((x) => x.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const top = niceCeil(Math.max(opts.minMax ?? 1, ...all));
  const t0 = times[0] ?? 0;
  const t1 = times[times.length - 1] ?? 1;
  const x = (t: number): number => PAD.left + ((t - t0) / Math.max(1, t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': opts.title });
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    svg.appendChild(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.appendChild(s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)));
  }
  if (times.length > 1) {
    for (const frac of [0, 0.5, 1]) {
      const t = t0 + frac * (t1 - t0);
      const label = frac === 1 ? 'now' : `-${Math.round((t1 - t) / 1000)}s`;
      svg.appendChild(s('text', { x: x(t), y: H - 6, 'text-anchor': frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle', class: 'axis' }, label));
    }
  }
  for (const series of opts.series) {
    const d = pathOf(series.values, times, x, y);
    if (d) svg.appendChild(s('path', { d, fill: 'none', stroke: series.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'data-series': series.name }));
    // A point with no defined neighbour draws no line segment: show it as a dot.
    series.values.forEach((v, i) => {
      const t = times[i];
      if (v === undefined || t === undefined || !Number.isFinite(v)) return;
      if (series.values[i - 1] === undefined && series.values[i + 1] === undefined) {
        svg.appendChild(s('circle', { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: series.color }));
      }
    });
  }

  const legend = h(
    'div',
    { class: 'legend' },
    opts.series.map((series) => {
      const last = [...series.values].reverse().find((v) => v !== undefined);
      return h('span', null, h('i', { style: `background:${series.color}` }), `${series.name} `, h('b', null, last === undefined ? '—' : fmt(last)));
    }),
  );
  return h('figure', { class: 'card chart-card', 'data-testid': opts.testId }, h('figcaption', null, opts.title), legend, svg);
}

/** An SVG path through the defined points; a gap starts a new sub-path. */
function pathOf(values: readonly (number | undefined)[], times: readonly number[], x: (t: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    const t = times[i];
    if (v === undefined || t === undefined || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  return d;
}

/** 1, 2, 5 × 10^n at or above v. */
export function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function formatNumber(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k`;
  if (Math.abs(v) >= 10) return String(Math.round(v));
  return String(Math.round(v * 100) / 100);
}
