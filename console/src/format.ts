import { h } from './dom.js';

export function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0 ms';
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function ago(at: string | number | undefined, now = Date.now()): string {
  if (at === undefined) return '—';
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function time(at: string | undefined): string {
  if (!at) return '—';
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? at : d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function pretty(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2);
}

/** A coloured pill for an activation status, executor state or HTTP status. */
export function badge(text: string | number, tone?: 'ok' | 'bad' | 'warn' | 'info' | 'muted'): HTMLElement {
  return h('span', { class: `badge ${tone ?? toneOf(String(text))}` }, String(text));
}

function toneOf(text: string): string {
  if (['success', 'healthy', 'warm', 'idle'].includes(text) || /^2\d\d$/.test(text)) return 'ok';
  if (['error', 'timeout', 'oom', 'platform_error', 'offline', 'unhealthy'].includes(text) || /^[45]\d\d$/.test(text)) return 'bad';
  if (['cold', 'draining', 'queued', 'running', 'busy'].includes(text)) return 'warn';
  if (text === 'pool') return 'info';
  return 'muted';
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A function error or platform error for reading: the stack when there is one
 * (it already starts with `Type: message`), else `code: message`.
 */
export function formatError(e: unknown): string {
  if (e === null || typeof e !== 'object') return String(e ?? '');
  const o = e as Record<string, unknown>;
  const stack = Array.isArray(o['stack']) ? o['stack'].join('\n') : o['stack'];
  if (typeof stack === 'string' && stack.length > 0) return stack;
  const head = [o['errorType'] ?? o['code'], o['errorMessage'] ?? o['message']].filter((x) => typeof x === 'string' && x.length > 0).join(': ');
  return head || JSON.stringify(e, null, 2);
}

/** A function's runtime as the console shows it: `Node.js`, `Python`, or `image name:tag`. */
export function runtimeLabel(f: { runtime?: string; image?: string }): string {
  if (f.runtime === 'image') return `image ${f.image ?? ''}`;
  return f.runtime === 'python' ? 'Python' : 'Node.js';
}
