import type { Api } from './api.js';
import { ApiError, seg } from './api.js';
import { errorBox, link } from './app.js';
import { h, replace } from './dom.js';
import { ago, badge, formatError, ms, pretty, time } from './format.js';
import type { Activation, FunctionInfo } from './types.js';
import { FINAL_STATUSES } from './types.js';

/** Everything about one activation: status, timing, placement, result or error, and its logs. */
export function activationView(a: Activation, opts: { showResult?: boolean } = {}): HTMLElement {
  const facts: [string, Node | string][] = [
    ['Activation', h('code', { 'data-testid': 'activation-id' }, a.activationId)],
    ['Function', link(`/functions/${seg(a.function)}`, `${a.function} v${a.version}${a.alias !== undefined ? ` via ${a.alias}` : ''}`)],
    ['Status', badge(a.status)],
    ['Duration', ms(a.durationMs)],
    ['Start', a.startKind ? badge(a.startKind) : a.coldStart ? badge('cold') : badge('warm')],
    ['Start time', ms(a.startMs)],
    ['Executor', a.executor ?? '—'],
    ['Placement', a.placement ?? '—'],
    ['Attempts', String(a.attempts)],
    ['Queued', `${time(a.queuedAt)} (${ago(a.queuedAt)})`],
  ];
  if (a.trigger) facts.push(['Trigger', a.trigger]);
  if (a.mode) facts.push(['Mode', a.mode]);
  return h(
    'div',
    { class: 'activation', 'data-testid': 'activation-view' },
    h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    a.error !== undefined ? [h('h3', null, 'Error'), h('pre', { class: 'code bad' }, formatError(a.error))] : null,
    a.result !== undefined && opts.showResult !== false ? [h('h3', null, 'Result'), h('pre', { class: 'code' }, pretty(a.result))] : null,
    h('h3', null, 'Logs', a.logsTruncated ? h('span', { class: 'hint' }, ' (truncated)') : null),
    h('pre', { class: 'code logs', 'data-testid': 'activation-logs' }, a.logs.length > 0 ? a.logs.join('\n') : h('span', { class: 'hint' }, 'no output')),
  );
}

/** The first characters of an id: enough to tell rows apart, short enough for a table. */
export function shortId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 12)}…` : id;
}

/** Polls one activation until it is final (or `timeoutMs` passes). */
export async function waitForFinal(api: Api, id: string, timeoutMs = 30_000): Promise<Activation> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let a: Activation | undefined;
    try {
      a = await api.get<Activation>(`/v1/activations/${seg(id)}`);
    } catch (err) {
      // An async activation's record may not be written yet.
      if (!(err instanceof ApiError && err.code === 'ACTIVATION_NOT_FOUND') || Date.now() > end) throw err;
    }
    if (a && (FINAL_STATUSES.includes(a.status) || Date.now() > end)) return a;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A table of activations; clicking a row calls `onSelect`. */
export function activationTable(list: Activation[], onSelect: (a: Activation) => void, selected?: string): HTMLElement {
  if (list.length === 0) return h('div', { class: 'empty' }, 'No activations match.');
  return h(
    'table',
    { class: 'table clickable', 'data-testid': 'activation-table' },
    h('thead', null, h('tr', null, ['When', 'Function', 'Status', 'Start', 'Duration', 'Activation'].map((c) => h('th', null, c)))),
    h(
      'tbody',
      null,
      list.map((a) =>
        h(
          'tr',
          { class: a.activationId === selected ? 'selected' : '', 'data-activation': a.activationId, onclick: () => onSelect(a) },
          h('td', { title: a.queuedAt }, time(a.queuedAt)),
          h('td', null, `${a.function} v${a.version}${a.alias !== undefined ? ` via ${a.alias}` : ''}`),
          h('td', null, badge(a.status)),
          h('td', null, badge(a.startKind ?? (a.coldStart ? 'cold' : 'warm'))),
          h('td', { class: 'num' }, ms(a.durationMs)),
          h('td', { title: a.activationId }, h('code', null, shortId(a.activationId))),
        ),
      ),
    ),
  );
}

const TEMPLATE = `// Any handler style works: AWS Lambda, CommonJS, callback or OpenWhisk.
export const handler = async (event, context) => {
  console.log('hello from', context.functionName, 'with', JSON.stringify(event));
  return { ok: true, echo: event };
};
`;

export interface DeployFormOptions {
  api: Api;
  /** Redeploying an existing function: its name is fixed and its settings prefilled. */
  existing?: FunctionInfo;
  onDeployed(fn: FunctionInfo): void;
  /** Warnings of the deploy that led here, shown until the next one. */
  warnings?: string[];
}

/** A deploy's warnings, as a list. */
function warningList(warnings: readonly string[]): HTMLElement | null {
  return warnings.length === 0 ? null : h('ul', { class: 'deploy-warnings', 'data-testid': 'deploy-warnings' }, warnings.map((w) => h('li', null, h('code', null, w))));
}

/**
 * Deploy from the code editor (JSON `{ code, …settings }`) or from a dropped
 * .zip / .tar.gz (the archive as the body, settings in the query).
 */
export function deployForm(opts: DeployFormOptions): HTMLElement {
  const fn = opts.existing;
  const name = h('input', { id: 'deploy-name', name: 'name', required: true, pattern: '[a-z0-9][a-z0-9_-]{0,62}', placeholder: 'my-function', value: fn?.name ?? '', readOnly: fn !== undefined });
  const handler = h('input', { id: 'deploy-handler', name: 'handler', placeholder: 'index.handler', value: fn?.handler ?? '' });
  // Image functions are deployed with the CLI or the API (their code is an image, not this editor).
  const runtime = h(
    'select',
    { id: 'deploy-runtime', name: 'runtime' },
    ...(['nodejs', 'python'] as const).map((r) => h('option', { value: r, selected: (fn?.runtime ?? 'nodejs') === r }, r === 'nodejs' ? 'Node.js' : 'Python')),
  );
  runtime.disabled = fn !== undefined;
  const memory = h('input', { id: 'deploy-memory', name: 'memoryMb', type: 'number', min: 64, step: 64, placeholder: 'default', value: fn ? String(fn.memoryMb) : '' });
  const timeout = h('input', { id: 'deploy-timeout', name: 'timeoutMs', type: 'number', min: 100, step: 100, placeholder: 'default', value: fn ? String(fn.timeoutMs) : '' });
  const retries = h('input', { id: 'deploy-retries', name: 'retries', type: 'number', min: 0, max: 10, placeholder: 'default', value: fn ? String(fn.retries) : '' });
  const maxConcurrency = h('input', { id: 'deploy-concurrency', name: 'maxConcurrency', type: 'number', min: 0, placeholder: '0 = no limit', value: fn ? String(fn.maxConcurrency) : '' });
  const egress = h('input', { id: 'deploy-egress', name: 'allowEgress', type: 'checkbox', checked: fn?.allowEgress ?? false });
  const isPublic = h('input', { id: 'deploy-public', name: 'public', type: 'checkbox', checked: fn?.public ?? false });
  const onFailure = h('input', { id: 'deploy-on-failure', name: 'onFailure', placeholder: 'function for dead letters', value: fn?.onFailure ?? '' });
  const secrets = h('textarea', { id: 'deploy-secrets', name: 'secrets', rows: 2, class: 'mono', placeholder: 'KEY=value, one per line (encrypted, never shown again)' });
  const env = h('textarea', { id: 'deploy-env', name: 'env', rows: 3, class: 'mono', placeholder: 'KEY=value, one per line', value: fn ? Object.entries(fn.env).map(([k, v]) => `${k}=${v}`).join('\n') : '' });
  const code = h('textarea', { id: 'deploy-code', name: 'code', rows: 14, class: 'mono editor', value: fn ? '' : TEMPLATE, placeholder: fn ? 'Paste the new code, or drop an archive below' : '' });
  code.spellcheck = false;
  code.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab' || ev.shiftKey) return;
    ev.preventDefault();
    code.setRangeText('  ', code.selectionStart, code.selectionEnd, 'end');
  });

  let archive: File | undefined;
  const fileInput = h('input', { type: 'file', accept: '.zip,.tgz,.tar.gz,application/zip,application/gzip', hidden: true, 'data-testid': 'deploy-file' });
  const chooseFile = (e: Event): void => {
    e.preventDefault();
    fileInput.click();
  };
  const dropLabel = h('span', null, 'Drop a .zip or .tar.gz here, or ', h('a', { href: '#', onclick: chooseFile }, 'choose a file'));
  const drop = h('div', { class: 'dropzone', 'data-testid': 'dropzone' }, dropLabel, fileInput);
  const setArchive = (file: File | undefined): void => {
    archive = file;
    const remove = (e: Event): void => {
      e.preventDefault();
      setArchive(undefined);
    };
    replace(
      drop,
      file
        ? h('span', null, `Archive: ${file.name} (${Math.round(file.size / 1024)} KiB) — deploys instead of the editor. `, h('a', { href: '#', onclick: remove }, 'remove'))
        : dropLabel,
      fileInput,
    );
  };
  fileInput.addEventListener('change', () => setArchive(fileInput.files?.[0]));
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    setArchive(ev.dataTransfer?.files[0]);
  });

  const out = h('div', { class: 'deploy-result', 'aria-live': 'polite' }, warningList(opts.warnings ?? []));
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'deploy-button' }, fn ? 'Deploy new version' : 'Deploy');

  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    button.disabled = true;
    replace(out, h('span', { class: 'hint' }, archive ? 'Uploading and bundling…' : 'Bundling…'));
    try {
      const settings: Record<string, unknown> = {};
      if (handler.value.trim()) settings['handler'] = handler.value.trim();
      if (runtime.value !== 'nodejs') settings['runtime'] = runtime.value;
      for (const [key, input] of [['memoryMb', memory], ['timeoutMs', timeout], ['retries', retries], ['maxConcurrency', maxConcurrency]] as const) {
        if (input.value.trim() !== '') settings[key] = Number(input.value);
      }
      settings['allowEgress'] = egress.checked;
      settings['public'] = isPublic.checked;
      if (onFailure.value.trim()) settings['onFailure'] = onFailure.value.trim();
      settings['env'] = parseEnv(env.value);
      const secretValues = parseEnv(secrets.value);
      if (Object.keys(secretValues).length > 0) settings['secrets'] = secretValues;
      const path = `/v1/functions/${seg(name.value.trim())}`;
      let result: FunctionInfo;
      if (archive) {
        const query: Record<string, string> = {};
        for (const [k, v] of Object.entries(settings)) query[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
        const isZip = /\.zip$/i.test(archive.name);
        result = await opts.api.call<FunctionInfo>('PUT', path, { body: archive, contentType: isZip ? 'application/zip' : 'application/gzip', query });
      } else {
        result = await opts.api.send<FunctionInfo>('PUT', path, { code: code.value, ...settings });
      }
      const warnings = result.warnings ?? [];
      replace(
        out,
        h('span', { class: 'ok-text', 'data-testid': 'deploy-ok' }, result.created === false ? `No change: ${result.name} is still version ${result.version}.` : `Deployed ${result.name} version ${result.version}.`),
        warningList(warnings),
      );
      opts.onDeployed(result);
    } catch (err) {
      replace(out, errorBox(err));
    } finally {
      button.disabled = false;
    }
  };

  const field = (label: string, input: HTMLElement, id: string): HTMLElement => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  return h(
    'form',
    { class: 'card deploy-form', 'data-testid': 'deploy-form', onsubmit: submit },
    h('h2', null, fn ? `Deploy a new version of ${fn.name}` : 'Deploy a function'),
    h(
      'div',
      { class: 'grid-fields' },
      field('Name', name, 'deploy-name'),
      field('Runtime', runtime, 'deploy-runtime'),
      field('Handler', handler, 'deploy-handler'),
      field('Memory (MB)', memory, 'deploy-memory'),
      field('Timeout (ms)', timeout, 'deploy-timeout'),
      field('Retries (async)', retries, 'deploy-retries'),
      field('Max concurrency', maxConcurrency, 'deploy-concurrency'),
      field('On failure', onFailure, 'deploy-on-failure'),
    ),
    h('div', { class: 'row' }, h('label', { class: 'check' }, egress, ' Allow network egress'), h('label', { class: 'check' }, isPublic, ' Public web endpoint (no key)')),
    field('Environment', env, 'deploy-env'),
    field('Secrets', secrets, 'deploy-secrets'),
    fn?.secretNames && fn.secretNames.length > 0
      ? h('p', { class: 'hint' }, `This function has secrets (${fn.secretNames.join(', ')}). Their values are never shown: enter them again, or the new version has none.`)
      : null,
    field('Code (JavaScript or TypeScript; Python with the Python runtime)', code, 'deploy-code'),
    drop,
    h('div', { class: 'row' }, button, out),
  );
}

/** `KEY=value` lines into an object; blank lines and `#` comments are skipped. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`environment line "${line}" is not KEY=value`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}
