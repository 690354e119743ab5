import './style.css';
import { Api, keyStore } from './api.js';
import { BASE, type Page, type PageContext } from './app.js';
import { h, replace } from './dom.js';
import { activationsPage } from './pages/activations.js';
import { deadLettersPage } from './pages/dead-letters.js';
import { executorsPage } from './pages/executors.js';
import { functionDetailPage } from './pages/function-detail.js';
import { functionsPage } from './pages/functions.js';
import { loginPage } from './pages/login.js';
import { metricsPage } from './pages/metrics.js';
import { triggersPage } from './pages/triggers.js';

type PageFactory = (ctx: PageContext) => Page;

/** Console paths (after /console) and their pages; `:x` is a parameter. */
const ROUTES: [pattern: string, page: PageFactory, nav: string][] = [
  ['/functions', functionsPage, 'functions'],
  ['/functions/:name', functionDetailPage, 'functions'],
  ['/activations', activationsPage, 'activations'],
  ['/activations/:id', activationsPage, 'activations'],
  ['/metrics', metricsPage, 'metrics'],
  ['/executors', executorsPage, 'executors'],
  ['/triggers', triggersPage, 'triggers'],
  ['/dead-letters', deadLettersPage, 'dead-letters'],
];

const NAV: [path: string, label: string][] = [
  ['/functions', 'Functions'],
  ['/activations', 'Activations'],
  ['/metrics', 'Metrics'],
  ['/executors', 'Executors'],
  ['/triggers', 'Triggers'],
  ['/dead-letters', 'Dead letters'],
];

const root = document.getElementById('app') as HTMLElement;
let current: Page | undefined;
const api = new Api(
  () => keyStore.get(),
  () => {
    // The key was revoked or the server restarted with another one.
    keyStore.clear();
    render();
  },
);

function consolePath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return p === '' || p === '/' ? '/functions' : p.replace(/\/+$/, '');
}

function navigate(path: string): void {
  history.pushState(null, '', BASE + path);
  render();
}

function match(path: string): { page: PageFactory; nav: string; params: Record<string, string> } | undefined {
  const parts = path.split('/').filter(Boolean);
  for (const [pattern, page, nav] of ROUTES) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = want.every((w, i) => {
      const got = parts[i] ?? '';
      if (w.startsWith(':')) {
        params[w.slice(1)] = decodeURIComponent(got);
        return true;
      }
      return w === got;
    });
    if (ok) return { page, nav, params };
  }
  return undefined;
}

function render(): void {
  current?.dispose?.();
  current = undefined;
  const ctx = { api, query: new URLSearchParams(location.search), navigate, params: {} };
  if (keyStore.get() === null) {
    current = loginPage({ ...ctx, navigate: (p) => navigate(p) });
    replace(root, current.el);
    return;
  }
  const path = consolePath();
  const route = match(path);
  const main = h('main', { class: 'content' });
  replace(root, h('div', { class: 'shell' }, sidebar(route?.nav), main));
  if (!route) {
    replace(main, h('div', { class: 'notice' }, `No page at ${BASE}${path}. `, h('a', { href: `${BASE}/functions` }, 'Go to functions')));
    return;
  }
  current = route.page({ ...ctx, params: route.params });
  replace(main, current.el);
}

function sidebar(active: string | undefined): HTMLElement {
  return h(
    'nav',
    { class: 'sidebar' },
    h('div', { class: 'brand' }, h('span', { class: 'bolt' }, '⚡'), 'Brisk'),
    h(
      'ul',
      null,
      NAV.map(([path, label]) => h('li', null, h('a', { href: BASE + path, class: active === path.slice(1) ? 'active' : '' }, label))),
    ),
    h(
      'button',
      {
        class: 'ghost logout',
        onclick: () => {
          keyStore.clear();
          navigate('/functions');
        },
      },
      'Log out',
    ),
  );
}

// Links inside the console navigate without reloading the page.
document.addEventListener('click', (ev) => {
  const a = (ev.target as Element | null)?.closest?.('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  ev.preventDefault();
  history.pushState(null, '', url.pathname + url.search);
  render();
});
window.addEventListener('popstate', render);
render();
