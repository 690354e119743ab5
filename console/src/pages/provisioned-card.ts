import { ApiError, seg } from '../api.js';
import { errorBox, poll, type PageContext } from '../app.js';
import { h, replace } from '../dom.js';
import { ago, badge } from '../format.js';
import type { AliasInfo, FunctionInfo, ProvisionedInfo, ProvisionedWindow } from '../types.js';

/**
 * How often the card asks for the configs again: the provisioner reports every
 * heartbeat (1 s by default), so ready counts climb within seconds of a change.
 */
const POLL_MS = 2000;

/** `0 9 * * 1-5 Europe/Paris: 8 for 8h` */
export function windowText(w: ProvisionedWindow): string {
  const d = w.durationMinutes;
  const duration = d % 60 === 0 ? `${d / 60}h` : d > 60 ? `${Math.floor(d / 60)}h${d % 60}m` : `${d}m`;
  return `${w.cron}${w.timezone !== undefined && w.timezone !== 'UTC' ? ` ${w.timezone}` : ''}: ${w.instances} for ${duration}`;
}

/** `v1`, or the alias's name. */
function targetLabel(qualifier: string): string {
  return /^\d+$/.test(qualifier) ? `v${qualifier}` : qualifier;
}

function readyBadge(ready: number, wanted: number): HTMLElement {
  return badge(`${ready}/${wanted}`, ready >= wanted ? (wanted > 0 ? 'ok' : 'muted') : 'warn');
}

/** What a config says, without the provisioner's timestamp: redraw only when this changes. */
function fingerprint(list: readonly ProvisionedInfo[]): string {
  return JSON.stringify(list.map((p) => ({ ...p, status: { ...p.status, at: undefined } })));
}

/**
 * A function's provisioned instances on its page: each config (a version or
 * an alias) with ready/wanted, per version too, its windows and the
 * provisioner's problem if any; a form that sets the instances of a version
 * or alias (keeping its windows, optionally adding one), and delete. A count
 * that does not fit is answered with the API's counter-offer, one click away.
 * The list is fetched again every {@link POLL_MS} while the page is open.
 */
export function provisionedCard(fn: FunctionInfo, ctx: PageContext): { el: HTMLElement; setAliases: (list: AliasInfo[]) => void; dispose: () => void } {
  const base = `/v1/functions/${seg(fn.name)}/provisioned`;
  const title = h('h2', null, 'Provisioned instances');
  const summary = h('span', { class: 'hint', 'data-testid': 'provisioned-summary' });
  const list = h('div', { 'data-testid': 'provisioned-list' }, h('span', { class: 'hint' }, 'Loading…'));
  const status = h('div', { 'data-testid': 'provisioned-status' });
  let configs: ProvisionedInfo[] = [];
  let drawn = '';

  const put = (qualifier: string, instances: number, windows: ProvisionedWindow[]): Promise<unknown> =>
    ctx.api.send('PUT', `${base}/${seg(qualifier)}`, { instances, windows });

  const act = async (change: () => Promise<unknown>, retry?: (available: number) => Promise<unknown>): Promise<void> => {
    replace(status);
    try {
      await change();
      await load();
    } catch (err) {
      replace(status, refusalBox(err, retry) ?? errorBox(err));
    }
  };

  /** A 409 INSUFFICIENT_CAPACITY as a counter-offer: how many fit, what limits it, and a button that asks for that many. */
  const refusalBox = (err: unknown, retry?: (available: number) => Promise<unknown>): HTMLElement | undefined => {
    if (!(err instanceof ApiError) || err.code !== 'INSUFFICIENT_CAPACITY') return undefined;
    const available = err.details?.['available'];
    if (typeof available !== 'number') return undefined;
    const holder = err.details?.['limitedBy'] === 'quota' ? "The namespace's provisioned memory quota" : 'The cluster';
    return h(
      'div',
      { class: 'error-box', role: 'alert', 'data-testid': 'provisioned-refusal' },
      h('b', null, `${err.code} (${err.status})`),
      ' ',
      `${holder} can hold ${available} of these instances. `,
      retry !== undefined && available > 0 ? h('button', { class: 'small', type: 'button', onclick: () => void act(() => retry(available)) }, `Set ${available} instead`) : null,
      h('div', { class: 'hint' }, err.message),
    );
  };

  const windowCell = (p: ProvisionedInfo): HTMLElement =>
    h(
      'td',
      { class: 'wrap', 'data-testid': 'provisioned-windows' },
      p.windows.length === 0
        ? '—'
        : p.windows.map((w, i) =>
            h(
              'div',
              { class: 'row tight' },
              h('code', null, windowText(w)),
              h('button', {
                class: 'ghost small',
                type: 'button',
                title: 'remove this window',
                onclick: () => void act(() => put(p.qualifier, p.instances, p.windows.filter((_, j) => j !== i))),
              }, '×'),
            ),
          ),
    );

  const table = (): HTMLElement =>
    configs.length === 0
      ? h('p', { class: 'hint' }, 'None. Provisioned instances stay loaded for a version or an alias, so calls up to that many in flight never wait for a start.')
      : h(
          'table',
          { class: 'table' },
          h('thead', null, h('tr', null, ['Version or alias', 'Instances', 'Ready', 'Per version', 'Windows', 'Problem', ''].map((t) => h('th', null, t)))),
          h(
            'tbody',
            null,
            configs.map((p) =>
              h(
                'tr',
                { 'data-provisioned': p.qualifier },
                h('td', null, h('b', null, targetLabel(p.qualifier)), /^\d+$/.test(p.qualifier) ? null : [' ', badge('alias', 'info')]),
                h('td', { class: 'num' }, String(p.instances)),
                h('td', { 'data-testid': 'provisioned-ready', title: p.status.at !== undefined ? `checked ${ago(p.status.at)}` : 'not placed yet' }, readyBadge(p.status.ready, p.status.wanted)),
                h(
                  'td',
                  { 'data-testid': 'provisioned-versions' },
                  Object.entries(p.status.versions).map(([v, s], i) => [i > 0 ? ' · ' : null, `v${v} ${s.ready}/${s.wanted}`]),
                ),
                windowCell(p),
                h('td', null, p.status.problem !== undefined ? badge(p.status.problem, 'bad') : ''),
                h(
                  'td',
                  { class: 'right' },
                  h('button', {
                    class: 'danger small',
                    type: 'button',
                    onclick: () => {
                      if (confirm(`Stop keeping instances of ${fn.name}:${p.qualifier} loaded?`)) void act(() => ctx.api.call('DELETE', `${base}/${seg(p.qualifier)}`));
                    },
                  }, 'Delete'),
                ),
              ),
            ),
          ),
        );

  const draw = (): void => {
    const fp = fingerprint(configs);
    if (fp === drawn) return;
    drawn = fp;
    const wanted = configs.reduce((n, p) => n + p.status.wanted, 0);
    const ready = configs.reduce((n, p) => n + p.status.ready, 0);
    replace(summary, configs.length > 0 ? `${ready} of ${wanted} ready` : '');
    replace(list, table());
  };

  const load = async (): Promise<void> => {
    try {
      configs = (await ctx.api.get<{ provisioned: ProvisionedInfo[] }>(base)).provisioned;
    } catch (err) {
      drawn = '';
      replace(list, errorBox(err, 'Provisioned instances'));
      return;
    }
    draw();
  };

  // The form: a version or alias, a count, and optionally one window to add.
  const versions = (fn.versions ?? [fn.version]).slice().reverse();
  const versionOptions = (): Node[] => versions.map((v) => h('option', { value: String(v) }, `v${v}`));
  const target = h('select', { id: 'provisioned-target' }, versionOptions());
  const instances = h('input', { id: 'provisioned-instances', type: 'number', min: 0, max: 100, step: 1, value: '1', required: true, size: 4 });
  const cron = h('input', { id: 'provisioned-window-cron', placeholder: 'cron, e.g. 0 9 * * 1-5', size: 16 });
  const minutes = h('input', { id: 'provisioned-window-minutes', type: 'number', min: 1, max: 10080, step: 1, placeholder: 'minutes', size: 6 });
  const peak = h('input', { id: 'provisioned-window-instances', type: 'number', min: 0, max: 100, step: 1, placeholder: 'instances', size: 6 });
  const timezone = h('input', { id: 'provisioned-window-timezone', placeholder: 'UTC', size: 12 });
  const setAliases = (aliases: AliasInfo[]): void => {
    const chosen = target.value;
    replace(target, versionOptions(), aliases.map((a) => h('option', { value: a.name }, `${a.name} (alias)`)));
    if ([...target.options].some((o) => o.value === chosen)) target.value = chosen;
  };
  const submit = (ev: Event): void => {
    ev.preventDefault();
    const qualifier = target.value;
    // Setting the count keeps the config's windows; a filled-in window is added to them.
    const windows = [...(configs.find((p) => p.qualifier === qualifier)?.windows ?? [])];
    if (cron.value.trim() !== '') {
      windows.push({
        cron: cron.value.trim(),
        durationMinutes: Number(minutes.value),
        instances: Number(peak.value),
        ...(timezone.value.trim() !== '' ? { timezone: timezone.value.trim() } : {}),
      });
    }
    const clearWindow = (): void => {
      for (const field of [cron, minutes, peak, timezone]) field.value = '';
    };
    void act(
      async () => {
        await put(qualifier, Number(instances.value), windows);
        // Saved: the window is now in the table, and saving again must not add it twice.
        clearWindow();
      },
      async (available) => {
        instances.value = String(available);
        // The counter-offer is for the peak: without windows that is the count itself.
        await put(qualifier, available, windows.map((w) => ({ ...w, instances: Math.min(w.instances, available) })));
        clearWindow();
      },
    );
  };
  const form = h(
    'form',
    { 'data-testid': 'provisioned-form', onsubmit: submit },
    h('h3', null, 'Keep instances loaded'),
    h(
      'div',
      { class: 'row wrap inline' },
      target,
      instances,
      h('span', { class: 'hint' }, 'instances; during a window'),
      cron,
      minutes,
      h('span', { class: 'hint' }, 'min,'),
      peak,
      timezone,
      h('button', { type: 'submit', class: 'primary small' }, 'Save'),
    ),
  );

  const el = h('div', { class: 'card', 'data-testid': 'provisioned-card' }, h('div', { class: 'card-title' }, title, summary), list, status, form);
  const stop = poll(load, POLL_MS);
  return { el, setAliases, dispose: stop };
}
