import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { invokeHandler, resolveHandler, serializeResult, toFunctionError } from '../../runtime/handler.js';
import { DEFAULT_MAX_RESULT_BYTES, ERROR_TRUNCATED_MARKER, MAX_ERROR_BYTES, RESULT_TOO_LARGE, truncateUtf8 } from '../../runtime/protocol.js';

const ctx = (): Record<string, unknown> => ({ activationId: 'a1' });

describe('resolveHandler', () => {
  it('finds a named ESM export (Lambda style)', () => {
    const handler = async (event: unknown) => event;
    const h = resolveHandler({ handler }, 'handler');
    expect(h).toMatchObject({ exportName: 'handler', source: 'named', style: 'promise' });
    expect(h?.fn).toBe(handler);
  });

  it('prefers the configured export over the fallbacks', () => {
    const custom = () => 'custom';
    const mod = { handler: () => 'handler', main: () => 'main', custom };
    expect(resolveHandler(mod, 'custom')?.fn).toBe(custom);
    expect(resolveHandler(mod, 'main')?.exportName).toBe('main');
  });

  it('falls back to handler, then main (OpenWhisk)', () => {
    const main = (params: unknown) => params;
    expect(resolveHandler({ main }, 'handler')).toMatchObject({ exportName: 'main', style: 'promise' });
    expect(resolveHandler({ main }, 'doesNotExist')?.fn).toBe(main);
    const handler = () => 1;
    expect(resolveHandler({ main, handler }, 'doesNotExist')?.fn).toBe(handler);
  });

  it('finds CommonJS exports.handler on the default export (esbuild ESM of CJS)', () => {
    const handler = async () => 'cjs';
    const h = resolveHandler({ default: { handler } }, 'handler');
    expect(h).toMatchObject({ exportName: 'handler', source: 'default' });
    expect(h?.fn).toBe(handler);
  });

  it('accepts module.exports = function as a last resort', () => {
    const fn = async () => 'whole module';
    expect(resolveHandler({ default: fn }, 'handler')).toMatchObject({ exportName: 'default', fn });
  });

  it('detects callback style by arity', () => {
    const h = resolveHandler({ handler: (_e: unknown, _c: unknown, _cb: unknown) => undefined }, 'handler');
    expect(h?.style).toBe('callback');
  });

  it('returns undefined when nothing callable is exported', () => {
    expect(resolveHandler({ handler: 42, other: () => 1 }, 'handler')).toBeUndefined();
    expect(resolveHandler({ default: { notAHandler: 1 } }, 'handler')).toBeUndefined();
    expect(resolveHandler({}, 'handler')).toBeUndefined();
    expect(resolveHandler(undefined, 'handler')).toBeUndefined();
  });

  it('survives a throwing getter on the module', () => {
    const mod = Object.defineProperty({}, 'handler', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(resolveHandler(mod, 'handler')).toBeUndefined();
  });
});

describe('invokeHandler', () => {
  it('passes event and context and resolves with an async result', async () => {
    const h = resolveHandler({ handler: async (e: { n: number }, c: { activationId: string }) => ({ n: e.n + 1, id: c.activationId }) }, 'handler')!;
    await expect(invokeHandler(h, { n: 1 }, ctx())).resolves.toEqual({ n: 2, id: 'a1' });
  });

  it('resolves with a synchronous return value', async () => {
    const h = resolveHandler({ main: (p: { a: number }) => ({ doubled: p.a * 2 }) }, 'main')!;
    await expect(invokeHandler(h, { a: 21 }, ctx())).resolves.toEqual({ doubled: 42 });
  });

  it('settles callback style through the callback', async () => {
    const ok = resolveHandler({ handler: (e: number, _c: unknown, cb: (err: unknown, r?: unknown) => void) => setTimeout(() => cb(null, e * 3), 5) }, 'handler')!;
    await expect(invokeHandler(ok, 2, ctx())).resolves.toBe(6);
    const bad = resolveHandler({ handler: (_e: unknown, _c: unknown, cb: (err: unknown) => void) => cb(new TypeError('nope')) }, 'handler')!;
    await expect(invokeHandler(bad, 1, ctx())).rejects.toThrow(TypeError);
  });

  it('does not settle an async callback-style handler on its undefined resolution', async () => {
    const h = resolveHandler({
      handler: async (_e: unknown, _c: unknown, cb: (err: unknown, r?: unknown) => void) => {
        setTimeout(() => cb(null, 'from callback'), 5);
      },
    }, 'handler')!;
    await expect(invokeHandler(h, {}, ctx())).resolves.toBe('from callback');
  });

  it('turns sync throws and rejections into rejections', async () => {
    const sync = resolveHandler({ handler: () => { throw new RangeError('sync'); } }, 'handler')!;
    await expect(invokeHandler(sync, {}, ctx())).rejects.toThrow('sync');
    const rejected = resolveHandler({ handler: async () => { throw new Error('async'); } }, 'handler')!;
    await expect(invokeHandler(rejected, {}, ctx())).rejects.toThrow('async');
  });

  it('supports legacy context.succeed / context.fail', async () => {
    const h = resolveHandler({ handler: (_e: unknown, c: { succeed: (r: unknown) => void }) => { c.succeed('legacy'); } }, 'handler')!;
    // succeed() runs inside the call, before the undefined return value is looked at: it wins.
    await expect(invokeHandler(h, {}, ctx())).resolves.toBe('legacy');
    const cb = resolveHandler({ handler: (_e: unknown, c: { fail: (e: unknown) => void }, _cb: unknown) => { c.fail(new Error('legacy fail')); } }, 'handler')!;
    await expect(invokeHandler(cb, {}, ctx())).rejects.toThrow('legacy fail');
  });
});

describe('toFunctionError / serializeResult', () => {
  it('keeps type, message and stack of errors, including subclasses', () => {
    class PaymentError extends Error {}
    const e = toFunctionError(new PaymentError('declined'));
    expect(e).toMatchObject({ errorType: 'PaymentError', errorMessage: 'declined' });
    expect(e.stack).toContain('declined');
    expect(toFunctionError(new TypeError('t')).errorType).toBe('TypeError');
  });

  it('describes non-Error throws', () => {
    expect(toFunctionError('plain string')).toEqual({ errorType: 'Error', errorMessage: 'plain string' });
    expect(toFunctionError({ code: 1 })).toEqual({ errorType: 'Error', errorMessage: '{"code":1}' });
    expect(toFunctionError(undefined)).toEqual({ errorType: 'undefined', errorMessage: 'undefined' });
  });

  it('serialises results; undefined becomes null', () => {
    expect(serializeResult({ a: [1, 'x'] })).toEqual({ ok: true, json: '{"a":[1,"x"]}' });
    expect(serializeResult(undefined)).toEqual({ ok: true, json: 'null' });
    expect(serializeResult('s')).toEqual({ ok: true, json: '"s"' });
  });

  it('reports cycles and BigInts as ResultNotSerializable', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const a = serializeResult(cyclic);
    const b = serializeResult({ n: 10n });
    expect(a.ok).toBe(false);
    expect(b.ok).toBe(false);
    if (!a.ok) expect(a.error.errorType).toBe('ResultNotSerializable');
    if (!b.ok) expect(b.error.errorMessage).toMatch(/BigInt/i);
  });
});

describe('result and error caps (security probe F2)', () => {
  it('refuses a result whose JSON is over the cap with ResultTooLarge, counting UTF-8 bytes', () => {
    expect(serializeResult('x'.repeat(100), 102)).toEqual({ ok: true, json: `"${'x'.repeat(100)}"` });
    const over = serializeResult('x'.repeat(101), 102);
    expect(over).toMatchObject({ ok: false, error: { errorType: RESULT_TOO_LARGE } });
    // 40 euro signs are 120 bytes of UTF-8 (+2 quotes) though only 42 UTF-16 units.
    expect(serializeResult('€'.repeat(40), 121)).toMatchObject({ ok: false, error: { errorType: RESULT_TOO_LARGE } });
    expect(serializeResult('€'.repeat(40), 122)).toMatchObject({ ok: true });
    expect(serializeResult('x'.repeat(DEFAULT_MAX_RESULT_BYTES))).toMatchObject({ ok: false, error: { errorType: RESULT_TOO_LARGE } });
  });

  it('cuts a huge thrown message, its stack and its type to the error cap, with a marker', () => {
    const err = new Error('m'.repeat(20 * 1024 * 1024));
    err.name = 'N'.repeat(10_000);
    const e = toFunctionError(err);
    expect(Buffer.byteLength(e.errorMessage)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    expect(e.errorMessage.endsWith(ERROR_TRUNCATED_MARKER)).toBe(true);
    expect(Buffer.byteLength(e.stack ?? '')).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    expect(e.errorType.length).toBeLessThanOrEqual(256);
    expect(toFunctionError({ message: '€'.repeat(100_000) }).errorMessage.endsWith(ERROR_TRUNCATED_MARKER)).toBe(true);
    // Short text is untouched.
    expect(toFunctionError(new RangeError('short'))).toMatchObject({ errorType: 'RangeError', errorMessage: 'short' });
  });

  it('truncateUtf8 never splits a character and counts the marker in the cap', () => {
    expect(truncateUtf8('abc', 3, '!')).toBe('abc');
    expect(truncateUtf8('abcd', 3, '!')).toBe('ab!');
    const cut = truncateUtf8('€€€€', 7, '');
    expect(cut).toBe('€€');
    expect(Buffer.byteLength(truncateUtf8('€'.repeat(1000), 100, ERROR_TRUNCATED_MARKER))).toBeLessThanOrEqual(100);
  });

  it('the runtime bundle does not carry zod (its schemas are the executor\'s)', async () => {
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [path.resolve(import.meta.dirname, '../../runtime/server.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    const text = out.outputFiles[0]!.text;
    expect(text).not.toMatch(/node_modules\/zod/);
    expect(text.length).toBeLessThan(200_000);
  });
});
