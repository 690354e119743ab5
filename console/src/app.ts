import type { Api } from './api.js';
import { ApiError } from './api.js';
import { h, type Child } from './dom.js';
import { errorText } from './format.js';

/** URL prefix of the console (Vite's `base`, the gateway's mount point). */
export const BASE = '/console';

/** What every page is given. */
export interface PageContext {
  api: Api;
  /** Named parts of the path (`/functions/:name` → `{ name }`). */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Go to a console path (`/functions/sum`), adding a history entry. */
  navigate(path: string): void;
}

/** A mounted page; `dispose` stops its timers when the user leaves. */
export interface Page {
  el: HTMLElement;
  dispose?(): void;
}

/** A link inside the console; the router turns its clicks into history navigation. */
export function link(path: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: BASE + path }, ...children);
}

/** An inline error box; ROUTE_NOT_FOUND reads as a missing feature rather than a failure. */
export function errorBox(err: unknown, feature?: string): HTMLElement {
  if (err instanceof ApiError && err.notAvailable) {
    return h('div', { class: 'notice', 'data-testid': 'not-available' }, `${feature ?? 'This feature'} is not available on this gateway.`);
  }
  const details = err instanceof ApiError ? buildErrors(err) : [];
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('b', null, err instanceof ApiError ? `${err.code} (${err.status})` : 'Error'),
    ' ',
    details.length > 0 ? null : errorText(err),
    details.length > 0 ? h('ul', null, details.map((d) => h('li', null, h('code', null, d)))) : null,
  );
}

/** esbuild's messages from a BUILD_FAILED deploy, as `file:line:col text`. */
function buildErrors(err: ApiError): string[] {
  const list = err.details?.['errors'];
  if (!Array.isArray(list)) return [];
  return list.map((e: { text?: string; file?: string; line?: number; column?: number }) =>
    `${e.file ?? ''}${e.line !== undefined ? `:${e.line}:${e.column ?? 0}` : ''} ${e.text ?? ''}`.trim(),
  );
}

/**
 * Calls `fn` now and then every `intervalMs` after the previous call settled
 * (never overlapping), skipping ticks while the tab is hidden. Returns a stop
 * function.
 */
export function poll(fn: () => Promise<void>, intervalMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async (): Promise<void> => {
    if (stopped) return;
    if (!document.hidden) await fn().catch(() => undefined);
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export function pageHeader(title: string, ...actions: Child[]): HTMLElement {
  return h('header', { class: 'page-header' }, h('h1', null, title), h('div', { class: 'actions' }, ...actions));
}
