import http from 'node:http';
import { BuildError, PlatformError, type ErrorCode } from '../core/errors.js';
import {
  DEFAULT_MAX_RESULT_BYTES,
  ERROR_TRUNCATED_MARKER,
  LOG_TRUNCATED_MARKER,
  MAX_ERROR_BYTES,
  MAX_LOG_BYTES,
  runResponseSchema,
  runtimeErrorSchema,
  truncateUtf8,
  type InitRequest,
  type RunRequest,
  type RunResponse,
} from '../runtime/protocol.js';
import { InstanceFailure, type RunAnswer } from './types.js';

/**
 * The executor's side of the runtime protocol (`runtime/protocol.ts`), written
 * once for every backend, after OpenWhisk's `Container.callContainer`: a
 * backend starts, stops and diagnoses its instances; this client talks to them.
 *
 * Everything an instance answers comes from the function's own process, which
 * its code can tamper with, so the client trusts none of it:
 * - every answer is read against a byte cap WHILE it streams in; past the cap
 *   the request is aborted and nothing more is buffered (a 640 MB answer costs
 *   the executor at most {@link maxRunAnswerBytes});
 * - every answer is validated (zod schemas of the protocol); anything else is
 *   an {@link InstanceFailure} of kind `garbled`, the function's fault;
 * - result, logs and error parts are held to their caps again here.
 */

/** Where a runtime server listens: a unix socket, or a TCP port on loopback. */
export type RuntimeAddress = { socketPath: string } | { host: string; port: number };

export interface RuntimeClientOptions {
  /** Results over this many bytes of JSON are the function error ResultTooLarge. Default 6 MiB. */
  maxResultBytes?: number;
  /** Names the instance in error messages. */
  label?: string;
}

/** The request outlived its deadline; the connection was destroyed. The backend kills the instance. */
export class RuntimeTimeoutError extends Error {
  override readonly name = 'RuntimeTimeoutError';
}

/** The connection failed before a whole answer arrived (refused, reset, socket gone). The backend diagnoses why. */
export class RuntimeConnectionError extends Error {
  override readonly name = 'RuntimeConnectionError';
}

/** An /init may take the function's timeout, but never less than this (bundles can be large). */
export const MIN_INIT_TIMEOUT_MS = 10_000;
/**
 * JSON framing of a /run answer beyond its escaped parts (keys, numbers,
 * the truncation marker line). Generous: it only bounds a buffer.
 */
const ANSWER_OVERHEAD_BYTES = 64 * 1024;
/** An /init or protocol error answer: a code, a message and a stack, each capped by the runtime. */
const MAX_ERROR_ANSWER_BYTES = 6 * 2 * MAX_ERROR_BYTES + ANSWER_OVERHEAD_BYTES;
/** `GET /healthz` answers a few bytes. */
const MAX_HEALTH_ANSWER_BYTES = 4096;

/**
 * The largest /run answer an honest runtime can send with these caps. Parts
 * travel as JSON strings inside the answer: `resultJson` (itself JSON: only `"`
 * and `\` get escaped again) at most doubles, log lines and error text (any
 * characters: a control character becomes `\u00XX`) grow at most six-fold.
 */
export function maxRunAnswerBytes(maxResultBytes: number): number {
  return 2 * maxResultBytes + 6 * (MAX_LOG_BYTES + 2 * MAX_ERROR_BYTES) + ANSWER_OVERHEAD_BYTES;
}

/** The runtime's error codes the executor treats as its own (platform) faults. */
const PLATFORM_CODES: ReadonlySet<string> = new Set<ErrorCode>(['ALREADY_INITIALIZED', 'NOT_INITIALIZED', 'BUSY', 'BAD_REQUEST', 'BAD_PAYLOAD', 'RUNTIME_ERROR']);
const isPlatformCode = (code: string): code is ErrorCode => PLATFORM_CODES.has(code);

interface Reply {
  status: number;
  body: unknown;
  /** Size of the answer's body on the wire. */
  bytes: number;
}

/**
 * One runtime server, reached over keep-alive connections: one per activation
 * it may run at once (one, unless /init gave it a `concurrency`).
 */
export class RuntimeClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private readonly maxResultBytes: number;
  private readonly maxAnswerBytes: number;
  private readonly label: string;

  constructor(
    readonly address: RuntimeAddress,
    opts: RuntimeClientOptions = {},
  ) {
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    this.maxAnswerBytes = maxRunAnswerBytes(this.maxResultBytes);
    this.label = opts.label ?? 'instance';
  }

  /**
   * `POST /init`. The function's load failing (it throws on import, or lacks
   * its export) is a {@link BuildError} with the runtime's code (`INIT_FAILED`,
   * `HANDLER_NOT_FOUND`) and `errorType`, `errorMessage`, `stack` in `data`: the
   * function's fault. A second /init is `PlatformError('ALREADY_INITIALIZED')`.
   */
  async init(req: InitRequest): Promise<void> {
    const body: InitRequest = { ...req, limits: { maxResultBytes: this.maxResultBytes } };
    // A connection per concurrent /run: a timed-out run's connection is destroyed without touching its neighbours'.
    this.agent.maxSockets = req.concurrency ?? 1;
    const reply = await this.request('POST', '/init', JSON.stringify(body), Math.max(MIN_INIT_TIMEOUT_MS, req.timeoutMs), MAX_ERROR_ANSWER_BYTES);
    if (reply.status !== 200) throw this.errorOf(reply, '/init');
  }

  /**
   * `POST /run`, bounded by `timeoutMs` for the whole exchange. Resolves with
   * the checked answer for a success and for a function error alike.
   */
  async run(req: RunRequest, timeoutMs: number): Promise<RunAnswer> {
    const reply = await this.request('POST', '/run', JSON.stringify(req), timeoutMs, this.maxAnswerBytes);
    if (reply.status !== 200) throw this.errorOf(reply, '/run');
    return this.checkRun(reply);
  }

  /** Whether `GET /healthz` answers 200 within `timeoutMs` (on a connection of its own). */
  async healthy(timeoutMs: number): Promise<boolean> {
    try {
      const reply = await this.request('GET', '/healthz', undefined, timeoutMs, MAX_HEALTH_ANSWER_BYTES, false);
      return reply.status === 200;
    } catch {
      return false;
    }
  }

  /** Drop the kept-alive connection. */
  close(): void {
    this.agent.destroy();
  }

  private garbled(message: string): InstanceFailure {
    return new InstanceFailure({ kind: 'garbled', message }, `${this.label}: ${message}`);
  }

  /** A /run answer in the protocol and within its caps, or the reason it is not. */
  private checkRun(reply: Reply): RunAnswer {
    const parsed = runResponseSchema.safeParse(reply.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.garbled(`the instance answered /run outside the protocol (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`);
    }
    const res = parsed.data;
    // Parts can only be over their caps when the whole answer is: small answers skip the checks.
    const logs = reply.bytes > MAX_LOG_BYTES ? capLogs(res) : res;
    if (!logs.ok) return reply.bytes > MAX_ERROR_BYTES ? { ...logs, error: capError(logs.error) } : logs;
    if (reply.bytes > this.maxResultBytes && Buffer.byteLength(logs.resultJson, 'utf8') > this.maxResultBytes) {
      // The runtime refuses such a result itself (ResultTooLarge): this one was not.
      throw new InstanceFailure({ kind: 'oversized', limitBytes: this.maxResultBytes }, `${this.label}: the instance answered /run with a result over ${this.maxResultBytes} bytes`);
    }
    let result: unknown;
    try {
      result = JSON.parse(logs.resultJson);
    } catch {
      throw this.garbled('the function returned a result that is not JSON');
    }
    return { ...logs, result };
  }

  /**
   * One mapping of a non-200 answer: the function's load failing is its
   * fault (BuildError), the runtime's other codes are the platform's, and an
   * answer that is none of them is garbled (only code inside the instance can
   * make the runtime send it).
   */
  private errorOf(reply: Reply, route: string): Error {
    const parsed = runtimeErrorSchema.safeParse(reply.body);
    if (!parsed.success) return this.garbled(`the instance answered ${route} with ${reply.status} outside the protocol`);
    const { code, message, errorType, stack } = parsed.data.error;
    const text = truncateUtf8(message, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER);
    if (route === '/init' && (code === 'INIT_FAILED' || code === 'HANDLER_NOT_FOUND')) {
      return new BuildError(
        text,
        {
          errorType: truncateUtf8(errorType ?? (code === 'INIT_FAILED' ? 'Error' : 'HandlerNotFound'), 256, ERROR_TRUNCATED_MARKER),
          errorMessage: text,
          ...(stack !== undefined ? { stack: truncateUtf8(stack, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER) } : {}),
        },
        code,
      );
    }
    if (!isPlatformCode(code)) return this.garbled(`the instance answered ${route} with ${reply.status} and an unknown code`);
    return new PlatformError(code, `${this.label} ${route}: ${text}`, {
      retryable: code !== 'ALREADY_INITIALIZED',
      data: { status: reply.status },
    });
  }

  /**
   * One HTTP exchange, read against `maxBytes` while the answer streams in,
   * bounded by a whole-request deadline (not an idle timeout: a handler may
   * stay silent until it answers). A plain timer rather than an AbortSignal:
   * this is the hot path of every activation.
   */
  private request(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    timeoutMs: number,
    maxBytes: number,
    agent: http.Agent | false = this.agent,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | undefined, reply?: Reply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err !== undefined) reject(err);
        else resolve(reply as Reply);
      };
      const headers: http.OutgoingHttpHeaders = { host: 'runtime' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = http.request({ ...this.address, agent, method, path, headers }, (res) => {
        const declared = Number(res.headers['content-length'] ?? 0);
        const tooLarge = (): void => {
          settle(
            new InstanceFailure(
              { kind: 'oversized', limitBytes: maxBytes },
              `${this.label}: the instance's answer to ${path} grew past ${maxBytes} bytes; reading stopped`,
            ),
          );
          req.destroy();
        };
        if (declared > maxBytes) return tooLarge();
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (settled) return;
          size += c.length;
          if (size > maxBytes) return tooLarge();
          chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          const raw = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw);
          } catch {
            return settle(this.garbled(`the instance answered ${path} with ${res.statusCode ?? '?'} and a body that is not JSON: ${raw.slice(0, 200)}`));
          }
          settle(undefined, { status: res.statusCode ?? 0, body: parsed, bytes: size });
        });
        res.on('error', (err) => settle(new RuntimeConnectionError(`${path}: ${err.message}`, { cause: err })));
        // Closed before its end (the instance died mid-answer): whichever of these comes first.
        // 'close' also follows every whole answer: build the error (a stack capture) only when it is one.
        res.on('aborted', () => settled || settle(new RuntimeConnectionError(`${path}: the answer was cut off`)));
        res.on('close', () => settled || settle(new RuntimeConnectionError(`${path}: the connection closed before the answer ended`)));
      });
      // After a timeout the request, the socket and the response may each report an error; the timeout settled first.
      const timer = setTimeout(() => {
        settle(new RuntimeTimeoutError(`${this.label}: no answer to ${path} within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      req.on('error', (err) => settle(new RuntimeConnectionError(`${path}: ${err.message}`, { cause: err })));
      req.end(body);
    });
  }
}

/**
 * Bytes an honest runtime's logs may exceed {@link MAX_LOG_BYTES} by: its cut
 * can end inside a character, which decodes to a 3-byte U+FFFD.
 */
const LOG_CUT_SLACK_BYTES = 4;

/** Logs held to {@link MAX_LOG_BYTES} (the runtime caps them; a tampered one may not have). */
function capLogs<T extends RunResponse>(res: T): T {
  // Each line is counted with its newline.
  let bytes = 0;
  for (let i = 0; i < res.logs.length; i++) {
    const line = res.logs[i] as string;
    // An honest runtime's marker line comes on top of a full capture.
    if (line === LOG_TRUNCATED_MARKER && i === res.logs.length - 1) break;
    bytes += Buffer.byteLength(line, 'utf8') + 1;
    if (bytes > MAX_LOG_BYTES + 1 + LOG_CUT_SLACK_BYTES) {
      const room = MAX_LOG_BYTES - (bytes - Buffer.byteLength(line, 'utf8') - 1);
      const kept = res.logs.slice(0, i);
      if (room > 0) kept.push(truncateUtf8(line, room));
      kept.push(LOG_TRUNCATED_MARKER);
      return { ...res, logs: kept, logsTruncated: true };
    }
  }
  return res;
}

/** A function error held to {@link MAX_ERROR_BYTES} per part. */
function capError(e: Extract<RunResponse, { ok: false }>['error']): Extract<RunResponse, { ok: false }>['error'] {
  return {
    errorType: truncateUtf8(e.errorType, 256, ERROR_TRUNCATED_MARKER),
    errorMessage: truncateUtf8(e.errorMessage, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER),
    ...(e.stack !== undefined ? { stack: truncateUtf8(e.stack, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER) } : {}),
  };
}
