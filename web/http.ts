import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { BriskError, PayloadTooLargeError, ValidationError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DEFAULT_NAMESPACE } from '../core/types.js';
import { FAULT_HEADER } from './responses.js';

/** Who is calling, set by the auth middleware on `res.locals.principal`. */
export interface Principal {
  /** The namespace every path of this request refers to. */
  namespace: string;
  /** The operator (BRISK_ADMIN_KEY): may manage namespaces and keys. */
  admin: boolean;
  /** A read-only key: list, get and invoke, but no deploy or delete. */
  readOnly: boolean;
  /** Id of the API key used, if any (for audit and revocation). */
  keyId?: string;
}

/** The principal of a request; anonymous requests (no auth configured) act in `default`. */
export function principalOf(res: Response): Principal {
  const p = res.locals['principal'] as Principal | undefined;
  return p ?? { namespace: DEFAULT_NAMESPACE, admin: true, readOnly: false };
}

export function namespaceOf(res: Response): string {
  return principalOf(res).namespace;
}

/** Refuse writes for read-only keys. */
export function requireWrite(res: Response): void {
  if (principalOf(res).readOnly) {
    throw new BriskError('READ_ONLY_KEY', 'this API key is read-only', { status: 403 });
  }
}

/** A path parameter as a string ('' when missing). */
export function param(req: Request, name: string): string {
  const v = req.params[name];
  return typeof v === 'string' ? v : '';
}

/** Validate input with a zod schema; failures are a 400 with every issue listed. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, code: ErrorCode = 'INVALID_BODY'): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new ValidationError(code, issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; '), { issues });
  }
  return r.data;
}

/**
 * Refuse a body whose declared `Content-Length` is over `limitBytes` at once:
 * 413 `PAYLOAD_TOO_LARGE` with `Connection: close`, without parsing a byte of
 * it (see {@link closeIfBodyUnread} for the close). (Express's body parsers answer only after draining the declared body, so
 * a client declaring 10 GB would hold the connection until the request
 * timeout.) Goes in front of every body parser, with the parser's limit.
 * Bodies without a declared length (chunked) are still counted while streaming.
 */
export function declaredLengthGuard(limitBytes: number): RequestHandler {
  return (req, _res, next) => {
    const declared = req.headers['content-length'];
    if (declared === undefined || !(Number(declared) > limitBytes)) return next();
    // The error middleware adds `Connection: close` and closes after a short linger.
    next(new PayloadTooLargeError(limitBytes));
  };
}

/** A body parser behind {@link declaredLengthGuard}: the same limit for both, stated once. */
export function limitedBody(limitBytes: number, parser: (limit: number) => RequestHandler): RequestHandler {
  const guard = declaredLengthGuard(limitBytes);
  const parse = parser(limitBytes);
  return (req, res, next) => guard(req, res, (err?: unknown) => (err === undefined ? parse(req, res, next) : next(err)));
}

/**
 * An error answered before the request's body was read (401, 404, 413 …):
 * `Connection: close`, then a lingering close. Node would otherwise read and
 * discard the whole declared body to reuse the connection, which a client
 * declaring gigabytes can stretch to the request timeout. But closing the
 * socket at once resets it while an honest client is still sending its body,
 * and the client then sees a broken pipe instead of the answer (undici's
 * fetch does). So, as web servers do (nginx's lingering close): send the
 * answer and our FIN, keep reading and discarding what still arrives for at
 * most {@link LINGER_MS} or {@link LINGER_BYTES}, then close for good.
 */
export function closeIfBodyUnread(req: Request, res: Response): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  const hasBody = declared > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody || req.complete) return;
  res.setHeader('connection', 'close');
  const socket = req.socket;
  // Node ends a `Connection: close` response with socket.destroySoon(): linger instead.
  socket.destroySoon = () => {
    let drained = 0;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    const timer = setTimeout(done, LINGER_MS);
    socket.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > LINGER_BYTES) done();
    });
    socket.once('end', done);
    socket.resume();
    socket.end();
  };
}

/** How long a refused request's unread body is still read after the answer, at most. */
const LINGER_MS = 1000;
/** How much of it, at most. */
const LINGER_BYTES = 16 * 1024 * 1024;

/** The one place errors become HTTP responses: `{ error: { code, message, details? } }`. */
export function errorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = toBriskError(err);
    if (e.status >= 500) logger.error({ err, path: req.path, code: e.code }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    closeIfBodyUnread(req, res);
    if (e.status >= 500) res.setHeader(FAULT_HEADER, e.data?.['fault'] === 'function' ? 'function' : 'platform');
    const retryAfter = e.data?.['retryAfterSeconds'];
    if (typeof retryAfter === 'number') res.setHeader('retry-after', String(Math.ceil(retryAfter)));
    res.status(e.status).json({ error: { code: e.code, message: e.message, ...(e.data ? { details: e.data } : {}) } });
  };
}

function toBriskError(err: unknown): BriskError {
  if (err instanceof BriskError) return err;
  const bodyErr = err as { type?: string; limit?: number; status?: number; message?: string };
  if (bodyErr?.type === 'entity.too.large') return new PayloadTooLargeError(bodyErr.limit ?? 0);
  if (bodyErr?.type === 'entity.parse.failed') return new ValidationError('MALFORMED_JSON', `malformed JSON body: ${bodyErr.message ?? ''}`);
  if (typeof bodyErr?.status === 'number' && bodyErr.status >= 400 && bodyErr.status < 500) {
    return new ValidationError('BAD_REQUEST', bodyErr.message ?? 'bad request');
  }
  return new BriskError('INTERNAL', 'internal error', { status: 500 });
}
