import { seg } from '../api.js';
import { errorBox, link, pageHeader, type Page, type PageContext } from '../app.js';
import { h, replace } from '../dom.js';
import { ago, badge, errorText, pretty } from '../format.js';
import type { TriggerInfo } from '../types.js';

/** A starting spec per trigger type (the body of `PUT /v1/triggers/{name}`). */
const EXAMPLES: Record<string, object> = {
  topic: { type: 'topic', function: 'my-function', topic: 'orders.created' },
  schedule: { type: 'schedule', function: 'my-function', cron: '*/5 * * * *', timezone: 'UTC' },
  queue: { type: 'queue', function: 'my-function', queue: 'jobs', batchSize: 1 },
  storage: { type: 'storage', function: 'my-function', bucket: 'uploads', events: ['created'], prefix: '' },
  http: { type: 'http', function: 'my-function', method: 'GET', path: '/hello/:name', public: false },
};

/** Event triggers: list, create/replace (PUT with a JSON spec) and delete. */
export function triggersPage(ctx: PageContext): Page {
  const listBox = h('div', { class: 'card' }, h('span', { class: 'hint' }, 'Loading…'));
  const formBox = h('div');

  const load = async (): Promise<void> => {
    try {
      const { triggers } = await ctx.api.get<{ triggers: TriggerInfo[] }>('/v1/triggers');
      replace(listBox, triggers.length === 0 ? h('div', { class: 'empty' }, 'No triggers yet.') : table(triggers));
      if (!formBox.firstChild) replace(formBox, form());
    } catch (err) {
      replace(listBox, errorBox(err, 'Triggers'));
    }
  };

  const remove = async (name: string): Promise<void> => {
    if (!confirm(`Delete trigger ${name}?`)) return;
    try {
      await ctx.api.call('DELETE', `/v1/triggers/${seg(name)}`);
      await load();
    } catch (err) {
      alert(errorText(err));
    }
  };

  const table = (triggers: TriggerInfo[]): HTMLElement =>
    h(
      'table',
      { class: 'table', 'data-testid': 'trigger-table' },
      h('thead', null, h('tr', null, ['Name', 'Type', 'Source', 'Function', 'Updated', ''].map((c) => h('th', null, c)))),
      h(
        'tbody',
        null,
        triggers.map((t) =>
          h(
            'tr',
            { 'data-trigger': t.name },
            h('td', null, h('b', null, t.name)),
            h('td', null, badge(t.type, 'info')),
            h('td', { class: 'wrap' }, h('code', null, source(t))),
            h('td', null, link(`/functions/${seg(t.function)}`, t.function)),
            h('td', { title: t.updatedAt ?? '' }, ago(t.updatedAt)),
            h('td', { class: 'right' }, h('button', { class: 'danger small', onclick: () => void remove(t.name) }, 'Delete')),
          ),
        ),
      ),
    );

  const form = (): HTMLElement => {
    const name = h('input', { id: 'trigger-name', required: true, pattern: '[a-z0-9][a-z0-9_-]{0,62}', placeholder: 'on-orders' });
    const kind = h('select', { id: 'trigger-kind' }, Object.keys(EXAMPLES).map((k) => h('option', { value: k }, k)));
    const spec = h('textarea', { id: 'trigger-spec', rows: 7, class: 'mono', value: pretty(EXAMPLES['topic']) });
    spec.spellcheck = false;
    kind.addEventListener('change', () => (spec.value = pretty(EXAMPLES[kind.value])));
    const out = h('div');
    const submit = async (ev: Event): Promise<void> => {
      ev.preventDefault();
      try {
        const body: unknown = JSON.parse(spec.value);
        await ctx.api.send('PUT', `/v1/triggers/${seg(name.value.trim())}`, body);
        replace(out, h('span', { class: 'ok-text', 'data-testid': 'trigger-saved' }, `Saved trigger ${name.value.trim()}.`));
        await load();
      } catch (err) {
        replace(out, errorBox(err));
      }
    };
    return h(
      'form',
      { class: 'card', onsubmit: submit, 'data-testid': 'trigger-form' },
      h('h2', null, 'Create or replace a trigger'),
      h('div', { class: 'grid-fields' }, h('div', { class: 'field' }, h('label', { for: 'trigger-name' }, 'Name'), name), h('div', { class: 'field' }, h('label', { for: 'trigger-kind' }, 'Type'), kind)),
      h('div', { class: 'field' }, h('label', { for: 'trigger-spec' }, 'Spec (JSON)'), spec),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), out),
    );
  };

  void load();
  return { el: h('section', null, pageHeader('Triggers', h('button', { class: 'ghost', onclick: () => void load() }, 'Refresh')), listBox, formBox) };
}

/** What fires the trigger, in one line. */
export function source(t: TriggerInfo): string {
  switch (t.type) {
    case 'schedule':
      return `${t.cron ?? ''} (${t.timezone ?? 'UTC'})`;
    case 'topic':
      return `topic ${t.topic ?? ''}`;
    case 'queue':
      return `queue ${t.queue ?? ''}${t.batchSize && t.batchSize > 1 ? ` ×${t.batchSize}` : ''}`;
    case 'storage':
      return `${t.bucket ?? ''}/${t.prefix ?? ''}* on ${(t.events ?? []).join(', ')}`;
    case 'http':
      return `${t.method ?? 'ANY'} ${t.url ?? t.path ?? ''}${t.public ? ' (public)' : ''}`;
    default:
      return '—';
  }
}
