import type { ServerResponse } from 'node:http';
import type { InvocationResult } from '../core/types.js';

/**
 * How an invocation's outcome becomes an HTTP response. Function faults and
 * platform faults are told apart by status, by `error.code` and by the
 * `x-brisk-fault` header (`function` or `platform`):
 *
 * | outcome            | status | error.code          | x-brisk-fault |
 * |--------------------|--------|---------------------|---------------|
 * | success            | 200    | —                   | —             |
 * | function threw     | 500    | FUNCTION_ERROR      | function      |
 * | function timed out | 504    | FUNCTION_TIMEOUT    | function      |
 * | out of memory      | 500    | FUNCTION_OOM        | function      |
 * | platform fault     | 502    | (platform code)     | platform      |
 * | throttled          | 429    | (platform code)     | platform      |
 * | function deleted while the call waited | 404 | FUNCTION_VERSION_NOT_FOUND | platform |
 */
export const ACTIVATION_HEADER = 'x-brisk-activation-id';
export const FAULT_HEADER = 'x-brisk-fault';
/** The version an invoke ran (the one an alias routed the call to). */
export const VERSION_HEADER = 'x-brisk-version';

/** The `error` of a failed invocation's response body. */
export interface OutcomeErrorBody {
  code: string;
  message: string;
  /** A function error's own fields (`FUNCTION_ERROR`). */
  errorType?: string;
  errorMessage?: string;
  stack?: string;
}

export interface OutcomeError {
  status: number;
  body: { error: OutcomeErrorBody };
  fault: 'function' | 'platform';
}

/** Undefined when the invocation succeeded. */
export function outcomeError(r: InvocationResult): OutcomeError | undefined {
  const fnErr = r.error?.kind === 'function' ? r.error : undefined;
  const platformErr = r.error?.kind === 'platform' ? r.error : undefined;
  switch (r.status) {
    case 'success':
      return undefined;
    case 'error':
      return {
        status: 500,
        fault: 'function',
        body: {
          error: {
            code: 'FUNCTION_ERROR',
            message: fnErr?.errorMessage ?? 'function error',
            ...(fnErr !== undefined ? { errorType: fnErr.errorType, errorMessage: fnErr.errorMessage } : {}),
            ...(fnErr?.stack !== undefined ? { stack: fnErr.stack } : {}),
          },
        },
      };
    case 'timeout':
      return { status: 504, fault: 'function', body: { error: { code: 'FUNCTION_TIMEOUT', message: fnErr?.errorMessage ?? 'function timed out' } } };
    case 'oom':
      return { status: 500, fault: 'function', body: { error: { code: 'FUNCTION_OOM', message: fnErr?.errorMessage ?? 'function ran out of memory' } } };
    default: {
      const code = platformErr?.code ?? 'PLATFORM_ERROR';
      return {
        status: r.status === 'throttled' ? 429 : code === 'FUNCTION_VERSION_NOT_FOUND' ? 404 : 502,
        fault: 'platform',
        body: { error: { code, message: platformErr?.message ?? 'platform error' } },
      };
    }
  }
}

/**
 * Send the error of a failed invocation, if it failed. Returns true when it
 * did (the response is then complete).
 */
export function sendOutcomeError(res: ServerResponse, r: InvocationResult): boolean {
  res.setHeader(ACTIVATION_HEADER, r.activationId);
  const err = outcomeError(r);
  if (!err) return false;
  res.setHeader(FAULT_HEADER, err.fault);
  // A throttled call may succeed a moment later: the limit frees as runs end.
  if (err.status === 429) res.setHeader('retry-after', '1');
  sendJsonText(res, err.status, JSON.stringify(err.body));
  return true;
}

/** Send the outcome of a sync invoke: the function's JSON result as is, or the error body. */
export function sendOutcome(res: ServerResponse, r: InvocationResult): void {
  if (sendOutcomeError(res, r)) return;
  sendJsonText(res, 200, r.resultJson ?? 'null');
}

/**
 * JSON text with the headers Express's `res.json()` gives it, on any Node
 * response (the invoke route also answers outside Express: routes/invoke.ts).
 */
export function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
