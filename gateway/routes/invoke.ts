import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import { AuthError, PayloadTooLargeError, ValidationError } from '../../core/errors.js';
import { assertJsonDepth } from '../../core/json-depth.js';
import type { Logger } from '../../core/logger.js';
import type { Submitter } from '../../invocations/submit.js';
import type { Authenticator } from '../auth.js';
import type { FunctionService } from '../function-service.js';
import { namespaceOf, param, sendError } from '../../web/http.js';
import type { Invoker } from '../invoker.js';
import { ACTIVATION_HEADER, sendJsonText, sendOutcome, VERSION_HEADER } from '../../web/responses.js';
import { invokeTarget } from '../../releases/function-target.js';

/**
 * `POST /v1/functions/{name}/invoke`: the one route every warm call takes.
 *
 * {@link invoke} is the route itself (version, event, quotas, sync or async),
 * written once. Express serves it like every other route
 * ({@link expressInvokeHandler}, behind the /v1 key check and a body parser);
 * {@link rawInvokeHandler} serves the same route on the plain Node request in
 * front of Express, without its router, middleware chain and body parser
 * (the gateway's largest per-call costs after the function itself). The raw
 * path takes only requests it answers exactly as Express would and hands
 * every other one to Express untouched (test/unit/gateway-api.test.ts runs
 * the route's tests against both and compares their answers).
 */
export interface InvokeDeps {
  functions: FunctionService;
  invoker: Invoker;
  /** Async invocations: recorded `queued` and sent. */
  submitter: Pick<Submitter, 'submitAsync'>;
  /** Namespace quotas for one invocation (rate, payload size); throws when over. */
  admit: (namespace: string, payloadBytes: number, mode: 'sync' | 'async') => Promise<void>;
}

/**
 * One invocation of `name` (or `name:alias`) in namespace `ns`: `version`,
 * `alias` and `async` as the query string gave them (a string, or something else when repeated), the
 * event as sent. Answers on `res`; throws a BriskError for bad input.
 */
export async function invoke(deps: InvokeDeps, res: ServerResponse, ns: string, name: string, query: { version: unknown; alias?: unknown; async: unknown }, body: unknown): Promise<void> {
  // `hello`, `hello:prod`, `hello?alias=prod` or `hello?version=3`.
  const target = invokeTarget(name, { version: query.version, alias: query.alias });
  const { fn, alias } = await deps.functions.route(ns, target);
  const payload = eventPayload(body);
  const async = query.async === 'true' || query.async === '1';
  await deps.admit(ns, Buffer.byteLength(payload), async ? 'async' : 'sync');
  const opts = alias !== undefined ? { alias } : {};
  res.setHeader(VERSION_HEADER, String(fn.version));
  if (async) {
    const activationId = await deps.submitter.submitAsync(fn, payload, opts);
    res.setHeader(ACTIVATION_HEADER, activationId);
    sendJsonText(res, 202, JSON.stringify({ activationId }));
    return;
  }
  const activationId = deps.invoker.newActivationId();
  res.setHeader(ACTIVATION_HEADER, activationId);
  sendOutcome(res, await deps.invoker.invokeSync(fn, payload, { ...opts, activationId }));
}

/** The Express route (after the /v1 key check and the event body parser). */
export function expressInvokeHandler(deps: InvokeDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    await invoke(deps, res, namespaceOf(res), param(req, 'name'), { version: req.query['version'], alias: req.query['alias'], async: req.query['async'] }, req.body);
  };
}

/** The event text as sent, checked to be JSON of bounded depth (an empty body is `{}`). */
export function eventPayload(body: unknown): string {
  const text = typeof body === 'string' ? body : '';
  if (text.trim().length === 0) return '{}';
  let value: unknown;
  try {
    // V8's JSON.parse is iterative: even absurd nesting cannot overflow the stack here.
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError('MALFORMED_JSON', `the event is not valid JSON: ${(err as Error).message}`);
  }
  assertJsonDepth(value, 'the event');
  return text;
}

export interface RawInvokeDeps extends InvokeDeps {
  auth: Authenticator;
  /** The event's size cap (BRISK_MAX_PAYLOAD_BYTES), as the Express route's body parser has it. */
  maxPayloadBytes: number;
  logger: Logger;
}

const PREFIX = '/v1/functions/';
const SUFFIX = '/invoke';
/** A function name as it can be deployed (NAME_PATTERN), and nothing that Express would decode or fold first. */
const PLAIN_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Query strings the raw path parses itself: `version` and `async`, plain characters only. */
const PLAIN_QUERY = /^(?:(?:version|async)=[A-Za-z0-9_.-]*(?:&|$))*$/;

/**
 * The invoke route on the plain request, for requests that need nothing
 * Express does beyond it: returns false (having touched nothing) for any
 * other request, which then goes to Express. Taken: `POST
 * /v1/functions/{name}/invoke` with a plain name, a query of at most
 * `version` and `async` once each, an identity-encoded body, and UTF-8 text.
 */
export function rawInvokeHandler(deps: RawInvokeDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url;
    if (req.method !== 'POST' || url === undefined || !url.startsWith(PREFIX)) return false;
    const end = url.indexOf('?');
    const pathEnd = end === -1 ? url.length : end;
    if (!url.endsWith(SUFFIX, pathEnd)) return false;
    const name = url.slice(PREFIX.length, pathEnd - SUFFIX.length);
    if (!PLAIN_NAME.test(name)) return false;
    let query: { version: unknown; async: unknown } = { version: undefined, async: undefined };
    if (end !== -1) {
      const q = parseQuery(url.slice(end + 1));
      if (q === undefined) return false;
      query = q;
    }
    if (!plainBody(req)) return false;
    void serve(deps, req, res, url.slice(0, pathEnd), name, query);
    return true;
  };
}

/** `version` and `async` from a plain query string, or undefined for anything else (Express parses it then). */
function parseQuery(text: string): { version: unknown; async: unknown } | undefined {
  if (!PLAIN_QUERY.test(text)) return undefined;
  const out: { version: unknown; async: unknown } = { version: undefined, async: undefined };
  if (text.length === 0) return out;
  for (const pair of text.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq) as 'version' | 'async';
    // Repeated keys make an array in Express's query: leave those to it.
    if (out[key] !== undefined) return undefined;
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

/** A body Express's text parser would read as is: not compressed, UTF-8 (or no charset). */
function plainBody(req: IncomingMessage): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type'];
  if (type === undefined) return true;
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type);
  return charset === null || (charset[1] as string).toLowerCase() === 'utf-8';
}

async function serve(deps: RawInvokeDeps, req: IncomingMessage, res: ServerResponse, path: string, name: string, query: { version: unknown; async: unknown }): Promise<void> {
  try {
    // As Express does it: the key first (before a byte of the body is read), then the body under its cap.
    const principal = await deps.auth.principal(req);
    if (!principal) throw new AuthError('UNAUTHORIZED', 'missing or invalid API key (Authorization: Bearer <key>)');
    const body = await readBody(req, deps.maxPayloadBytes);
    await invoke(deps, res, principal.namespace, name, query, body);
  } catch (err) {
    sendError(deps.logger, err, req, res, path);
  }
}

/**
 * The body as text, refused past `limit` bytes: at once by its declared
 * length, else as soon as the count passes it (the refusal then closes the
 * connection after a lingering read, see closeIfBodyUnread). A body without
 * a declared length or transfer encoding is no body (undefined), as for
 * Express's parser. A leading byte-order mark is dropped, as its decoder does.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(undefined);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(new PayloadTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        // Not read to its end: the error answer closes the connection.
        req.pause();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      ended = true;
      const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
      resolve(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    };
    let ended = false;
    req.on('data', onData);
    req.on('end', onEnd);
    // The client went away mid-body: a 400 as Express's parser has it (nobody is left to read it).
    req.on('error', () => reject(new ValidationError('BAD_REQUEST', 'request aborted')));
    req.on('close', () => {
      if (!ended) reject(new ValidationError('BAD_REQUEST', 'request aborted'));
    });
  });
}

