/**
 * The console's client for the gateway's /v1 API: adds the key, turns error
 * bodies (`{ error: { code, message, details } }`) into {@link ApiError}s, and
 * reports a 401 so the console can go back to the login screen.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The gateway does not have this route (an older gateway, or a feature not enabled). */
  get notAvailable(): boolean {
    return this.status === 404 && this.code === 'ROUTE_NOT_FOUND';
  }
}

export interface RawResponse {
  status: number;
  ok: boolean;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Wall time of the request in ms, as the browser saw it. */
  elapsedMs: number;
}

export interface RequestOptions {
  body?: BodyInit;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
}

const KEY_STORAGE = 'brisk.console.key';

/** The key lives in sessionStorage: gone when the tab closes, never in a cookie. */
export const keyStore = {
  get(): string | null {
    return sessionStorage.getItem(KEY_STORAGE);
  },
  set(key: string): void {
    sessionStorage.setItem(KEY_STORAGE, key);
  },
  clear(): void {
    sessionStorage.removeItem(KEY_STORAGE);
  },
};

export class Api {
  constructor(
    private readonly key: () => string | null,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  /** Any request; never throws for an HTTP status (only for a network failure). */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<RawResponse> {
    const headers: Record<string, string> = {};
    const key = this.key();
    if (key) headers['authorization'] = `Bearer ${key}`;
    if (opts.contentType) headers['content-type'] = opts.contentType;
    const started = performance.now();
    const res = await fetch(withQuery(path, opts.query), { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
    const text = await res.text();
    const elapsedMs = performance.now() - started;
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.status === 401) this.onUnauthorized();
    return { status: res.status, ok: res.ok, headers: res.headers, text, json, elapsedMs };
  }

  /** A request whose non-2xx answer is thrown as an {@link ApiError}. */
  async call<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    if (!res.ok) throw toApiError(res);
    return res.json as T;
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.call<T>('GET', path, query ? { query } : {});
  }

  /** JSON body helper for PUT/POST. */
  send<T>(method: 'PUT' | 'POST', path: string, body: unknown): Promise<T> {
    return this.call<T>(method, path, { body: JSON.stringify(body), contentType: 'application/json' });
  }
}

export function toApiError(res: RawResponse): ApiError {
  const err = (res.json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
  return new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? (res.text.slice(0, 200) || `HTTP ${res.status}`), err?.details);
}

export function withQuery(path: string, query: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Encode a path segment (function, trigger and dead-letter names). */
export const seg = encodeURIComponent;
