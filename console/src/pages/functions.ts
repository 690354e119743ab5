import { seg } from '../api.js';
import { errorBox, link, pageHeader, type Page, type PageContext } from '../app.js';
import { deployForm } from '../components.js';
import { h, replace } from '../dom.js';
import { ago, bytes, ms, runtimeLabel } from '../format.js';
import type { FunctionInfo } from '../types.js';

/** The function list and the deploy form. */
export function functionsPage(ctx: PageContext): Page {
  const list = h('div', { class: 'card' }, h('span', { class: 'hint' }, 'Loading…'));

  const load = async (): Promise<void> => {
    try {
      const { functions } = await ctx.api.get<{ functions: FunctionInfo[] }>('/v1/functions');
      replace(list, functions.length === 0 ? h('div', { class: 'empty' }, 'No functions yet: deploy one below.') : table(functions));
    } catch (err) {
      replace(list, errorBox(err));
    }
  };
  void load();

  const el = h(
    'section',
    null,
    pageHeader('Functions', h('button', { class: 'ghost', onclick: () => void load() }, 'Refresh')),
    list,
    deployForm({
      api: ctx.api,
      // With warnings, stay here so they can be read (the form shows them); the list shows the new function.
      onDeployed: (fn) => ((fn.warnings ?? []).length > 0 ? void load() : ctx.navigate(`/functions/${seg(fn.name)}`)),
    }),
  );
  return { el };
}

function table(functions: FunctionInfo[]): HTMLElement {
  return h(
    'table',
    { class: 'table', 'data-testid': 'function-table' },
    h('thead', null, h('tr', null, ['Name', 'Version', 'Runtime', 'Handler', 'Memory', 'Timeout', 'Size', 'Updated'].map((c) => h('th', null, c)))),
    h(
      'tbody',
      null,
      functions.map((f) =>
        h(
          'tr',
          null,
          h('td', null, link(`/functions/${seg(f.name)}`, h('b', null, f.name))),
          h('td', null, `v${f.version}`, f.versions && f.versions.length > 1 ? h('span', { class: 'hint' }, ` (${f.versions.length})`) : null),
          h('td', { 'data-testid': 'function-runtime' }, runtimeLabel(f)),
          h('td', null, h('code', null, f.handler)),
          h('td', { class: 'num' }, `${f.memoryMb} MB`),
          h('td', { class: 'num' }, ms(f.timeoutMs)),
          h('td', { class: 'num' }, bytes(f.codeSize)),
          h('td', { title: f.updatedAt ?? '' }, ago(f.updatedAt)),
        ),
      ),
    ),
  );
}
