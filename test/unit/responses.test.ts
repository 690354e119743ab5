import { describe, expect, it } from 'vitest';
import type { InvocationResult } from '../../core/types.js';
import { outcomeError } from '../../web/responses.js';
import { functionError, platformError } from '../../invocations/activation-records.js';

/** How an invocation's outcome (its tagged `error`) becomes the HTTP answer. */
const result = (over: Partial<InvocationResult>): InvocationResult => ({ activationId: 'a1', status: 'success', coldStart: false, durationMs: 1, ...over });

describe('outcomeError', () => {
  it('a function error keeps the body clients read: code, message and the function\'s own fields', () => {
    const e = outcomeError(result({ status: 'error', error: functionError('TypeError', 'x is undefined', 'at f (index.js:1)') }));
    expect(e).toEqual({
      status: 500,
      fault: 'function',
      body: { error: { code: 'FUNCTION_ERROR', message: 'x is undefined', errorType: 'TypeError', errorMessage: 'x is undefined', stack: 'at f (index.js:1)' } },
    });
    expect(outcomeError(result({ status: 'timeout', error: functionError('TimeoutError', 'ran past 100 ms') }))).toMatchObject({
      status: 504,
      body: { error: { code: 'FUNCTION_TIMEOUT', message: 'ran past 100 ms' } },
    });
  });

  it('a platform error answers with its own code; throttled is 429; a function deleted while the call waited is 404', () => {
    expect(outcomeError(result({ status: 'platform_error', error: platformError('EXECUTOR_LOST', 'gone') }))).toEqual({
      status: 502,
      fault: 'platform',
      body: { error: { code: 'EXECUTOR_LOST', message: 'gone' } },
    });
    expect(outcomeError(result({ status: 'throttled', error: platformError('CONCURRENCY_LIMIT', 'limit') }))?.status).toBe(429);
    expect(outcomeError(result({ status: 'platform_error', error: platformError('FUNCTION_VERSION_NOT_FOUND', 'deleted') }))).toMatchObject({
      status: 404,
      fault: 'platform',
      body: { error: { code: 'FUNCTION_VERSION_NOT_FOUND' } },
    });
    expect(outcomeError(result({ status: 'success' }))).toBeUndefined();
  });
});
