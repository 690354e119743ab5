/**
 * `context.state` and `context.objects` inside a function: a tiny client of
 * the executor's platform API (`executor/platform-api.ts`) over the unix
 * socket named by `BRISK_PLATFORM_SOCKET`. Every call carries the per-load
 * token from /init; the executor derives the namespace from it, so function
 * code never holds the platform's Redis or S3 credentials.
 *
 * Bundled into the runtime server, so it uses Node builtins only.
 */
import http from 'node:http';

/**
 * A failed platform call. `code` is the platform's stable error code
 * (`INVALID_KEY`, `UNAUTHORIZED`, …). `status` 5xx (503
 * `PLATFORM_UNAVAILABLE` when the API could not be reached at all) means the
 * platform failed the call, not the function.
 */
export class PlatformApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'PlatformApiError';
  }
}

/** Key-value state scoped to the function's namespace. Values are JSON-serialisable. */
export interface StateApi {
  /** The value, or undefined when the key does not exist (or expired). */
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, opts?: { ttlSeconds?: number }): Promise<void>;
  /** Returns whether the key existed. */
  delete(key: string): Promise<boolean>;
  /** Atomically add `by` (default 1) to an integer (missing = 0) and return the new value. */
  incr(key: string, by?: number): Promise<number>;
}

/** Objects in the namespace's buckets. */
export interface ObjectsApi {
  /** The bytes, or undefined when the object does not exist. */
  get(bucket: string, key: string): Promise<Buffer | undefined>;
  put(bucket: string, key: string, data: string | Buffer | Uint8Array, opts?: { contentType?: string }): Promise<void>;
  /** Returns whether the object existed. */
  delete(bucket: string, key: string): Promise<boolean>;
  /** Keys of the bucket, sorted, optionally only those starting with `prefix`. */
  list(bucket: string, prefix?: string): Promise<string[]>;
}

export interface PlatformContext {
  state: StateApi;
  objects: ObjectsApi;
}

interface Reply {
  status: number;
  body: Buffer;
}

/**
 * Calls in flight per instance; more wait their turn. The platform API
 * allows 64 connections per token (executor/platform-api.ts), so a function
 * that fires hundreds of calls at once is queued here instead of refused.
 */
const MAX_CALLS_IN_FLIGHT = 16;
/**
 * Attempts of a call whose connection failed before any answer: the socket
 * may refuse for a moment (full accept queue under load). Never after the
 * request may have been served, unless it is idempotent.
 */
const MAX_ATTEMPTS = 3;
const RETRY_DELAYS_MS = [10, 50];

/** Told of every call the platform failed (5xx or unreachable), so the runtime can report it. */
export type PlatformFaultListener = (err: PlatformApiError) => void;

/** A counting semaphore: at most `limit` holders, the rest wait in order. */
class CallSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next waiter, so `active` stays counted.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }
}

/**
 * Build the client. With no socket (`socketPath` undefined) every call fails
 * with `PLATFORM_UNAVAILABLE`, which says what is wrong instead of a bare
 * "cannot read property of undefined".
 */
export function createPlatformContext(socketPath: string | undefined, token: string, onPlatformFault?: PlatformFaultListener): PlatformContext {
  const slots = new CallSlots(MAX_CALLS_IN_FLIGHT);
  const call = (method: string, urlPath: string, body?: Buffer, contentType?: string): Promise<Reply> =>
    slots.run(() => requestWithRetry(socketPath, token, method, urlPath, body, contentType)).catch((err: unknown) => {
      if (err instanceof PlatformApiError && err.status >= 500) onPlatformFault?.(err);
      throw err;
    });
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
  const parse = (r: Reply): Record<string, unknown> => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

  const state: StateApi = {
    async get<T>(key: string): Promise<T | undefined> {
      const r = await call('GET', statePath(key)).catch(notFoundAs('STATE_NOT_FOUND'));
      return r === undefined ? undefined : (parse(r)['value'] as T);
    },
    async set(key, value, opts = {}) {
      if (value === undefined) throw new PlatformApiError('INVALID_STATE_VALUE', 'state values must be JSON-serialisable (not undefined)', 400);
      await call('PUT', statePath(key), json({ value, ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}) }), 'application/json');
    },
    async delete(key) {
      return parse(await call('DELETE', statePath(key)))['deleted'] === true;
    },
    async incr(key, by = 1) {
      return Number(parse(await call('POST', `${statePath(key)}/incr`, json({ by }), 'application/json'))['value']);
    },
  };

  const objects: ObjectsApi = {
    async get(bucket, key) {
      const r = await call('GET', objectPath(bucket, key)).catch(notFoundAs('OBJECT_NOT_FOUND'));
      return r?.body;
    },
    async put(bucket, key, data, opts = {}) {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const type = opts.contentType ?? (typeof data === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
      await call('PUT', objectPath(bucket, key), buf, type);
    },
    async delete(bucket, key) {
      return parse(await call('DELETE', objectPath(bucket, key)))['deleted'] === true;
    },
    async list(bucket, prefix = '') {
      const q = prefix === '' ? '' : `?prefix=${encodeURIComponent(prefix)}`;
      return parse(await call('GET', `/objects/${encodeURIComponent(bucket)}${q}`))['keys'] as string[];
    },
  };

  return { state, objects };
}

/** A state key is one path segment: '/' inside it is encoded. */
function statePath(key: string): string {
  return `/state/${encodeURIComponent(String(key))}`;
}

/** An object key keeps its '/' separators; each segment is encoded. */
function objectPath(bucket: string, key: string): string {
  return `/objects/${encodeURIComponent(String(bucket))}/${String(key).split('/').map(encodeURIComponent).join('/')}`;
}

/** Turn the one "not found" error into undefined; rethrow everything else. */
function notFoundAs(code: string): (err: unknown) => undefined {
  return (err) => {
    if (err instanceof PlatformApiError && err.code === code) return undefined;
    throw err;
  };
}

/** A connection that failed before any answer; `sent`: the request may have reached the server. */
class Unreachable extends Error {
  constructor(message: string, readonly sent: boolean) {
    super(message);
  }
}

async function requestWithRetry(socketPath: string | undefined, token: string, method: string, urlPath: string, body?: Buffer, contentType?: string): Promise<Reply> {
  if (socketPath === undefined) {
    throw new PlatformApiError('PLATFORM_UNAVAILABLE', 'this instance has no platform socket (BRISK_PLATFORM_SOCKET is not set)', 503);
  }
  // An increment must not be applied twice; reads, writes of a whole value and deletes may.
  const idempotent = method !== 'POST';
  for (let attempt = 1; ; attempt++) {
    try {
      return await request(socketPath, token, method, urlPath, body, contentType);
    } catch (err) {
      if (!(err instanceof Unreachable)) throw err;
      if (attempt >= MAX_ATTEMPTS || (err.sent && !idempotent)) {
        throw new PlatformApiError('PLATFORM_UNAVAILABLE', `platform API unreachable: ${err.message}`, 503);
      }
      await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt - 1] ?? 50));
    }
  }
}

function request(socketPath: string, token: string, method: string, urlPath: string, body?: Buffer, contentType?: string): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host: 'platform', authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers['content-length'] = body.length;
      if (contentType !== undefined) headers['content-type'] = contentType;
    }
    // No keep-alive: a unix-socket connect costs microseconds, and an idle pooled
    // connection could be closed by the server just as a call reuses it.
    const req = http.request({ socketPath, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(new Unreachable(err.message, true)));
      res.on('end', () => {
        const reply = { status: res.statusCode ?? 0, body: Buffer.concat(chunks) };
        if (reply.status >= 200 && reply.status < 300) resolve(reply);
        else reject(toError(reply));
      });
    });
    let connected = false;
    req.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    req.on('error', (err) => reject(new Unreachable(err.message, connected)));
    req.end(body);
  });
}

function toError(reply: Reply): PlatformApiError {
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const e = parsed.error;
    if (e !== undefined && typeof e.code === 'string') {
      const details = typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : undefined;
      return new PlatformApiError(e.code, typeof e.message === 'string' ? e.message : e.code, reply.status, details);
    }
  } catch {
    // Fall through to a generic error below.
  }
  return new PlatformApiError('PLATFORM_ERROR', `platform API answered ${reply.status}`, reply.status);
}
