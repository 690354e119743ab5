import type { Request, Response } from 'express';
import { AuthError, PlatformError } from '../core/errors.js';
import { DEFAULT_NAMESPACE, type InvocationResult } from '../core/types.js';
import { assertNamespaceName } from '../tenancy/tenancy-service.js';
import type { Principal } from './http.js';
import { ACTIVATION_HEADER, FAULT_HEADER, sendOutcomeError, VERSION_HEADER } from './responses.js';

/**
 * The event a function receives when called as a web endpoint (`/fn/{name}/…`
 * or an http trigger): a valid API Gateway payload-2.0 event, the shape
 * Lambda function URLs send, so web frameworks' Lambda adapters
 * (serverless-http, @vendia/serverless-express, Hono, Middy) read it as they
 * read AWS's; plus Brisk's own short fields (`method`, `path`, `query`,
 * `params`), kept for functions written against them.
 */
export interface HttpEvent {
  version: '2.0';
  routeKey: '$default';
  /** The path below the function (`/fn/{name}` or `/http`), as requested. */
  rawPath: string;
  /** The query string as sent, without `?`. */
  rawQueryString: string;
  /** The `Cookie` header split into its `name=value` pairs; absent without one. */
  cookies?: string[];
  /** Lower-case names; repeated headers joined with `, `. The platform's `authorization` is left out. */
  headers: Record<string, string>;
  /** Repeated parameters joined with `,` (as AWS does); absent without a query. */
  queryStringParameters?: Record<string, string>;
  /** An http trigger's path parameters; absent otherwise. */
  pathParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: '$default';
    stage: '$default';
    /** `01/Dec/2026:08:26:00 +0000`, as AWS writes it. */
    time: string;
    timeEpoch: number;
  };
  /** Text bodies as they are, binary ones base64. */
  body: string;
  isBase64Encoded: boolean;
  /** Brisk's own: the method, the path below the function, the query (repeated keys as arrays), path parameters. */
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  params?: Record<string, string>;
}

/** A bad web result is the function's fault, though the gateway reports it (502). */
const FUNCTION_FAULT = { fault: 'function' };

const TEXT_TYPES = /^(text\/|application\/(json|xml|x-www-form-urlencoded|javascript|graphql)|[^;]*\+(json|xml))/i;
/**
 * Headers a function may not set: they belong to the connection, or to the
 * platform (a function must not pass for the platform in `x-brisk-fault`).
 */
const RESERVED_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', ACTIVATION_HEADER, FAULT_HEADER, VERSION_HEADER]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Where a web request came in, for the event's `requestContext`. */
export interface HttpEventSource {
  /** The path below the function or the `/http` prefix. */
  subPath: string;
  /** The activation the request becomes (the event's `requestId`). */
  activationId: string;
  namespace: string;
  params?: Record<string, string>;
}

/** Build the event from a raw request whose body was read as a Buffer. */
export function toHttpEvent(req: Request, src: HttpEventSource): HttpEvent {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const contentType = req.headers['content-type'] ?? '';
  const isText = raw.length === 0 || TEXT_TYPES.test(contentType);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'authorization') continue; // the platform's credential is not the function's business
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const url = req.originalUrl;
  const q = url.indexOf('?');
  const rawQueryString = q === -1 ? '' : url.slice(q + 1);
  const query: Record<string, string | string[]> = {};
  const single: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    single[k] = single[k] === undefined ? v : `${single[k]},${v}`;
  }
  const cookies = (headers['cookie'] ?? '').split(';').map((c) => c.trim()).filter((c) => c !== '');
  const host = headers['host'] ?? 'localhost';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: src.subPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(rawQueryString !== '' ? { queryStringParameters: single } : {}),
    ...(src.params ? { pathParameters: src.params } : {}),
    requestContext: {
      accountId: src.namespace,
      apiId: src.namespace,
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: req.method,
        path: src.subPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: src.activationId,
      routeKey: '$default',
      stage: '$default',
      time: awsTime(now),
      timeEpoch: now.getTime(),
    },
    body: isText ? raw.toString('utf8') : raw.toString('base64'),
    isBase64Encoded: !isText,
    method: req.method,
    path: src.subPath,
    query,
    ...(src.params ? { params: src.params } : {}),
  };
}

/** `01/Dec/2026:08:26:00 +0000`: the CLF time AWS puts in `requestContext.time`. */
function awsTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

interface WebResult {
  statusCode?: unknown;
  headers?: unknown;
  multiValueHeaders?: unknown;
  cookies?: unknown;
  body?: unknown;
  isBase64Encoded?: unknown;
}

/**
 * Turn a function's result into the HTTP response, as Lambda function URLs
 * (payload 2.0) do. `{ statusCode, headers?, multiValueHeaders?, cookies?,
 * body?, isBase64Encoded? }` is honoured: a status of 200–599 only, headers
 * checked against injection, `cookies` and repeated `multiValueHeaders`
 * values sent as separate header lines, a non-string `body` as JSON. Any
 * other result is the body itself with status 200: a string as it is,
 * anything else as JSON. A body without a `content-type` is sent as
 * `application/json`, Lambda's default.
 */
export function sendWebResult(res: Response, r: InvocationResult): void {
  if (sendOutcomeError(res, r)) return;
  const json = r.resultJson ?? 'null';
  const value = JSON.parse(json) as unknown;
  if (!isWebResult(value)) {
    const body = typeof value === 'string' ? value : json;
    send(res, 200, new Map([['content-type', { name: 'content-type', values: ['application/json'] }]]), Buffer.from(body, 'utf8'));
    return;
  }
  const status = value.statusCode === undefined ? 200 : Number(value.statusCode);
  // 1xx are interim answers: sent as the response, they leave the client waiting for one that never comes.
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw invalid(`statusCode ${String(value.statusCode)} is not a final HTTP status (200-599)`);
  }
  const headers = collectHeaders(value);
  let body: Buffer;
  if (value.body === undefined || value.body === null) body = Buffer.alloc(0);
  else if (typeof value.body === 'string') body = Buffer.from(value.body, value.isBase64Encoded === true ? 'base64' : 'utf8');
  else body = Buffer.from(JSON.stringify(value.body), 'utf8');
  if (body.length > 0 && !headers.has('content-type')) headers.set('content-type', { name: 'content-type', values: ['application/json'] });
  send(res, status, headers, body);
}

type HeaderLines = Map<string, { name: string; values: string[] }>;

/** Write the response as built: no charset, ETag or 304 added by Express on the way. */
function send(res: Response, status: number, headers: HeaderLines, body: Buffer): void {
  res.status(status);
  for (const { name, values } of headers.values()) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
  // An empty body is left to Node, which frames it as it would for the app itself (no length on a 204).
  if (body.length === 0) {
    res.end();
    return;
  }
  res.setHeader('content-length', body.length);
  res.end(body);
}

function isWebResult(v: unknown): v is WebResult {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'statusCode' in v;
}

function invalid(message: string): PlatformError {
  return new PlatformError('INVALID_FUNCTION_RESPONSE', message, { status: 502, retryable: false, data: FUNCTION_FAULT });
}

/** `headers`, `multiValueHeaders` and `cookies`, checked, by lower-case name (reserved names dropped). */
function collectHeaders(value: WebResult): HeaderLines {
  const out: HeaderLines = new Map();
  const add = (name: string, raw: unknown): void => {
    const v = String(raw);
    if (!TOKEN.test(name) || !SAFE_VALUE.test(v)) throw invalid(`header '${name.slice(0, 40)}' has characters that are not allowed`);
    const key = name.toLowerCase();
    if (RESERVED_HEADERS.has(key)) return;
    const line = out.get(key);
    if (line === undefined) out.set(key, { name, values: [v] });
    else if (!line.values.includes(v)) line.values.push(v);
  };
  for (const [k, v] of Object.entries(asObject(value.headers, 'headers'))) add(k, v);
  for (const [k, v] of Object.entries(asObject(value.multiValueHeaders, 'multiValueHeaders'))) {
    for (const one of Array.isArray(v) ? v : [v]) add(k, one);
  }
  if (value.cookies !== undefined && value.cookies !== null) {
    if (!Array.isArray(value.cookies)) throw invalid('cookies must be an array of strings');
    for (const c of value.cookies) add('set-cookie', c);
  }
  return out;
}

function asObject(h: unknown, what: string): Record<string, unknown> {
  if (h === undefined || h === null) return {};
  if (typeof h !== 'object' || Array.isArray(h)) throw invalid(`${what} must be an object`);
  return h as Record<string, unknown>;
}

/**
 * The 401 every caller without a key of the namespace gets, whether the
 * function is private or does not exist: the two must not be told apart,
 * or anyone could list another tenant's private functions (or routes).
 */
export function keyNeeded(): AuthError {
  return new AuthError('UNAUTHORIZED', 'this endpoint needs an API key of its namespace, unless it is public');
}

/**
 * The namespace a web request addresses and whether the caller may call a
 * non-public function there: `/fn/…` means the caller key's namespace (or
 * `default` without a key); `/ns/{ns}/fn/…` names it.
 */
export async function webNamespace(
  req: Request,
  pathNamespace: string,
  caller: (req: Request) => Promise<Principal | undefined>,
): Promise<{ namespace: string; authorized: boolean }> {
  if (pathNamespace !== '') assertNamespaceName(pathNamespace);
  const who = await caller(req).catch(() => undefined);
  const namespace = pathNamespace !== '' ? pathNamespace : (who?.namespace ?? DEFAULT_NAMESPACE);
  return { namespace, authorized: who !== undefined && (who.admin || who.namespace === namespace) };
}
