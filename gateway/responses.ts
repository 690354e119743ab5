import type { Response } from 'express';
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
 * | platform fault     | 502/503| (platform code)     | platform      |
 */
export const ACTIVATION_HEADER = 'x-brisk-activation-id';
export const FAULT_HEADER = 'x-brisk-fault';

export interface OutcomeError {
  status: number;
  body: { error: Record<string, unknown> & { code: string; message: string } };
  fault: 'function' | 'platform';
}

/** Undefined when the invocation succeeded. */
export function outcomeError(r: InvocationResult): OutcomeError | undefined {
  const e = (r.error ?? {}) as Record<string, unknown>;
  const fnBody = { errorType: e['errorType'], errorMessage: e['errorMessage'], stack: e['stack'] };
  switch (r.status) {
    case 'success':
      return undefined;
    case 'error':
      return {
        status: 500,
        fault: 'function',
        body: { error: { code: 'FUNCTION_ERROR', message: String(e['errorMessage'] ?? 'function error'), ...fnBody } },
      };
    case 'timeout':
      return {
        status: 504,
        fault: 'function',
        body: { error: { code: 'FUNCTION_TIMEOUT', message: String(e['errorMessage'] ?? 'function timed out') } },
      };
    case 'oom':
      return {
        status: 500,
        fault: 'function',
        body: { error: { code: 'FUNCTION_OOM', message: String(e['errorMessage'] ?? 'function ran out of memory') } },
      };
    default:
      return {
        status: r.status === 'throttled' ? 429 : 502,
        fault: 'platform',
        body: { error: { code: String(e['code'] ?? 'PLATFORM_ERROR'), message: String(e['message'] ?? 'platform error') } },
      };
  }
}

/**
 * Send the error of a failed invocation, if it failed. Returns true when it
 * did (the response is then complete).
 */
export function sendOutcomeError(res: Response, r: InvocationResult): boolean {
  res.setHeader(ACTIVATION_HEADER, r.activationId);
  const err = outcomeError(r);
  if (!err) return false;
  res.setHeader(FAULT_HEADER, err.fault);
  // A throttled call may succeed a moment later: the limit frees as runs end.
  if (err.status === 429) res.setHeader('retry-after', '1');
  res.status(err.status).json(err.body);
  return true;
}

/** Send the outcome of a sync invoke: the function's JSON result as is, or the error body. */
export function sendOutcome(res: Response, r: InvocationResult): void {
  if (sendOutcomeError(res, r)) return;
  res.status(200).type('application/json').send(r.resultJson ?? 'null');
}
