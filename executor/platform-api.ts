import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { AuthError, BriskError, NotFoundError, PayloadTooLargeError, PlatformError, ThrottledError, ValidationError, type ErrorCode } from '../core/errors.js';
import { assertJsonDepth } from '../core/json-depth.js';
import type { Logger } from '../core/logger.js';
import type { InitRequest, RunRequest } from '../runtime/protocol.js';
import type { ObjectService } from '../storage/object-service.js';
import { stateKey, type KeyValueStore } from '../storage/types.js';
import type { CreateOptions, ExecutorBackend, Instance, InstanceSpec, PlatformFaultReport, RunAnswer } from './types.js';

/**
 * The platform API: how function code reaches `context.state` and
 * `context.objects` without ever holding the platform's credentials.
 *
 * One small HTTP server per executor, on a unix socket in a directory of its
 * own. Child processes get the socket path in `BRISK_PLATFORM_SOCKET`; Docker
 * containers (which have no network by default) get the directory bind-mounted
 * read-only. Each /init carries a random token the executor maps to the
 * function's namespace; the namespace of every call comes from that token
 * only, never from the request. A token lives as long as the instance it was
 * loaded into ({@link PlatformApi.track} revokes it when the instance is
 * destroyed); a token issued but never loaded expires after a few minutes.
 *
 * Routes (all need `Authorization: Bearer <token>`):
 * - `GET|PUT|DELETE /state/{key}` and `POST /state/{key}/incr` — `{key}` is one
 *   URL-encoded path segment. PUT takes `{ value, ttlSeconds? }`, incr `{ by? }`.
 * - `GET|PUT|DELETE /objects/{bucket}/{key…}` — raw bytes in and out.
 * - `GET /objects/{bucket}?prefix=` — `{ keys }`.
 * Errors answer `{ error: { code, message, details? } }` like the gateway.
 *
 * Connections are bounded, because every instance shares the socket and each
 * connection costs the executor a file descriptor. One connection serves one
 * request (`Connection: close`), so an open connection is either waiting to
 * show its token or serving a call:
 * - a connection must send a request with a valid token within
 *   `authTimeoutMs` of connecting, or it is closed;
 * - at most `maxConnectionsPerToken` are open per token (per loaded
 *   instance); past that a call gets 429 `PLATFORM_CONNECTION_LIMIT`;
 * - at most `maxConnections` are open in all: a new connection past it
 *   closes the oldest one that has not shown a token yet (a real caller
 *   sends its request at once, so only idle connections ever go), and is
 *   refused itself when every open connection is serving a call;
 * - a connection silent for `idleTimeoutMs` is closed, and revoking a token
 *   (its instance was destroyed) closes every connection that showed it.
 * What the API failed (5xx answers per token, refused connections, accept
 * errors) is remembered briefly, so the executor can tell a function that
 * really lost the platform API from one that only says so
 * ({@link PlatformApi.platformFaultSince}).
 */

/** What a token grants: the function it was issued to, in its namespace. */
export interface TokenGrant {
  namespace: string;
  function: string;
}

export interface PlatformApiOptions {
  /** Unix socket to listen on; its directory is created (mode 0755) and owned by this server. */
  socketPath: string;
  kv: KeyValueStore;
  objects: ObjectService;
  logger?: Logger;
  /** A token issued for an /init that never happened expires after this long. Default 5 min. */
  unboundTokenTtlMs?: number;
  /** Largest state value (its JSON text), in bytes. Default 256 KiB. */
  maxStateValueBytes?: number;
  /** Connections open at once, all instances together. Default {@link DEFAULT_MAX_CONNECTIONS}. */
  maxConnections?: number;
  /** Connections one token (one loaded instance) holds at once. Default {@link DEFAULT_MAX_CONNECTIONS_PER_TOKEN}. */
  maxConnectionsPerToken?: number;
  /** How soon a new connection must send a request with a valid token. Default 2 s. */
  authTimeoutMs?: number;
  /** A connection silent this long is closed. Default 30 s. */
  idleTimeoutMs?: number;
}

/** Connections open at once (BRISK_PLATFORM_API_MAX_CONNECTIONS). */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/**
 * Per token: well above what the runtime's own client ever opens (it queues
 * past 16 calls in flight, see runtime/context-api.ts), so only code that
 * bypasses it meets this limit.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_TOKEN = 64;

/** Longest state key, in characters. */
export const MAX_STATE_KEY_LENGTH = 256;
/** Default cap on a state value's JSON text (KV stores hold small values; objects are for blobs). */
export const DEFAULT_MAX_STATE_VALUE_BYTES = 256 * 1024;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** Body bytes allowed beyond a limit for the JSON wrapper around a state value. */
const JSON_ENVELOPE_BYTES = 4096;
/** How often expired unbound tokens are swept. */
const SWEEP_INTERVAL_MS = 60_000;

/** C0 controls and DEL: never valid in a key. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's purpose.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Where an executor's platform socket goes by default:
 * `<tmpdir>/brisk-platform/<executorId>/platform.sock`, or a hash of the id when
 * that path would not fit in a unix socket address.
 */
export function defaultPlatformSocketPath(executorId: string): string {
  const plain = path.join(tmpdir(), 'brisk-platform', executorId, 'platform.sock');
  if (Buffer.byteLength(plain) <= MAX_SOCKET_PATH) return plain;
  const h = createHash('sha256').update(executorId).digest('hex').slice(0, 12);
  return path.join(tmpdir(), 'brisk-platform', h, 'platform.sock');
}

/** Throws ValidationError `INVALID_STATE_KEY` unless `key` is 1–256 characters without control characters. */
export function assertStateKey(key: string): void {
  if (key.length === 0 || key.length > MAX_STATE_KEY_LENGTH || CONTROL_CHARS.test(key)) {
    throw new ValidationError('INVALID_STATE_KEY', `state key must be 1-${MAX_STATE_KEY_LENGTH} characters without control characters`, {
      key: key.slice(0, 80),
    });
  }
}

interface TokenEntry {
  grant: TokenGrant;
  /** Epoch ms after which an unbound token is gone; undefined once loaded into an instance. */
  expiresAt?: number;
  /** Connections that showed this token and are still open. */
  sockets: Set<Socket>;
  /** The last call of this token the API failed (answered 5xx or cut off). */
  fault?: { at: number; code: string; message: string };
}

/** Why a connection did not get served, kept for {@link PlatformApi.platformFaultSince}. */
interface GlobalFaults {
  /** accept() failed (EMFILE …): the executor itself is out of resources. */
  acceptErrorAt: number;
  acceptError: string;
  /** A connection was refused because every slot served a call. */
  overloadedAt: number;
  /** The API stopped (the executor is shutting down). */
  closedAt: number;
}

type ApiStatus = 'created' | 'starting' | 'ready' | 'closed';

/** The per-executor platform API server and its token table. */
export class PlatformApi {
  readonly socketPath: string;
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly logger: Logger;
  private readonly unboundTtlMs: number;
  private readonly maxStateValueBytes: number;
  private readonly maxConnections: number;
  private readonly maxPerToken: number;
  private readonly authTimeoutMs: number;
  private readonly server: http.Server;
  /** Every open connection. */
  private readonly connections = new Set<Socket>();
  /** Connections that have not shown a valid token yet, with when they connected; oldest first. */
  private readonly pending = new Map<Socket, number>();
  private readonly faults: GlobalFaults = { acceptErrorAt: 0, acceptError: '', overloadedAt: 0, closedAt: 0 };
  private lastAcceptLog = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private pendingTimer: NodeJS.Timeout | undefined;
  private statusValue: ApiStatus = 'created';
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(private readonly opts: PlatformApiOptions) {
    this.socketPath = path.resolve(opts.socketPath);
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH) {
      throw new PlatformError('CONFIG_INVALID', `platform socket path '${this.socketPath}' is too long for a unix socket`, { retryable: false, status: 500 });
    }
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.unboundTtlMs = opts.unboundTokenTtlMs ?? 5 * 60_000;
    this.maxStateValueBytes = opts.maxStateValueBytes ?? DEFAULT_MAX_STATE_VALUE_BYTES;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxPerToken = opts.maxConnectionsPerToken ?? DEFAULT_MAX_CONNECTIONS_PER_TOKEN;
    this.authTimeoutMs = opts.authTimeoutMs ?? 2000;
    this.server = http.createServer((req, res) => this.serve(req, res));
    // No 'timeout' listener: Node then destroys a socket silent this long.
    this.server.timeout = opts.idleTimeoutMs ?? 30_000;
    this.server.on('connection', (socket: Socket) => this.admit(socket));
  }

  get status(): ApiStatus {
    return this.statusValue;
  }

  /** The directory holding the socket (what the Docker backend bind-mounts). */
  get socketDir(): string {
    return path.dirname(this.socketPath);
  }

  /** Tokens currently valid, for tests and stats. */
  get tokenCount(): number {
    return this.tokens.size;
  }

  /** Connections open now, for tests and stats. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Create the socket directory and listen. Safe to call twice. */
  start(): Promise<void> {
    this.startPromise ??= this.doStart();
    return this.startPromise;
  }

  waitUntilReady(): Promise<void> {
    return this.start();
  }

  private async doStart(): Promise<void> {
    this.statusValue = 'starting';
    const dir = this.socketDir;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    // 0755 whatever the umask: a container's uid 1000 must traverse it to reach the socket.
    await chmod(dir, 0o755);
    // A socket left by a previous run of this executor would make listen() fail.
    await rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Callers run as other uids (containers); the token, not the file mode, is the guard.
    // Once listening, an error is an accept error (EMFILE): without a listener it would be thrown, and end the executor.
    this.server.on('error', (err: NodeJS.ErrnoException) => this.onAcceptError(err));
    await chmod(this.socketPath, 0o666);
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    // A few sweeps per timeout: a silent connection goes between 1 and 1.25 timeouts after it came.
    this.pendingTimer = setInterval(() => this.closeSilent(), Math.max(10, Math.floor(this.authTimeoutMs / 4)));
    this.pendingTimer.unref();
    this.statusValue = 'ready';
    this.logger.info({ socket: this.socketPath }, 'platform API listening');
  }

  /** Stop listening, drop every token, remove the socket. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      clearInterval(this.sweepTimer);
      clearInterval(this.pendingTimer);
      this.faults.closedAt = Date.now();
      this.tokens.clear();
      if (this.server.listening) {
        const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
        this.server.closeAllConnections();
        await closed;
      }
      await rm(this.socketDir, { recursive: true, force: true });
      this.statusValue = 'closed';
    })();
    return this.closePromise;
  }

  /**
   * A fresh token for one load of `grant.function` (what `prepareInit` puts in
   * /init's `platform`). It expires unless an instance is initialised with it
   * (see {@link track}).
   */
  issueToken(grant: TokenGrant): string {
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, { grant: { ...grant }, expiresAt: Date.now() + this.unboundTtlMs, sockets: new Set() });
    return token;
  }

  /** The token was loaded into an instance: it now lives until {@link revokeToken}. */
  bindToken(token: string): void {
    const entry = this.tokens.get(token);
    if (entry !== undefined) delete entry.expiresAt;
  }

  /** The token's load ended: it is refused from now on, and its open connections are closed. */
  revokeToken(token: string): void {
    const entry = this.tokens.get(token);
    if (entry === undefined) return;
    this.tokens.delete(token);
    for (const socket of entry.sockets) socket.destroy();
  }

  /** Who a token belongs to, or undefined if it is unknown, revoked or expired. */
  grantOf(token: string): TokenGrant | undefined {
    return this.entryOf(token)?.grant;
  }

  private entryOf(token: string): TokenEntry | undefined {
    const entry = this.tokens.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.revokeToken(token);
      return undefined;
    }
    return entry;
  }

  /**
   * What the API failed since `sinceMs` that could have failed this token's
   * calls: a call it answered with 5xx (a store outage), connections it
   * could not accept (out of file descriptors) or had to refuse (every slot
   * busy), or its own shutdown. Undefined when nothing: then a function that
   * says the platform failed it is not believed. A connection closed for
   * not showing a token in time, or refused over this token's own
   * connection limit, is never the platform's fault.
   */
  platformFaultSince(token: string, sinceMs: number): PlatformFaultReport | undefined {
    const fault = this.tokens.get(token)?.fault;
    if (fault !== undefined && fault.at >= sinceMs) {
      return { code: 'PLATFORM_API_UNAVAILABLE', message: `the platform API failed a call of this function: ${fault.code}: ${fault.message}`, systemError: false };
    }
    const f = this.faults;
    if (f.acceptErrorAt >= sinceMs) {
      return { code: 'PLATFORM_API_UNAVAILABLE', message: `the executor's platform API could not accept connections (${f.acceptError})`, systemError: true };
    }
    if (f.overloadedAt >= sinceMs) {
      return { code: 'PLATFORM_API_OVERLOADED', message: `the executor's platform API refused connections: all ${this.maxConnections} were serving calls`, systemError: false };
    }
    if (f.closedAt !== 0 && f.closedAt >= sinceMs) {
      return { code: 'PLATFORM_API_UNAVAILABLE', message: 'the executor was shutting down its platform API', systemError: false };
    }
    return undefined;
  }

  /**
   * Wrap a backend so the tokens its instances are initialised with are bound
   * on /init and revoked when the instance is destroyed (crash, eviction, idle
   * expiry, drain). Hand the wrapped backend to the warm pool.
   */
  track(backend: ExecutorBackend): ExecutorBackend {
    return new TokenTrackingBackend(backend, this);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, entry] of this.tokens) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.revokeToken(token);
    }
  }

  // ---------------------------------------------------------------------------
  // Connections

  /** A new connection: counted, and on probation until it shows a valid token. */
  private admit(socket: Socket): void {
    if (this.connections.size >= this.maxConnections) {
      // The oldest connection still without a token makes room; none: every slot serves a call.
      const idle = this.pending.keys().next();
      if (idle.done === true) {
        this.faults.overloadedAt = Date.now();
        socket.destroy();
        return;
      }
      this.drop(idle.value);
    }
    this.connections.add(socket);
    this.pending.set(socket, Date.now());
    socket.once('close', () => this.drop(socket));
  }

  /** Forget a connection (and close it, if it is not closed yet). */
  private drop(socket: Socket): void {
    this.connections.delete(socket);
    this.pending.delete(socket);
    socket.destroy();
  }

  /** Close connections that did not show a valid token in time (oldest first, so stop at the first young one). */
  private closeSilent(): void {
    const cutoff = Date.now() - this.authTimeoutMs;
    for (const [socket, since] of this.pending) {
      if (since > cutoff) break;
      this.drop(socket);
    }
  }

  private onAcceptError(err: NodeJS.ErrnoException): void {
    const now = Date.now();
    this.faults.acceptErrorAt = now;
    this.faults.acceptError = err.code ?? err.message;
    if (now - this.lastAcceptLog >= 1000) {
      this.lastAcceptLog = now;
      this.logger.error({ err }, 'platform API cannot accept connections');
    }
  }

  /**
   * The connection showed a valid token: off probation, counted against the
   * token. False when the token already holds its limit of connections.
   */
  private attach(socket: Socket, entry: TokenEntry): boolean {
    if (entry.sockets.has(socket)) return true;
    if (entry.sockets.size >= this.maxPerToken || !this.connections.has(socket)) return false;
    this.pending.delete(socket);
    entry.sockets.add(socket);
    socket.once('close', () => entry.sockets.delete(socket));
    return true;
  }

  // ---------------------------------------------------------------------------
  // Requests

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    // One request per connection: an open connection is always new or busy, never idle.
    res.shouldKeepAlive = false;
    let entry: TokenEntry | undefined;
    try {
      entry = this.authenticate(req);
      if (!this.attach(req.socket, entry)) {
        throw new ThrottledError('PLATFORM_CONNECTION_LIMIT', `this function holds ${this.maxPerToken} platform API connections already`, 1);
      }
    } catch (err) {
      this.sendError(res, err);
      return;
    }
    const served = entry;
    this.handle(served.grant, req, res).catch((err: unknown) => this.sendError(res, err, served));
  }

  private async handle(grant: TokenGrant, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Not `new URL()`: it would resolve '..' (even '%2e%2e') segments before validation could refuse them.
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q === -1 ? raw : raw.slice(0, q);
    const searchParams = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    const segments = decodeSegments(pathname);
    const method = req.method ?? 'GET';
    const [area, first, ...rest] = segments;
    if (area === 'state' && first !== undefined) {
      if (rest.length === 0) return await this.handleState(method, grant, first, req, res);
      if (rest.length === 1 && rest[0] === 'incr' && method === 'POST') return await this.handleIncr(grant, first, req, res);
    } else if (area === 'objects' && first !== undefined) {
      if (rest.length === 0 && method === 'GET') {
        const keys = await this.opts.objects.list(grant.namespace, first, searchParams.get('prefix') ?? '');
        return sendJson(res, 200, { keys });
      }
      if (rest.length > 0) return await this.handleObject(method, grant, first, rest.join('/'), req, res);
    }
    throw new BriskError('ROUTE_NOT_FOUND', `no route ${method} ${pathname}`, { status: 404 });
  }

  private authenticate(req: http.IncomingMessage): TokenEntry {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const entry = m?.[1] !== undefined ? this.entryOf(m[1]) : undefined;
    if (entry === undefined) throw new AuthError('UNAUTHORIZED', 'missing, unknown or expired platform token');
    return entry;
  }

  private async handleState(method: string, grant: TokenGrant, key: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    assertStateKey(key);
    const k = stateKey(grant.namespace, key);
    const kv = this.opts.kv;
    if (method === 'GET') {
      const text = await kv.get(k);
      if (text === undefined) throw new NotFoundError('state', key);
      // Stored as JSON text already: splice it in rather than parse and re-serialise.
      return sendRawJson(res, 200, `{"value":${text}}`);
    }
    if (method === 'PUT') {
      const body = parseJsonObject(await readBody(req, this.maxStateValueBytes + JSON_ENVELOPE_BYTES, 'STATE_VALUE_TOO_LARGE'), 'INVALID_STATE_VALUE');
      if (!('value' in body) || body['value'] === undefined) throw new ValidationError('INVALID_STATE_VALUE', 'body must be { value, ttlSeconds? }');
      // Serialised just below (recursively): deep JSON would overflow the stack.
      assertJsonDepth(body['value'], 'the state value');
      const text = JSON.stringify(body['value']);
      if (Buffer.byteLength(text) > this.maxStateValueBytes) throw new PayloadTooLargeError(this.maxStateValueBytes, 'STATE_VALUE_TOO_LARGE');
      const ttl = body['ttlSeconds'];
      if (ttl !== undefined && !(typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0)) {
        throw new ValidationError('INVALID_TTL', 'ttlSeconds must be a positive number');
      }
      await kv.set(k, text, ttl !== undefined ? { ttlMs: Math.ceil(ttl * 1000) } : {});
      return sendJson(res, 200, { ok: true });
    }
    if (method === 'DELETE') {
      return sendJson(res, 200, { deleted: await kv.delete(k) });
    }
    throw new BriskError('METHOD_NOT_ALLOWED', `${method} is not allowed on /state/{key}`, { status: 405 });
  }

  private async handleIncr(grant: TokenGrant, key: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    assertStateKey(key);
    const text = await readBody(req, JSON_ENVELOPE_BYTES);
    const body = text.length === 0 ? {} : parseJsonObject(text, 'INVALID_INCREMENT');
    const by = body['by'] ?? 1;
    if (typeof by !== 'number' || !Number.isSafeInteger(by)) throw new ValidationError('INVALID_INCREMENT', 'by must be an integer');
    const k = stateKey(grant.namespace, key);
    // Not atomic with the incr below, and need not be: it only turns "not a number"
    // into the same 400 on every store (Redis would refuse, the file store would
    // silently restart from 0). The increment itself is atomic.
    const current = await this.opts.kv.get(k);
    if (current !== undefined && !/^-?\d+$/.test(current)) {
      throw new ValidationError('STATE_NOT_INTEGER', `state '${key}' holds a value that is not an integer`, { key });
    }
    return sendJson(res, 200, { value: await this.opts.kv.incr(k, by) });
  }

  private async handleObject(
    method: string,
    grant: TokenGrant,
    bucket: string,
    key: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const objects = this.opts.objects;
    if (method === 'GET') {
      const obj = await objects.get(grant.namespace, bucket, key);
      if (obj === undefined) throw new NotFoundError('object', `${bucket}/${key}`);
      res.writeHead(200, { 'content-type': obj.contentType ?? 'application/octet-stream', 'content-length': obj.data.length });
      res.end(obj.data);
      return;
    }
    if (method === 'PUT') {
      const data = await readBuffer(req, objects.maxObjectBytes, 'OBJECT_TOO_LARGE');
      const contentType = req.headers['content-type'];
      const { size } = await objects.put(grant.namespace, bucket, key, data, contentType !== undefined ? { contentType } : {});
      return sendJson(res, 200, { bucket, key, size });
    }
    if (method === 'DELETE') {
      return sendJson(res, 200, { deleted: await objects.delete(grant.namespace, bucket, key) });
    }
    throw new BriskError('METHOD_NOT_ALLOWED', `${method} is not allowed on /objects/{bucket}/{key}`, { status: 405 });
  }

  /** Answer an error; a 5xx (or a cut-off answer) is remembered against the token as the platform's fault. */
  private sendError(res: http.ServerResponse, err: unknown, entry?: TokenEntry): void {
    const e = err instanceof BriskError ? err : new BriskError('INTERNAL', 'internal error', { status: 500 });
    if (e.status >= 500 || res.headersSent) {
      this.logger.error({ err }, 'platform API request failed');
      if (entry !== undefined) entry.fault = { at: Date.now(), code: e.code, message: e.message };
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, e.status, { error: { code: e.code, message: e.message, ...(e.data ? { details: e.data } : {}) } });
  }
}

// ---------------------------------------------------------------------------
// Token tracking

/** A backend whose instances bind their platform token on /init and revoke it on destroy. */
class TokenTrackingBackend implements ExecutorBackend {
  constructor(private readonly inner: ExecutorBackend, private readonly api: PlatformApi) {}

  get name(): ExecutorBackend['name'] {
    return this.inner.name;
  }

  get resizable(): boolean {
    return this.inner.resizable === true;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  async createInstance(spec: InstanceSpec, opts?: CreateOptions): Promise<Instance> {
    return new TokenTrackingInstance(await this.inner.createInstance(spec, opts), this.api);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

class TokenTrackingInstance implements Instance {
  private token: string | undefined;
  readonly pause?: () => Promise<void>;
  readonly resume?: () => Promise<void>;
  readonly resize?: (memoryMb: number) => Promise<void>;

  constructor(private readonly inner: Instance, private readonly api: PlatformApi) {
    // Only when the backend has them: the warm pool checks for their presence.
    if (inner.pause) this.pause = () => inner.pause!();
    if (inner.resume) this.resume = () => inner.resume!();
    if (inner.resize) this.resize = (memoryMb) => inner.resize!(memoryMb);
  }

  get id(): string {
    return this.inner.id;
  }

  get spec(): InstanceSpec {
    return this.inner.spec;
  }

  preparePackage(fill: (hostDir: string) => Promise<void>): Promise<string> {
    return this.inner.preparePackage(fill);
  }

  async init(req: InitRequest): Promise<void> {
    if (req.platform !== undefined) {
      this.token = req.platform.token;
      this.api.bindToken(this.token);
    }
    await this.inner.init(req);
  }

  run(req: RunRequest, timeoutMs: number): Promise<RunAnswer> {
    return this.inner.run(req, timeoutMs);
  }

  platformFaultSince(sinceMs: number): PlatformFaultReport | undefined {
    return this.token !== undefined ? this.api.platformFaultSince(this.token, sinceMs) : undefined;
  }

  destroy(): Promise<void> {
    if (this.token !== undefined) this.api.revokeToken(this.token);
    return this.inner.destroy();
  }
}

// ---------------------------------------------------------------------------
// HTTP helpers

/** Path segments, each URL-decoded (a state key may contain '/', sent as %2F). */
function decodeSegments(pathname: string): string[] {
  const parts = pathname.split('/').slice(1);
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    throw new ValidationError('INVALID_PATH', 'malformed percent-encoding in the path');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  sendRawJson(res, status, JSON.stringify(body));
}

function sendRawJson(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The request body, refused with 413 past `limit` bytes. The rest of a refused
 * body is read and dropped before the answer goes out: a client still writing
 * would otherwise see a reset connection instead of the 413. (Callers are
 * functions on this executor, bounded by their own timeout.)
 */
function readBuffer(req: http.IncomingMessage, limit: number, code: ErrorCode = 'PAYLOAD_TOO_LARGE'): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) reject(new PayloadTooLargeError(limit, code));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

async function readBody(req: http.IncomingMessage, limit: number, code?: ErrorCode): Promise<string> {
  return (await readBuffer(req, limit, code)).toString('utf8');
}

function parseJsonObject(text: string, code: ErrorCode): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ValidationError(code, 'body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValidationError(code, 'body must be a JSON object');
  return v as Record<string, unknown>;
}
