import type { Request, Response } from 'express';
import { PlatformError } from '../core/errors.js';
import type { InvocationResult } from '../core/types.js';
import { ACTIVATION_HEADER, sendOutcomeError } from './responses.js';

/** The event a function receives when called as a web endpoint (`/fn/{name}/…`). */
export interface HttpEvent {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
  params?: Record<string, string>;
}

/** A bad web result is the function's fault, though the gateway reports it (502). */
const FUNCTION_FAULT = { fault: 'function' };

const TEXT_TYPES = /^(text\/|application\/(json|xml|x-www-form-urlencoded|javascript|graphql)|[^;]*\+(json|xml))/i;
/** Headers a function may not set: they belong to the connection or to the platform. */
const RESERVED_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', ACTIVATION_HEADER]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Build the event from a raw request whose body was read as a Buffer. */
export function toHttpEvent(req: Request, subPath: string, params?: Record<string, string>): HttpEvent {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const contentType = req.headers['content-type'] ?? '';
  const isText = raw.length === 0 || TEXT_TYPES.test(contentType);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'authorization') continue; // the platform's credential is not the function's business
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URL(req.originalUrl, 'http://x').searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return {
    method: req.method,
    path: subPath,
    query,
    headers,
    body: isText ? raw.toString('utf8') : raw.toString('base64'),
    isBase64Encoded: !isText,
    ...(params ? { params } : {}),
  };
}

interface WebResult {
  statusCode?: unknown;
  headers?: unknown;
  body?: unknown;
  isBase64Encoded?: unknown;
}

/**
 * Turn a function's result into the HTTP response: `{ statusCode, headers,
 * body, isBase64Encoded? }` is honoured (headers checked against injection);
 * any other result is sent as JSON with 200.
 */
export function sendWebResult(res: Response, r: InvocationResult): void {
  if (sendOutcomeError(res, r)) return;
  const json = r.resultJson ?? 'null';
  const value = JSON.parse(json) as unknown;
  if (!isWebResult(value)) {
    res.status(200).type('application/json').send(json);
    return;
  }
  const status = value.statusCode === undefined ? 200 : Number(value.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new PlatformError('INVALID_FUNCTION_RESPONSE', `statusCode ${String(value.statusCode)} is not an HTTP status`, { status: 502, retryable: false, data: FUNCTION_FAULT });
  }
  const headers = checkHeaders(value.headers);
  let body: Buffer | string;
  if (value.body === undefined || value.body === null) body = '';
  else if (typeof value.body === 'string') body = value.isBase64Encoded === true ? Buffer.from(value.body, 'base64') : value.body;
  else {
    body = JSON.stringify(value.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  res.status(status);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.send(body);
}

function isWebResult(v: unknown): v is WebResult {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'statusCode' in v;
}

function checkHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined || h === null) return out;
  if (typeof h !== 'object' || Array.isArray(h)) {
    throw new PlatformError('INVALID_FUNCTION_RESPONSE', 'headers must be an object', { status: 502, retryable: false, data: FUNCTION_FAULT });
  }
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    const value = String(v);
    if (!TOKEN.test(k) || !SAFE_VALUE.test(value)) {
      throw new PlatformError('INVALID_FUNCTION_RESPONSE', `header '${k.slice(0, 40)}' has characters that are not allowed`, {
        status: 502,
        retryable: false,
        data: FUNCTION_FAULT,
      });
    }
    if (!RESERVED_HEADERS.has(k.toLowerCase())) out[k] = value;
  }
  return out;
}
