import { seg } from '../api.js';
import { errorBox, type PageContext } from '../app.js';
import { h, replace } from '../dom.js';
import { ago, badge } from '../format.js';
import type { AliasInfo, FunctionInfo } from '../types.js';

/** `v1 90% · v2 10%`: the versions an alias routes to, with their shares. */
export function routingText(a: AliasInfo): string {
  const routing = a.routing ?? { [String(a.version)]: 1 };
  return Object.entries(routing)
    .map(([v, share]) => `v${v} ${Math.round(share * 1000) / 10}%`)
    .join(' · ');
}

/**
 * A function's aliases on its page: each with its routing (versions and
 * shares), and the moves a release needs: set or move one (optionally with
 * a share of calls to a second version), roll it back a step, promote one
 * alias's version to another, delete. Every change goes through the public
 * API and the card is drawn again from what it answers.
 */
export function aliasesCard(fn: FunctionInfo, ctx: PageContext, onAliases: (list: AliasInfo[]) => void): HTMLElement {
  const base = `/v1/functions/${seg(fn.name)}/aliases`;
  const card = h('div', { class: 'card', 'data-testid': 'aliases-card' }, h('h2', null, 'Aliases'), h('span', { class: 'hint' }, 'Loading…'));
  const status = h('div', { 'data-testid': 'alias-status' });
  const versions = (fn.versions ?? [fn.version]).slice().reverse();

  const act = async (change: () => Promise<unknown>): Promise<void> => {
    replace(status);
    try {
      await change();
      await load();
    } catch (err) {
      replace(status, errorBox(err));
    }
  };

  const table = (list: AliasInfo[]): HTMLElement =>
    list.length === 0
      ? h('p', { class: 'hint' }, 'No aliases yet. An alias names a version (prod → v7) and can send a share of its calls to another (a canary).')
      : h(
          'table',
          { class: 'table' },
          h('thead', null, h('tr', null, ['Alias', 'Routing', 'Description', 'Updated', ''].map((t) => h('th', null, t)))),
          h(
            'tbody',
            null,
            list.map((a) =>
              h(
                'tr',
                { 'data-alias': a.name },
                h('td', null, h('b', null, a.name)),
                h('td', { 'data-testid': 'alias-routing' }, Object.keys(a.routing ?? {}).length > 1 ? badge(routingText(a), 'warn') : routingText(a)),
                h('td', { class: 'wrap' }, a.description ?? ''),
                h('td', { title: a.updatedAt }, ago(a.updatedAt)),
                h(
                  'td',
                  { class: 'right' },
                  h('button', {
                    class: 'small',
                    disabled: (a.history ?? []).length === 0,
                    title: (a.history ?? []).length === 0 ? 'no earlier routing' : 'back to the routing before the last change',
                    onclick: () => void act(() => ctx.api.call('POST', `${base}/${seg(a.name)}/rollback`)),
                  }, 'Roll back'),
                  ' ',
                  h('button', {
                    class: 'danger small',
                    onclick: () => {
                      if (confirm(`Delete alias ${fn.name}:${a.name}?`)) void act(() => ctx.api.call('DELETE', `${base}/${seg(a.name)}`));
                    },
                  }, 'Delete'),
                ),
              ),
            ),
          ),
        );

  const setForm = (): HTMLElement => {
    const name = h('input', { id: 'alias-name', placeholder: 'prod', required: true, size: 10 });
    const version = h('select', { id: 'alias-version' }, versions.map((v) => h('option', { value: String(v) }, `v${v}`)));
    const weightVersion = h('select', { id: 'alias-weight-version' }, h('option', { value: '' }, 'no split'), versions.map((v) => h('option', { value: String(v) }, `v${v}`)));
    const weight = h('input', { id: 'alias-weight', type: 'number', min: 1, max: 99, step: 1, placeholder: '10', size: 4 });
    const description = h('input', { id: 'alias-description', placeholder: 'description (optional)' });
    const submit = (ev: Event): void => {
      ev.preventDefault();
      const share = weightVersion.value !== '' ? Number(weight.value) / 100 : undefined;
      const body = {
        version: Number(version.value),
        ...(share !== undefined ? { weights: { [weightVersion.value]: share } } : {}),
        ...(description.value.trim() !== '' ? { description: description.value.trim() } : {}),
      };
      void act(() => ctx.api.send('PUT', `${base}/${seg(name.value.trim())}`, body));
    };
    return h(
      'form',
      { 'data-testid': 'alias-form', onsubmit: submit },
      h('h3', null, 'Set or move an alias'),
      h('div', { class: 'row wrap inline' }, name, '→', version, h('span', { class: 'hint' }, 'and send'), weight, h('span', { class: 'hint' }, '% of calls to'), weightVersion, description, h('button', { type: 'submit', class: 'primary small' }, 'Save alias')),
    );
  };

  const promoteForm = (list: AliasInfo[]): HTMLElement | null => {
    if (list.length === 0) return null;
    const from = h('select', { id: 'promote-from' }, list.map((a) => h('option', { value: a.name }, `${a.name} (v${a.version})`)));
    const to = h('input', { id: 'promote-to', placeholder: 'prod', required: true, size: 10 });
    const submit = (ev: Event): void => {
      ev.preventDefault();
      void act(() => ctx.api.send('POST', `${base}/${seg(from.value)}/promote`, { to: to.value.trim() }));
    };
    return h(
      'form',
      { 'data-testid': 'alias-promote', onsubmit: submit },
      h('h3', null, 'Promote'),
      h('div', { class: 'row wrap inline' }, h('span', { class: 'hint' }, 'point'), to, h('span', { class: 'hint' }, 'at the version of'), from, h('button', { type: 'submit', class: 'small' }, 'Promote')),
    );
  };

  const load = async (): Promise<void> => {
    let list: AliasInfo[];
    try {
      list = (await ctx.api.get<{ aliases: AliasInfo[] }>(base)).aliases;
    } catch (err) {
      replace(card, h('h2', null, 'Aliases'), errorBox(err, 'Aliases'));
      return;
    }
    onAliases(list);
    replace(card, h('h2', null, 'Aliases'), table(list), status, setForm(), promoteForm(list));
  };
  void load();
  return card;
}
