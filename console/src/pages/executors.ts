import { errorBox, pageHeader, poll, type Page, type PageContext } from '../app.js';
import { h, replace } from '../dom.js';
import { ago, badge } from '../format.js';
import type { ExecutorInfo, WarmInstance } from '../types.js';

/** Every executor the gateway hears heartbeats from: health, capacity, pool and warm instances. */
export function executorsPage(ctx: PageContext): Page {
  const box = h('div', { class: 'executors' }, h('span', { class: 'hint' }, 'Loading…'));
  const stop = poll(async () => {
    try {
      const { executors } = await ctx.api.get<{ executors: ExecutorInfo[] }>('/v1/executors');
      replace(box, executors.length === 0 ? h('div', { class: 'card empty' }, 'No executor heartbeats yet.') : executors.map(executorCard));
    } catch (err) {
      replace(box, errorBox(err, 'The executors view'));
    }
  }, 2000);
  return { el: h('section', null, pageHeader('Executors'), box), dispose: stop };
}

function executorCard(e: ExecutorInfo): HTMLElement {
  const usedPct = e.memoryMb > 0 ? Math.min(100, (e.usedMb / e.memoryMb) * 100) : 0;
  const pool = Object.entries(e.pool);
  const warm = groupWarm(e.warm);
  return h(
    'div',
    { class: 'card executor', 'data-testid': 'executor-card' },
    h('div', { class: 'card-title' }, h('h2', null, e.executorId), h('div', { class: 'row' }, badge(e.state), badge(e.backend, 'muted'))),
    h(
      'div',
      { class: 'meter', title: `${e.usedMb} of ${e.memoryMb} MB` },
      h('div', { class: `meter-fill ${usedPct > 90 ? 'hot' : ''}`, style: `width:${usedPct.toFixed(1)}%` }),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Memory'),
      h('dd', null, `${e.usedMb} / ${e.memoryMb} MB used (${e.freeMb} MB free)`),
      h('dt', null, 'In flight'),
      h('dd', null, String(e.inFlight)),
      h('dt', null, 'Pool'),
      h('dd', { 'data-testid': 'executor-pool' }, pool.length > 0 ? pool.map(([mb, n]) => `${n} × ${mb} MB`).join(', ') : 'empty'),
      h('dt', null, 'System errors'),
      h('dd', null, String(e.systemErrors)),
      h('dt', null, 'Last heartbeat'),
      h('dd', null, ago(e.lastHeartbeatAt)),
    ),
    h('h3', null, 'Warm instances'),
    warm.length === 0
      ? h('div', { class: 'hint' }, 'none')
      : h(
          'table',
          { class: 'table compact' },
          h('thead', null, h('tr', null, ['Function', 'Idle', 'Busy'].map((c) => h('th', null, c)))),
          h('tbody', null, warm.map((w) => h('tr', null, h('td', null, w.key), h('td', { class: 'num' }, String(w.idle)), h('td', { class: 'num' }, String(w.busy))))),
        ),
  );
}

/** Warm instances per function version (`name v3`, with the namespace when not default). */
export function groupWarm(list: readonly WarmInstance[]): { key: string; idle: number; busy: number }[] {
  const byKey = new Map<string, { key: string; idle: number; busy: number }>();
  for (const w of list) {
    const key = `${w.namespace === 'default' ? '' : `${w.namespace}/`}${w.function} v${w.version}`;
    const row = byKey.get(key) ?? { key, idle: 0, busy: 0 };
    row[w.state]++;
    byKey.set(key, row);
  }
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}
