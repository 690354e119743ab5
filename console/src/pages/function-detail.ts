import { seg, toApiError } from '../api.js';
import { errorBox, link, pageHeader, type Page, type PageContext } from '../app.js';
import { activationTable, activationView, deployForm, waitForFinal } from '../components.js';
import { h, replace } from '../dom.js';
import { badge, bytes, errorText, ms, pretty, runtimeLabel } from '../format.js';
import type { Activation, AliasInfo, FunctionInfo } from '../types.js';
import { aliasesCard } from './aliases-card.js';
import { provisionedCard } from './provisioned-card.js';

/** One function: settings and versions, an invoke panel, aliases, provisioned instances, its recent activations, and redeploy. */
export function functionDetailPage(ctx: PageContext): Page {
  const name = ctx.params['name'] ?? '';
  const body = h('div', null, h('span', { class: 'hint' }, 'Loading…'));
  const el = h('section', null, pageHeader(name), body);
  // The provisioned card polls; a redraw of the page (after a deploy) replaces it.
  let stopCards = (): void => {};

  const load = async (warnings: string[] = []): Promise<void> => {
    let fn: FunctionInfo;
    try {
      fn = await ctx.api.get<FunctionInfo>(`/v1/functions/${seg(name)}`);
    } catch (err) {
      replace(body, errorBox(err), h('p', null, link('/functions', '← All functions')));
      return;
    }
    const recent = h('div', { class: 'card' });
    const loadRecent = async (): Promise<void> => {
      try {
        const { activations } = await ctx.api.get<{ activations: Activation[] }>('/v1/activations', { function: name, limit: 20 });
        replace(recent, h('h2', null, 'Recent activations'), activationTable(activations, (a) => ctx.navigate(`/activations/${seg(a.activationId)}`)));
      } catch (err) {
        replace(recent, errorBox(err));
      }
    };
    void loadRecent();
    const invoke = invokeCard(fn, ctx, loadRecent);
    const provisioned = provisionedCard(fn, ctx);
    stopCards();
    stopCards = provisioned.dispose;
    const onAliases = (list: AliasInfo[]): void => {
      invoke.setAliases(list);
      provisioned.setAliases(list);
    };
    replace(
      body,
      h('div', { class: 'two-col' }, settingsCard(fn, ctx), invoke.el),
      aliasesCard(fn, ctx, onAliases),
      provisioned.el,
      recent,
      // The page is drawn again with the new version; the deploy's warnings stay in view.
      deployForm({ api: ctx.api, existing: fn, warnings, onDeployed: (deployed) => void load(deployed.warnings ?? []) }),
    );
  };
  void load();
  return { el, dispose: () => stopCards() };
}

function settingsCard(fn: FunctionInfo, ctx: PageContext): HTMLElement {
  const envKeys = Object.keys(fn.env);
  const webPath = fn.namespace && fn.namespace !== 'default' ? `/ns/${seg(fn.namespace)}/fn/${seg(fn.name)}` : `/fn/${seg(fn.name)}`;
  const remove = async (): Promise<void> => {
    if (!confirm(`Delete ${fn.name} and all its versions?`)) return;
    try {
      await ctx.api.call('DELETE', `/v1/functions/${seg(fn.name)}`);
      ctx.navigate('/functions');
    } catch (err) {
      alert(errorText(err));
    }
  };
  const facts: [string, Node | string][] = [
    ['Latest version', h('span', { 'data-testid': 'function-version' }, `v${fn.version}`)],
    ['Versions', (fn.versions ?? [fn.version]).map((v) => `v${v}`).join(', ')],
    ['Runtime', h('span', { 'data-testid': 'function-runtime' }, runtimeLabel(fn))],
    ['Handler', h('code', null, fn.handler)],
    ['Memory', `${fn.memoryMb} MB`],
    ['Timeout', ms(fn.timeoutMs)],
    ['Retries (async)', String(fn.retries)],
    ['Max concurrency', fn.maxConcurrency === 0 ? 'no limit' : String(fn.maxConcurrency)],
    ['Network egress', fn.allowEgress ? 'allowed' : 'blocked'],
    ['Environment', envKeys.length > 0 ? envKeys.join(', ') : '—'],
    ['Secrets', fn.secretNames && fn.secretNames.length > 0 ? fn.secretNames.join(', ') : '—'],
    ['On failure', fn.onFailure ? link(`/functions/${seg(fn.onFailure.split(':')[0] ?? fn.onFailure)}`, fn.onFailure) : '—'],
    ['Bundle', `${bytes(fn.codeSize)} · ${fn.codeHash.slice(0, 12)}`],
    ['Web endpoint', h('span', null, h('a', { href: webPath, target: '_blank', rel: 'noopener' }, webPath), fn.public ? ' (public)' : ' (needs a key)')],
  ];
  return h(
    'div',
    { class: 'card' },
    h('div', { class: 'card-title' }, h('h2', null, 'Settings'), h('button', { class: 'danger small', onclick: () => void remove() }, 'Delete')),
    h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
  );
}

/**
 * Invoke with a payload (the latest version, one version, or an alias);
 * show the status, result and activation, then the activation's logs.
 */
function invokeCard(fn: FunctionInfo, ctx: PageContext, onInvoked: () => Promise<void>): { el: HTMLElement; setAliases: (list: AliasInfo[]) => void } {
  const payload = h('textarea', { id: 'invoke-payload', rows: 6, class: 'mono', value: '{}' });
  payload.spellcheck = false;
  const versionOptions = (): Node[] => [h('option', { value: '' }, `latest (v${fn.version})`), ...(fn.versions ?? []).slice().reverse().map((v) => h('option', { value: String(v) }, `v${v}`))];
  const version = h('select', { id: 'invoke-version' }, versionOptions());
  // Values `alias:<name>` call through the alias; the aliases card fills them in.
  const setAliases = (list: AliasInfo[]): void => {
    const chosen = version.value;
    replace(version, versionOptions(), list.map((a) => h('option', { value: `alias:${a.name}` }, `${a.name} (alias)`)));
    if ([...version.options].some((o) => o.value === chosen)) version.value = chosen;
  };
  const asyncBox = h('input', { type: 'checkbox', id: 'invoke-async' });
  const out = h('div', { class: 'invoke-result', 'data-testid': 'invoke-result' });
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'invoke-button' }, 'Invoke');

  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    try {
      JSON.parse(payload.value || '{}');
    } catch (err) {
      replace(out, h('div', { class: 'error-box' }, `The payload is not valid JSON: ${errorText(err)}`));
      return;
    }
    button.disabled = true;
    replace(out, h('span', { class: 'hint' }, 'Invoking…'));
    try {
      const res = await ctx.api.raw('POST', `/v1/functions/${seg(fn.name)}/invoke`, {
        body: payload.value,
        contentType: 'application/json',
        query: {
          ...(version.value.startsWith('alias:') ? { alias: version.value.slice('alias:'.length) } : { version: version.value || undefined }),
          async: asyncBox.checked ? 'true' : undefined,
        },
      });
      const activationId = res.headers.get('x-brisk-activation-id') ?? (res.json as { activationId?: string } | undefined)?.activationId;
      const fault = res.headers.get('x-brisk-fault');
      const summary = h(
        'div',
        { class: 'row wrap' },
        badge(res.status),
        fault ? badge(`${fault} fault`, 'bad') : null,
        h('span', { class: 'hint' }, ms(res.elapsedMs)),
        res.headers.get('x-brisk-version') ? h('span', { class: 'hint', 'data-testid': 'invoke-ran-version' }, `ran v${res.headers.get('x-brisk-version') ?? ''}`) : null,
        activationId ? link(`/activations/${seg(activationId)}`, h('code', { 'data-testid': 'invoke-activation-id' }, activationId)) : null,
      );
      const resultPre = h('pre', { class: `code ${res.ok ? '' : 'bad'}`, 'data-testid': 'invoke-output' }, res.json !== undefined ? pretty(res.json) : res.text);
      const activation = h('div', null, activationId ? h('span', { class: 'hint' }, 'Fetching the activation…') : null);
      replace(out, summary, h('h3', null, res.status === 202 ? 'Accepted' : res.ok ? 'Result' : 'Error'), resultPre, activation);
      if (!res.ok && res.status !== 500 && res.status !== 504 && !activationId) throw toApiError(res);
      if (activationId) {
        const a = await waitForFinal(ctx.api, activationId);
        replace(activation, h('h3', null, 'Activation'), activationView(a, { showResult: false }));
      }
      void onInvoked();
    } catch (err) {
      out.appendChild(errorBox(err));
    } finally {
      button.disabled = false;
    }
  };

  const el = h(
    'form',
    { class: 'card', onsubmit: submit, 'data-testid': 'invoke-form' },
    h('h2', null, 'Invoke'),
    h('label', { for: 'invoke-payload' }, 'Event (JSON)'),
    payload,
    h('div', { class: 'row' }, h('label', { for: 'invoke-version' }, 'Version'), version, h('label', { class: 'check' }, asyncBox, ' async'), button),
    out,
  );
  return { el, setAliases };
}
