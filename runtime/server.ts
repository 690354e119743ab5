/**
 * The runtime server: one per instance (child process or container). Loads one
 * function version on `POST /init`, runs events on `POST /run` (one at a time,
 * or up to the `concurrency` /init asked for, each with its own logs),
 * answers `GET /healthz`. The contract is `runtime/protocol.ts`.
 *
 * It is bundled by `build.mjs` into `dist/runtime/server.mjs` and must run with
 * nothing but the `node` binary (Node builtins only). Being a separate program,
 * it reads its few settings from the environment directly:
 * - `BRISK_RUNTIME_PORT` (default 8080; 0 = ephemeral, the READY line says which)
 * - `BRISK_RUNTIME_HOST` (default 0.0.0.0)
 * - `BRISK_RUNTIME_SOCKET`: listen on this unix socket (mode 0666) instead of a
 *   TCP port; the Docker backend uses it so containers need no network
 * - `BRISK_RUNTIME_CODE_DIR` (default os.tmpdir()): where the bundle is written
 *   before `import()`; Docker runs with a read-only root and a tmpfs /tmp
 *
 * A function with package files gets their directory in /init (`packageDir`,
 * read-only): it becomes the working directory, and the bundle's prelude
 * (see gateway/deploy/bundler.ts) roots `__dirname`, `import.meta.url` and
 * `require` there. Without one, the bundle's own directory plays that part.
 * - `BRISK_RUNTIME_EXIT_ON_STDIN_CLOSE=1`: exit when stdin closes, so a child
 *   process dies with its parent even when the parent is SIGKILLed
 * - `BRISK_RUNTIME_WARM_UP=1`: before saying READY, go once through what the
 *   first /init of a fresh process pays for (see warmUp); the pool's
 *   pre-starts set it, instances started for a waiting call do not. Until it
 *   is over `/healthz` answers 503 `{ state: "warming" }` and an `/init` waits
 * - `BRISK_RUNTIME_LOG_MARKERS=0`: no activation start/end markers on the real
 *   stdout and stderr. They let `executor/docker-logs.ts` cut a container's
 *   own log stream (output of child processes) per activation. Both backends
 *   set it (the Docker backend unless built with `logMarkers: true`): the
 *   function's logs come back in each `/run` answer, and the four pipe writes
 *   per activation (and the parent's or dockerd's reads) are pure cost.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chmodSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  ACTIVATION_END_MARKER,
  ACTIVATION_START_MARKER,
  DEFAULT_MAX_RESULT_BYTES,
  ERROR_TRUNCATED_MARKER,
  LOG_TRUNCATED_MARKER,
  MAX_ERROR_BYTES,
  MAX_LOG_BYTES,
  truncateUtf8,
  PACKAGE_ROOT_KEY,
  type InitRequest,
  type RunRequest,
  type RunResponse,
  type RuntimeErrorBody,
} from './protocol.js';
import {
  describeExports,
  invokeHandler,
  resolveHandler,
  serializeResult,
  toFunctionError,
  type ResolvedHandler,
} from './handler.js';
import { createPlatformContext, type PlatformContext } from './context-api.js';

/** Request bodies above this are refused; bundles are far smaller (deploys cap at 50 MB). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

/**
 * The executor's platform API socket (context.state / context.objects). Read
 * before /init merges the function's env into process.env, so a function
 * cannot point its own runtime elsewhere.
 */
const platformSocket = process.env['BRISK_PLATFORM_SOCKET'] || undefined;

const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr);

// ---------------------------------------------------------------------------
// Log capture

/**
 * Output of one activation, kept up to MAX_LOG_BYTES. Past the cap, writes are
 * dropped on the floor (only counted), so a 100 MB flood costs no memory and
 * never reaches the real stdout pipe.
 */
class LogCapture {
  private readonly chunks: string[] = [];
  private bytes = 0;
  truncated = false;

  add(text: string): void {
    if (this.truncated || text.length === 0) return;
    const n = Buffer.byteLength(text, 'utf8');
    if (this.bytes + n <= MAX_LOG_BYTES) {
      this.chunks.push(text);
      this.bytes += n;
      return;
    }
    const room = MAX_LOG_BYTES - this.bytes;
    if (room > 0) {
      // Cut at most `room` bytes; slicing chars first keeps a huge string cheap.
      const head = text.slice(0, room);
      this.chunks.push(Buffer.byteLength(head, 'utf8') <= room ? head : Buffer.from(head, 'utf8').subarray(0, room).toString('utf8'));
      this.bytes = MAX_LOG_BYTES;
    }
    this.truncated = true;
  }

  lines(): string[] {
    const out = this.chunks.length === 0 ? [] : this.chunks.join('').split('\n');
    if (out.length > 0 && out[out.length - 1] === '') out.pop();
    if (this.truncated) out.push(LOG_TRUNCATED_MARKER);
    return out;
  }
}

/** One activation in progress: its output, how to fail it, and the platform fault it met. */
interface RunningActivation {
  readonly capture: LogCapture;
  /** Fails the activation when an error escapes its handler asynchronously. */
  fail: (err: unknown) => void;
  /** The first call of this activation the platform API failed. */
  platformFault?: { code: string; message: string };
}

/**
 * The activation whose code is running now, as Node's async context tracks
 * it: with several activations at once, output, escaped errors and platform
 * faults go to the one whose callbacks caused them.
 */
const currentActivation = new AsyncLocalStorage<RunningActivation>();
const running = new Set<RunningActivation>();

/**
 * Whose output or error this is: the activation of the current async
 * context, else the only one running (a callback Node could not tie to a
 * context, as before concurrency), else nobody.
 */
function owner(): RunningActivation | undefined {
  const ctx = currentActivation.getStore();
  if (ctx !== undefined && running.has(ctx)) return ctx;
  if (running.size === 1) return running.values().next().value;
  return undefined;
}

type WriteFn = typeof process.stdout.write;

function capturingWrite(real: WriteFn): WriteFn {
  // console.* ends in stream.write, so patching write catches both.
  const write = (chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const cap = owner()?.capture;
    if (cap === undefined) return (real as (...a: unknown[]) => boolean)(chunk, encoding, cb);
    if (typeof chunk === 'string') cap.add(chunk);
    else if (chunk instanceof Uint8Array) cap.add(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8'));
    else cap.add(String(chunk));
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (typeof callback === 'function') process.nextTick(callback as () => void);
    return true;
  };
  return write as WriteFn;
}

process.stdout.write = capturingWrite(realStdoutWrite);
process.stderr.write = capturingWrite(realStderrWrite);

const logMarkers = process.env['BRISK_RUNTIME_LOG_MARKERS'] !== '0';

function markBoth(marker: string, activationId: string): void {
  if (!logMarkers) return;
  const line = `${marker} ${activationId}\n`;
  realStdoutWrite(line);
  realStderrWrite(line);
}

// ---------------------------------------------------------------------------
// State

interface LoadedFunction {
  handler: ResolvedHandler;
  namespace: string;
  name: string;
  version: number;
  memoryMb: number;
  /** Results over this many bytes of JSON are the function error ResultTooLarge. */
  maxResultBytes: number;
  /** Present when /init carried a platform token. */
  platform?: PlatformContext;
  /** /runs taken at once. */
  concurrency: number;
}

let initState: 'none' | 'initializing' | 'ready' | 'failed' = 'none';
/**
 * Settles when a pre-start's warm-up is over (at once without one). Until
 * then /healthz answers 503 `warming` and an /init waits for it: a backend
 * that polls /healthz (Docker) rather than reading READY must never load the
 * function while the warm-up still sends itself `POST /run`s, or those would
 * run the function's handler.
 */
let warmedUp: Promise<void> = Promise.resolve();
let warming = false;
let loaded: LoadedFunction | undefined;
/** /runs in progress (at most the function's concurrency). */
let inFlight = 0;

function onEscapedError(err: unknown, origin: string): void {
  const own = owner();
  if (own !== undefined) {
    own.fail(err);
    return;
  }
  if (running.size > 0) {
    // Several activations share the process and none can be blamed: fail them all rather than guess.
    for (const a of running) a.fail(err);
    return;
  }
  // Outside an activation there is nobody to blame; keep serving.
  const e = toFunctionError(err);
  realStderrWrite(`[brisk-runtime] ${origin} outside an activation: ${e.stack ?? `${e.errorType}: ${e.errorMessage}`}\n`);
}

process.on('uncaughtException', (err) => onEscapedError(err, 'uncaughtException'));
process.on('unhandledRejection', (reason) => onEscapedError(reason, 'unhandledRejection'));

// ---------------------------------------------------------------------------
// HTTP helpers

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string, extra: Partial<RuntimeErrorBody['error']> = {}): void {
  // Capped like a function error: a module with thousands of exports names them all in HANDLER_NOT_FOUND.
  const body: RuntimeErrorBody = { error: { code, message: truncateUtf8(message, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER), ...extra } };
  send(res, status, body);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// /init

function parseInit(body: Record<string, unknown>): InitRequest | string {
  const { namespace, name, version, code, exportName, env, timeoutMs, memoryMb, platform, limits, packageDir, concurrency } = body;
  if (concurrency !== undefined && !(typeof concurrency === 'number' && Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 100)) {
    return 'concurrency must be an integer from 1 to 100';
  }
  if (typeof code !== 'string') return 'code must be a string';
  if (typeof exportName !== 'string') return 'exportName must be a string';
  if (typeof namespace !== 'string' || typeof name !== 'string') return 'namespace and name must be strings';
  if (typeof version !== 'number' || typeof timeoutMs !== 'number' || typeof memoryMb !== 'number') {
    return 'version, timeoutMs and memoryMb must be numbers';
  }
  if (env !== undefined && (typeof env !== 'object' || env === null)) return 'env must be an object';
  if (packageDir !== undefined && (typeof packageDir !== 'string' || !path.isAbsolute(packageDir))) return 'packageDir must be an absolute path';
  const token = typeof platform === 'object' && platform !== null ? (platform as { token?: unknown }).token : undefined;
  if (platform !== undefined && (typeof token !== 'string' || token.length === 0)) return 'platform must be { token: string }';
  const maxResultBytes = typeof limits === 'object' && limits !== null ? (limits as { maxResultBytes?: unknown }).maxResultBytes : undefined;
  if (limits !== undefined && (typeof maxResultBytes !== 'number' || !(maxResultBytes > 0))) return 'limits must be { maxResultBytes: number > 0 }';
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries((env ?? {}) as Record<string, unknown>)) cleanEnv[k] = String(v);
  return {
    namespace,
    name,
    version,
    code,
    exportName,
    env: cleanEnv,
    timeoutMs,
    memoryMb,
    ...(typeof token === 'string' ? { platform: { token } } : {}),
    ...(typeof maxResultBytes === 'number' ? { limits: { maxResultBytes } } : {}),
    ...(typeof packageDir === 'string' ? { packageDir } : {}),
    ...(typeof concurrency === 'number' ? { concurrency } : {}),
  };
}

async function handleInit(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const text = await readBody(req);
  await warmedUp;
  if (initState !== 'none') {
    sendError(res, 409, 'ALREADY_INITIALIZED', 'this instance was already initialised; start a new one');
    return;
  }
  const body = parseJsonObject(text);
  const init = body === undefined ? 'body must be a JSON object' : parseInit(body);
  if (typeof init === 'string') {
    sendError(res, 400, 'BAD_REQUEST', init);
    return;
  }
  initState = 'initializing';
  Object.assign(process.env, init.env);

  let mod: unknown;
  try {
    const file = await writeModule('brisk-fn-', init.code);
    // esbuild's ESM output of CommonJS code calls `require` for builtins through a
    // shim that looks for a free `require`; give it one instead of failing.
    const g = globalThis as { require?: unknown };
    if (g.require === undefined) g.require = createRequire(file);
    // The function's files and working directory: its package (read-only), else the bundle's own directory.
    const root = init.packageDir ?? path.dirname(file);
    process.chdir(root);
    if (init.packageDir !== undefined) (globalThis as Record<symbol, unknown>)[Symbol.for(PACKAGE_ROOT_KEY)] = init.packageDir;
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    initState = 'failed';
    const e = toFunctionError(err);
    sendError(res, 400, 'INIT_FAILED', e.errorMessage, { errorType: e.errorType, ...(e.stack ? { stack: e.stack } : {}) });
    return;
  }

  const handler = resolveHandler(mod, init.exportName);
  if (handler === undefined) {
    initState = 'failed';
    const found = describeExports(mod);
    sendError(
      res,
      400,
      'HANDLER_NOT_FOUND',
      `export '${init.exportName}' is not a function in ${init.namespace}/${init.name}; exports: ${found.length > 0 ? found.join(', ') : '(none)'}`,
      { errorType: 'HandlerNotFound' },
    );
    return;
  }
  loaded = {
    handler,
    namespace: init.namespace,
    name: init.name,
    version: init.version,
    memoryMb: init.memoryMb,
    maxResultBytes: init.limits?.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
    concurrency: init.concurrency ?? 1,
    ...(init.platform ? { platform: createPlatformContext(platformSocket, init.platform.token, notePlatformFault) } : {}),
  };
  initState = 'ready';
  send(res, 200, { ok: true, exportName: handler.exportName, style: handler.style });
}

/** Remember the platform failing a call, if it happens during an activation (stray background calls do not count). */
function notePlatformFault(err: { code: string; message: string }): void {
  const own = owner();
  if (own !== undefined) own.platformFault ??= { code: err.code, message: err.message };
}

// ---------------------------------------------------------------------------
// /run

function parseRun(body: Record<string, unknown>): RunRequest | string {
  const { activationId, payload, deadline } = body;
  if (typeof activationId !== 'string' || activationId.length === 0) return 'activationId must be a non-empty string';
  if (typeof payload !== 'string') return 'payload must be a string (JSON text)';
  if (typeof deadline !== 'number') return 'deadline must be a number (epoch ms)';
  return { activationId, payload, deadline };
}

function buildContext(fn: LoadedFunction, run: RunRequest): Record<string, unknown> {
  const deadline = run.deadline;
  return {
    activationId: run.activationId,
    awsRequestId: run.activationId,
    namespace: fn.namespace,
    functionName: fn.name,
    functionVersion: String(fn.version),
    memoryLimitInMB: fn.memoryMb,
    deadline,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    // Accepted for compatibility; the response is sent as soon as the handler settles.
    callbackWaitsForEmptyEventLoop: true,
    ...(fn.platform ? { state: fn.platform.state, objects: fn.platform.objects } : {}),
  };
}

/** Runs the handler; resolves with the activation's outcome, never rejects. */
async function activate(fn: LoadedFunction, run: RunRequest, event: unknown): Promise<RunResponse> {
  const cap = new LogCapture();
  // Markers cut a container's raw output per activation; runs that overlap cannot be cut apart.
  const marks = fn.concurrency === 1;
  if (marks) markBoth(ACTIVATION_START_MARKER, run.activationId);
  let reject: (err: unknown) => void = () => {};
  const escaped = new Promise<never>((_, r) => {
    reject = r;
  });
  const act: RunningActivation = { capture: cap, fail: (err) => reject(err) };
  running.add(act);
  const t0 = performance.now();
  let outcome: { ok: true; json: string } | { ok: false; error: ReturnType<typeof toFunctionError> };
  try {
    const result = await currentActivation.run(act, () => Promise.race([invokeHandler(fn.handler, event, buildContext(fn, run)), escaped]));
    outcome = serializeResult(result, fn.maxResultBytes);
  } catch (err) {
    outcome = { ok: false, error: toFunctionError(err) };
  } finally {
    running.delete(act);
  }
  const durationMs = performance.now() - t0;
  if (marks) markBoth(ACTIVATION_END_MARKER, run.activationId);
  const platformFault = act.platformFault;
  const logs = cap.lines();
  return outcome.ok
    ? { ok: true, resultJson: outcome.json, logs, logsTruncated: cap.truncated, durationMs }
    : { ok: false, error: outcome.error, logs, logsTruncated: cap.truncated, durationMs, ...(platformFault ? { platformFault } : {}) };
}

async function handleRun(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const text = await readBody(req);
  const fn = loaded;
  if (fn === undefined) {
    sendError(res, 400, 'NOT_INITIALIZED', `no function loaded (state: ${initState})`);
    return;
  }
  if (inFlight >= fn.concurrency) {
    sendError(res, 409, 'BUSY', fn.concurrency === 1 ? 'an activation is already running on this instance' : `${inFlight} activations are already running on this instance (its concurrency)`);
    return;
  }
  const body = parseJsonObject(text);
  const run = body === undefined ? 'body must be a JSON object' : parseRun(body);
  if (typeof run === 'string') {
    sendError(res, 400, 'BAD_REQUEST', run);
    return;
  }
  let event: unknown;
  try {
    // An empty payload is an empty event, as on Lambda.
    event = run.payload === '' ? {} : JSON.parse(run.payload);
  } catch (err) {
    sendError(res, 400, 'BAD_PAYLOAD', `payload is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  inFlight++;
  try {
    send(res, 200, await activate(fn, run, event));
  } finally {
    inFlight--;
  }
}

// ---------------------------------------------------------------------------
// Server

/** Write `code` as `index.mjs` in a new directory of the code dir (where /init writes the function's bundle); its path. */
async function writeModule(prefix: string, code: string): Promise<string> {
  const dir = await mkdtemp(path.join(process.env['BRISK_RUNTIME_CODE_DIR'] || os.tmpdir(), prefix));
  const file = path.join(dir, 'index.mjs');
  await writeFile(file, code);
  return file;
}

/** Where this server listens. */
type RuntimeAddress = { socketPath: string } | { port: number; host: string };

/** Activations (and refused `POST /run`s) of the warm-up: most of the first runs' extra cost goes in the first few. */
const WARM_UP_RUNS = 3;

/**
 * Before it says READY, the runtime goes once through what a fresh process
 * pays for on its first /init and first /runs: fs/promises, writing and
 * importing a module file, a few activations of that module (context, log
 * capture, the handler call, the result's serialisation), and the HTTP
 * server's request and response path (a `GET /healthz` and a few `POST /run`
 * to itself, refused as nothing is loaded yet). A pre-started instance is
 * ready long before it is taken, so that first-use cost leaves the pool hit
 * (`bench/tools/first-run.mjs`: the first /run after /init 3.3–4.0 → 1.3–2.0
 * ms p50 on this machine).
 */
async function warmUp(address: RuntimeAddress): Promise<void> {
  const file = await writeModule('brisk-warmup-', 'export const handler = async (event) => ({ event });\n');
  let handler: ResolvedHandler | undefined;
  try {
    handler = resolveHandler(await import(pathToFileURL(file).href), 'handler');
  } finally {
    await rm(path.dirname(file), { recursive: true, force: true });
  }
  // Activations through the run path, off the wire: concurrency 2 so no
  // activation markers are printed, and no platform token.
  if (handler !== undefined) {
    const fn: LoadedFunction = { handler, namespace: 'brisk', name: 'warm-up', version: 1, memoryMb: 0, maxResultBytes: 1024, concurrency: 2 };
    for (let i = 0; i < WARM_UP_RUNS; i++) await activate(fn, { activationId: `warm-up-${i}`, payload: '{}', deadline: Date.now() + 1000 }, { i });
  }
  await requestSelf(address, 'GET', '/healthz');
  const body = JSON.stringify({ activationId: 'warm-up', payload: '{}', deadline: Date.now() + 1000 });
  for (let i = 0; i < WARM_UP_RUNS; i++) await requestSelf(address, 'POST', '/run', body);
}

/** One request to this server, its answer read and dropped; resolves on the end or an error (a warm-up that fails costs the first calls their first-use time, nothing else). */
function requestSelf(address: RuntimeAddress, method: 'GET' | 'POST', urlPath: string, body?: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request({ ...address, method, path: urlPath, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
    req.end(body);
  });
}

/**
 * Tell the parent where we listen: at once when a call waits for this
 * instance, after the warm-up when it is a pre-start for the pool
 * (`BRISK_RUNTIME_WARM_UP=1`). A warm-up that throws only leaves the first
 * /init slower.
 */
function announce(address: RuntimeAddress, shown: string): void {
  if (process.env['BRISK_RUNTIME_WARM_UP'] !== '1') {
    realStdoutWrite(`BRISK_RUNTIME_READY ${shown}\n`);
    return;
  }
  warming = true;
  warmedUp = warmUp(address)
    .catch(() => undefined)
    .then(() => {
      warming = false;
      realStdoutWrite(`BRISK_RUNTIME_READY ${shown}\n`);
    });
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  let work: Promise<void> | undefined;
  if (req.method === 'POST' && url === '/run') work = handleRun(req, res);
  else if (req.method === 'POST' && url === '/init') work = handleInit(req, res);
  else if (req.method === 'GET' && url === '/healthz') {
    if (warming) send(res, 503, { ok: false, state: 'warming', busy: false, inFlight });
    else send(res, 200, { ok: true, state: initState, busy: inFlight > 0, inFlight });
  }
  else sendError(res, 404, 'NOT_FOUND', `${req.method ?? '?'} ${url}`);
  work?.catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (!res.headersSent) sendError(res, 500, 'RUNTIME_ERROR', message);
    else res.destroy();
  });
});
// Executors keep one connection per instance for its whole life; never time it
// out from this side (that races with the client reusing it) and never cap a
// long activation's request.
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.on('connection', (socket) => socket.setNoDelay(true));

const socketPath = process.env['BRISK_RUNTIME_SOCKET'] || undefined;
if (socketPath !== undefined) {
  // A socket left by a previous process in a reused directory would make listen() fail.
  try {
    unlinkSync(socketPath);
  } catch {
    // Not there: the normal case.
  }
  server.listen(socketPath, () => {
    // The executor connects as another uid; the directory around the socket is what guards it.
    chmodSync(socketPath, 0o666);
    announce({ socketPath }, socketPath);
  });
} else {
  const port = Number(process.env['BRISK_RUNTIME_PORT'] ?? 8080);
  const host = process.env['BRISK_RUNTIME_HOST'] || '0.0.0.0';
  server.listen(Number.isInteger(port) && port >= 0 ? port : 8080, host, () => {
    const addr = server.address();
    const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
    announce({ port: actual, host: host === '0.0.0.0' ? '127.0.0.1' : host }, String(actual));
  });
}

// As PID 1 in a container node ignores SIGTERM unless told otherwise.
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));

if (process.env['BRISK_RUNTIME_EXIT_ON_STDIN_CLOSE'] === '1') {
  const bye = (): never => process.exit(0);
  process.stdin.on('end', bye);
  process.stdin.on('close', bye);
  process.stdin.on('error', bye);
  process.stdin.resume();
}
