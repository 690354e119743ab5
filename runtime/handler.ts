/**
 * Handler resolution and invocation for the runtime server. Pure functions with
 * no side effects on import, so unit tests can load them directly; the server
 * (`runtime/server.ts`) bundles them.
 *
 * Supported styles, after AWS Lambda and Apache OpenWhisk:
 * - `export const handler = async (event, context) => result` (or a sync return)
 * - CommonJS `exports.handler = …`: esbuild's ESM bundle of a CJS module puts
 *   `module.exports` on the `default` export, so we look there too
 * - callback style `handler(event, context, callback)`, detected by `fn.length >= 3`
 * - OpenWhisk `main(params)` (called like a Lambda handler; the context is extra)
 */
import { DEFAULT_MAX_RESULT_BYTES, ERROR_TRUNCATED_MARKER, MAX_ERROR_BYTES, RESULT_TOO_LARGE, truncateUtf8 } from './protocol.js';

/** How a resolved handler is called. */
export type HandlerStyle = 'promise' | 'callback';

export interface ResolvedHandler {
  fn: (...args: unknown[]) => unknown;
  style: HandlerStyle;
  /** The export name actually found (may differ from the configured one after fallback). */
  exportName: string;
  /** Where it was found: a named ESM export or a property of the CJS `default` export. */
  source: 'named' | 'default';
}

/** Export names tried after the configured one, in order. */
export const FALLBACK_EXPORTS: readonly string[] = ['handler', 'main'];

type Callable = (...args: unknown[]) => unknown;

function isCallable(v: unknown): v is Callable {
  return typeof v === 'function';
}

function isObjectLike(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' && v !== null) || typeof v === 'function';
}

function getProp(obj: unknown, key: string): unknown {
  if (!isObjectLike(obj)) return undefined;
  try {
    return obj[key];
  } catch {
    // A throwing getter on a user module is not a handler.
    return undefined;
  }
}

function resolved(fn: Callable, exportName: string, source: ResolvedHandler['source']): ResolvedHandler {
  return { fn, exportName, source, style: fn.length >= 3 ? 'callback' : 'promise' };
}

/**
 * Find the function to call in an imported module namespace. The configured
 * `exportName` wins; then `handler`, then `main`; each as a named export first,
 * then on the CJS `default` object. Last resort: a `default` export that is
 * itself a function (`module.exports = async (event) => …`). Returns undefined
 * when nothing callable is found.
 */
export function resolveHandler(mod: unknown, exportName: string): ResolvedHandler | undefined {
  const names = [exportName, ...FALLBACK_EXPORTS.filter((n) => n !== exportName)].filter((n) => n.length > 0);
  const dflt = getProp(mod, 'default');
  for (const name of names) {
    const named = getProp(mod, name);
    if (isCallable(named)) return resolved(named, name, 'named');
    const fromDefault = name === 'default' ? undefined : getProp(dflt, name);
    if (isCallable(fromDefault)) return resolved(fromDefault, name, 'default');
  }
  if (isCallable(dflt)) return resolved(dflt, 'default', 'named');
  return undefined;
}

/** The names a module exposes, for a readable HANDLER_NOT_FOUND message. */
export function describeExports(mod: unknown): string[] {
  const out: string[] = [];
  if (!isObjectLike(mod)) return out;
  for (const key of Object.keys(mod)) {
    out.push(key);
    if (key === 'default') {
      const d = getProp(mod, 'default');
      if (isObjectLike(d) && !isCallable(d)) for (const k of Object.keys(d)) out.push(`default.${k}`);
    }
  }
  return out;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return isObjectLike(v) && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Call a resolved handler and settle with its result. A promise handler's
 * return value (or its resolution) is the result; a callback handler settles on
 * the first of `callback(err, result)` or a returned promise (as Lambda does).
 * Legacy `context.done/succeed/fail` are wired to the same settlement.
 * Synchronous throws become rejections.
 */
export function invokeHandler(h: ResolvedHandler, event: unknown, context: Record<string, unknown>): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const done = (err: unknown, result?: unknown): void => {
      if (settled) return;
      settled = true;
      // Lambda treats any non-null first callback argument as the error.
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context['done'] = done;
    context['succeed'] = (result: unknown) => done(null, result);
    context['fail'] = (err: unknown) => done(err ?? new Error('context.fail called'));
    let ret: unknown;
    try {
      ret = h.style === 'callback' ? h.fn(event, context, done) : h.fn(event, context);
    } catch (err) {
      done(err);
      return;
    }
    if (isThenable(ret)) {
      ret.then(
        (v) => {
          // A callback-style handler that is also `async` resolves with undefined
          // before it calls back; only a defined value settles it then.
          if (h.style === 'callback' && v === undefined) return;
          done(null, v);
        },
        (err: unknown) => done(err ?? new Error('handler rejected with no reason')),
      );
    } else if (h.style === 'promise') {
      done(null, ret);
    }
  });
}

/** The wire shape of a function error. */
export interface FunctionErrorBody {
  errorType: string;
  errorMessage: string;
  stack?: string;
}

/**
 * Normalise anything a function threw into the wire error shape. Message and
 * stack are each cut to {@link MAX_ERROR_BYTES} (the stack repeats the message,
 * so a thrown 20 MB message would otherwise travel twice, to the caller and
 * into the record).
 */
export function toFunctionError(err: unknown): FunctionErrorBody {
  const e = describeThrown(err);
  return {
    errorType: truncateUtf8(e.errorType, 256, ERROR_TRUNCATED_MARKER),
    errorMessage: truncateUtf8(e.errorMessage, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER),
    ...(e.stack !== undefined ? { stack: truncateUtf8(e.stack, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER) } : {}),
  };
}

function describeThrown(err: unknown): FunctionErrorBody {
  if (err instanceof Error) {
    const errorType = err.name && err.name !== 'Error' ? err.name : err.constructor?.name || 'Error';
    return { errorType: String(errorType), errorMessage: String(err.message), ...(typeof err.stack === 'string' ? { stack: err.stack } : {}) };
  }
  if (isObjectLike(err)) {
    const msg = getProp(err, 'message') ?? getProp(err, 'errorMessage');
    const type = getProp(err, 'name') ?? getProp(err, 'errorType');
    let text: string;
    try {
      text = typeof msg === 'string' ? msg : JSON.stringify(err);
    } catch {
      text = String(err);
    }
    return { errorType: typeof type === 'string' ? type : 'Error', errorMessage: text };
  }
  return { errorType: typeof err === 'string' ? 'Error' : typeof err, errorMessage: String(err) };
}

/**
 * Serialise a result once. `undefined` (and anything JSON drops, like a bare
 * function) becomes `"null"`; cycles and BigInts are reported as an error, and
 * so is a result whose JSON is over `maxBytes` ({@link RESULT_TOO_LARGE}): it
 * would have to travel whole through the bus and into the activation record.
 */
export function serializeResult(
  result: unknown,
  maxBytes = DEFAULT_MAX_RESULT_BYTES,
): { ok: true; json: string } | { ok: false; error: FunctionErrorBody } {
  let json: string | undefined;
  try {
    json = JSON.stringify(result);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      error: { errorType: 'ResultNotSerializable', errorMessage: truncateUtf8(`the function's result is not JSON-serialisable: ${msg}`, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER) },
    };
  }
  if (json === undefined) return { ok: true, json: 'null' };
  // Bytes are counted only when the text could be over the cap (a UTF-16 unit is at most 3 bytes).
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > maxBytes) {
      return {
        ok: false,
        error: { errorType: RESULT_TOO_LARGE, errorMessage: `the function's result is ${bytes} bytes of JSON; the limit is ${maxBytes}` },
      };
    }
  }
  return { ok: true, json };
}
