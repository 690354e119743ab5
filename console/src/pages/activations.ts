import { seg } from '../api.js';
import { errorBox, pageHeader, poll, type Page, type PageContext } from '../app.js';
import { activationTable, activationView } from '../components.js';
import { h, replace } from '../dom.js';
import type { Activation, ActivationStatus, FunctionInfo } from '../types.js';

const STATUSES: ActivationStatus[] = ['success', 'error', 'timeout', 'oom', 'platform_error', 'queued', 'running'];

/**
 * Activation history with filters (function on the server, status in the
 * browser — the API filters by function only) and the selected activation's
 * logs. `/activations/:id` opens one activation directly.
 */
export function activationsPage(ctx: PageContext): Page {
  const fnFilter = h('select', { id: 'filter-function', 'data-testid': 'filter-function' }, h('option', { value: '' }, 'All functions'));
  const statusFilter = h('select', { id: 'filter-status', 'data-testid': 'filter-status' }, h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const limit = h('select', { id: 'filter-limit' }, [50, 200, 1000].map((n) => h('option', { value: String(n) }, `last ${n}`)));
  const auto = h('input', { type: 'checkbox', id: 'auto-refresh', checked: true });
  const listBox = h('div', { class: 'card list-pane' }, h('span', { class: 'hint' }, 'Loading…'));
  const detail = h('div', { class: 'card detail-pane', 'data-testid': 'activation-detail' }, h('span', { class: 'hint' }, 'Select an activation to see its logs.'));
  let selected = ctx.params['id'];
  let activations: Activation[] = [];
  const initialFn = ctx.query.get('function') ?? '';
  const initialStatus = ctx.query.get('status') ?? '';
  statusFilter.value = initialStatus;

  const showList = (): void => {
    const wanted = statusFilter.value;
    const shown = wanted ? activations.filter((a) => a.status === wanted) : activations;
    replace(listBox, h('div', { class: 'hint' }, `${shown.length} of ${activations.length} loaded`), activationTable(shown, select, selected));
  };

  const select = (a: Activation): void => {
    selected = a.activationId;
    history.replaceState(null, '', `/console/activations/${seg(a.activationId)}${location.search}`);
    showList();
    void showDetail(a.activationId);
  };

  const showDetail = async (id: string): Promise<void> => {
    try {
      const a = await ctx.api.get<Activation>(`/v1/activations/${seg(id)}`);
      if (selected === id) replace(detail, activationView(a));
    } catch (err) {
      replace(detail, errorBox(err));
    }
  };

  const load = async (): Promise<void> => {
    try {
      const res = await ctx.api.get<{ activations: Activation[] }>('/v1/activations', { function: fnFilter.value || undefined, limit: limit.value });
      activations = res.activations;
      showList();
    } catch (err) {
      replace(listBox, errorBox(err));
    }
  };

  const syncQuery = (): void => {
    const q = new URLSearchParams();
    if (fnFilter.value) q.set('function', fnFilter.value);
    if (statusFilter.value) q.set('status', statusFilter.value);
    const qs = q.toString();
    history.replaceState(null, '', location.pathname + (qs ? `?${qs}` : ''));
  };
  fnFilter.addEventListener('change', () => {
    syncQuery();
    void load();
  });
  limit.addEventListener('change', () => void load());
  statusFilter.addEventListener('change', () => {
    syncQuery();
    showList();
  });

  void ctx.api
    .get<{ functions: FunctionInfo[] }>('/v1/functions')
    .then(({ functions }) => {
      for (const f of functions) fnFilter.appendChild(h('option', { value: f.name }, f.name));
      if (initialFn) fnFilter.value = initialFn;
      if (initialFn && fnFilter.value !== initialFn) fnFilter.appendChild(h('option', { value: initialFn, selected: true }, initialFn));
    })
    .catch(() => undefined)
    .finally(() => {
      // Refreshes every 3 s while "auto" is ticked; the first run is immediate.
      stop = poll(async () => {
        if (auto.checked || activations.length === 0) await load();
      }, 3000);
    });
  let stop = (): void => {};
  if (selected) void showDetail(selected);

  const el = h(
    'section',
    null,
    pageHeader('Activations', h('button', { class: 'ghost', onclick: () => void load() }, 'Refresh')),
    h('div', { class: 'filters' }, fnFilter, statusFilter, limit, h('label', { class: 'check' }, auto, ' auto-refresh')),
    h('div', { class: 'split' }, listBox, detail),
  );
  return { el, dispose: () => stop() };
}
