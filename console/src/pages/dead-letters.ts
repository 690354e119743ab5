import { seg } from '../api.js';
import { errorBox, link, pageHeader, type Page, type PageContext } from '../app.js';
import { h, replace } from '../dom.js';
import { ago, badge, errorText, formatError } from '../format.js';
import type { DeadLetterInfo } from '../types.js';

/**
 * Async invocations that failed for good. Re-drive invokes the function again
 * (async, same event, latest version) as a new activation and removes the
 * entry; a row opens to show the event and the last error.
 */
export function deadLettersPage(ctx: PageContext): Page {
  const fnFilter = h('input', { id: 'dl-function', placeholder: 'filter by function', value: ctx.query.get('function') ?? '' });
  const listBox = h('div', { class: 'card' }, h('span', { class: 'hint' }, 'Loading…'));

  const load = async (): Promise<void> => {
    try {
      const { deadLetters } = await ctx.api.get<{ deadLetters: DeadLetterInfo[] }>('/v1/dead-letters', { function: fnFilter.value.trim() || undefined, limit: 200 });
      replace(listBox, deadLetters.length === 0 ? h('div', { class: 'empty' }, 'No dead letters.') : table(deadLetters));
    } catch (err) {
      replace(listBox, errorBox(err, 'Dead letters'));
    }
  };

  const redrive = async (d: DeadLetterInfo, cell: HTMLElement): Promise<void> => {
    try {
      const res = await ctx.api.call<{ activationId: string }>('POST', `/v1/dead-letters/${seg(d.activationId)}/redrive`);
      replace(cell, h('span', { class: 'ok-text', 'data-testid': 'redriven' }, 'Re-driven → '), link(`/activations/${seg(res.activationId)}`, h('code', null, res.activationId)));
    } catch (err) {
      replace(cell, errorBox(err));
    }
  };

  const discard = async (d: DeadLetterInfo): Promise<void> => {
    if (!confirm(`Delete the dead letter of ${d.activationId}? Its event is lost.`)) return;
    try {
      await ctx.api.call('DELETE', `/v1/dead-letters/${seg(d.activationId)}`);
      await load();
    } catch (err) {
      alert(errorText(err));
    }
  };

  const table = (list: DeadLetterInfo[]): HTMLElement =>
    h(
      'table',
      { class: 'table', 'data-testid': 'dead-letter-table' },
      h('thead', null, h('tr', null, ['Failed', 'Function', 'Reason', 'Last error', 'Attempts', 'Activation', ''].map((c) => h('th', null, c)))),
      h(
        'tbody',
        null,
        list.flatMap((d) => {
          const action = h(
            'td',
            { class: 'right' },
            h('button', { class: 'small', 'data-testid': 'redrive-button', onclick: () => void redrive(d, action) }, 'Re-drive'),
            ' ',
            h('button', { class: 'small danger', onclick: () => void discard(d) }, 'Delete'),
          );
          const raw = h(
            'tr',
            { class: 'raw', hidden: true },
            h('td', { colspan: 7 }, h('h3', null, 'Event'), h('pre', { class: 'code' }, prettyJson(d.payload)), d.lastError ? [h('h3', null, 'Last error'), h('pre', { class: 'code bad' }, formatError(d.lastError))] : null),
          );
          return [
            h(
              'tr',
              {
                class: 'clickable-row',
                'data-dead-letter': d.activationId,
                onclick: (ev: Event) => {
                  if (!(ev.target as Element).closest('button, a')) raw.hidden = !raw.hidden;
                },
              },
              h('td', { title: d.failedAt }, ago(d.failedAt)),
              h('td', null, link(`/functions/${seg(d.function)}`, `${d.function} v${d.version}`)),
              h('td', null, badge(d.reason, 'bad'), d.trigger ? h('div', { class: 'hint' }, d.trigger) : null),
              h('td', { class: 'wrap' }, lastError(d)),
              h('td', { class: 'num' }, String(d.attempts)),
              h('td', null, link(`/activations/${seg(d.activationId)}`, h('code', null, d.activationId.slice(0, 12)))),
              action,
            ),
            raw,
          ];
        }),
      ),
    );

  fnFilter.addEventListener('change', () => void load());
  void load();
  return {
    el: h(
      'section',
      null,
      pageHeader('Dead letters', h('button', { class: 'ghost', onclick: () => void load() }, 'Refresh')),
      h('div', { class: 'filters' }, fnFilter),
      listBox,
    ),
  };
}

function lastError(d: DeadLetterInfo): string {
  const e = d.lastError;
  if (!e) return d.status;
  return [e.errorType ?? e.code, e.errorMessage ?? e.message].filter(Boolean).join(': ') || d.status;
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
