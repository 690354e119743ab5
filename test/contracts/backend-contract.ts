/**
 * The behaviour every {@link ExecutorBackend} must show, written against the
 * interface only: the same function code gives the same outcome, fault kind
 * and error code whatever runs it. Each backend's test file calls
 * `backendContract('ProcessBackend', makeBackend, { liveInstances })`.
 *
 * `makeBackend` returns a new, started backend each time (its own executor
 * id, socket directory …); the contract builds one for most cases and closes
 * it at the end, and one more to check `close()`. `liveInstances` counts what
 * a backend still runs (children, containers), from outside the backend.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildError, PlatformError } from '../../core/errors.js';
import { maxRunAnswerBytes } from '../../executor/runtime-client.js';
import { TAMPERING_FUNCTION } from '../fixtures/hostile-functions.js';
import { InstanceFailure, type ExecutorBackend, type Instance, type InstanceFault, type InstanceSpec, type RunAnswer } from '../../executor/types.js';
import {
  DEFAULT_MAX_RESULT_BYTES,
  ERROR_TRUNCATED_MARKER,
  LOG_TRUNCATED_MARKER,
  MAX_ERROR_BYTES,
  MAX_LOG_BYTES,
  RESULT_TOO_LARGE,
  type InitRequest,
} from '../../runtime/protocol.js';

export type MakeBackend = () => Promise<ExecutorBackend>;

/**
 * The contract's functions, written once per runtime: the same behaviour in
 * each language. A case whose source is absent is skipped for that runtime
 * (the tampering cases take over the Node runtime's own server; what they
 * check is the executor's client, the same for every runtime).
 */
export interface ContractSources {
  /** Logs `hi <n>` and returns `{ n: n + 1, fn: <function name> }`. */
  basic: string;
  /** Throws a `PaymentError('card declined')` when `event.fail`, else returns 'paid'. */
  functionError: string;
  /** Throws a `TypeError('bad top level')` at load. */
  throwsAtLoad: string;
  /** Defines no handler. */
  noHandler: string;
  /** Returns `value`. */
  returns: (value: number) => string;
  /** Never returns, burning CPU. */
  spins: string;
  /** The process exits with code 3 while the handler runs. */
  exits3: string;
  /** Allocates without bound. */
  eatsMemory: string;
  /** `big`: a result one byte over the default cap; `throwBig`: a 20 MB error message; else 'small'. */
  bigOutputs: string;
  tampering?: string;
}

export const NODE_SOURCES: ContractSources = {
  basic: `export const handler = async (e, ctx) => { console.log('hi', e.n); return { n: e.n + 1, fn: ctx.functionName }; };`,
  functionError: `class PaymentError extends Error {}\nexport const handler = async (e) => { if (e.fail) throw new PaymentError('card declined'); return 'paid'; };`,
  throwsAtLoad: `throw new TypeError('bad top level');`,
  noHandler: `export const notIt = 1;`,
  returns: (v) => `export const handler = () => ${v};`,
  spins: `export const handler = async () => { for (;;) {} };`,
  exits3: `export const handler = async () => { setTimeout(() => process.exit(3), 5); return new Promise(() => {}); };`,
  eatsMemory: `export const handler = async () => { const keep = []; for (;;) keep.push(new Array(100000).fill({ a: Math.random() })); };`,
  bigOutputs: `export const handler = async (e) => {
        if (e.big) return 'x'.repeat(${DEFAULT_MAX_RESULT_BYTES} + 1);
        if (e.throwBig) throw new Error('m'.repeat(20 * 1024 * 1024));
        return 'small';
      };`,
  tampering: TAMPERING_FUNCTION,
};

/** The same functions as Python users write them (runtime/python/brisk_runtime.py). */
export const PYTHON_SOURCES: ContractSources = {
  basic: `def handler(event, context):\n    print('hi', event['n'])\n    return {'n': event['n'] + 1, 'fn': context.function_name}\n`,
  functionError: `class PaymentError(Exception):\n    pass\n\ndef handler(event, context):\n    if event.get('fail'):\n        raise PaymentError('card declined')\n    return 'paid'\n`,
  throwsAtLoad: `raise TypeError('bad top level')\n`,
  noHandler: `not_it = 1\n`,
  returns: (v) => `def handler(event, context):\n    return ${v}\n`,
  spins: `def handler(event, context):\n    while True:\n        pass\n`,
  exits3: `import os\n\ndef handler(event, context):\n    os._exit(3)\n`,
  eatsMemory: `def handler(event, context):\n    keep = []\n    while True:\n        keep.append(b'x' * (8 * 1024 * 1024))\n`,
  bigOutputs: `def handler(event, context):\n    if event.get('big'):\n        return 'x' * (${DEFAULT_MAX_RESULT_BYTES} + 1)\n    if event.get('throwBig'):\n        raise Exception('m' * (20 * 1024 * 1024))\n    return 'small'\n`,
};

export interface BackendContractOptions {
  /** What `backend` still runs, counted from outside it (child pids alive, containers listed). */
  liveInstances(backend: ExecutorBackend): Promise<number>;
  /** False: every case is skipped (a service is missing outside CI). Default true. */
  enabled?: () => boolean;
  /** The runtime the instances run, and its functions. Default: Node.js ({@link NODE_SOURCES}). */
  runtime?: { name: 'nodejs' | 'python'; sources: ContractSources };
}

export function backendContract(name: string, makeBackend: MakeBackend, opts: BackendContractOptions): void {
  const runtime = opts.runtime?.name ?? 'nodejs';
  const src = opts.runtime?.sources ?? NODE_SOURCES;
  const tampering = src.tampering;
  describe(`ExecutorBackend contract: ${name} (${runtime})`, () => {
    let backend: ExecutorBackend;
    const enabled = (): boolean => opts.enabled?.() ?? true;
    const suffix = randomBytes(3).toString('hex');
    let seq = 0;

    beforeAll(async () => {
      if (enabled()) backend = await makeBackend();
    });
    afterAll(async () => {
      if (enabled()) await backend?.close();
    });

    function initReq(code: string, over: Partial<InitRequest> = {}): InitRequest {
      return {
        namespace: 'contract', name: 'fn', version: 1, code, exportName: 'handler', env: {}, timeoutMs: 10_000, memoryMb: 128,
        ...(runtime === 'python' ? { module: 'index' } : {}),
        ...over,
      };
    }
    const spec = (memoryMb = 128): InstanceSpec => ({ memoryMb, allowEgress: false, ...(runtime !== 'nodejs' ? { runtime } : {}) });
    async function loaded(code: string, over: Partial<InitRequest> = {}): Promise<Instance> {
      const inst = await backend.createInstance(spec(over.memoryMb ?? 128));
      await inst.init(initReq(code, over));
      return inst;
    }
    function run(inst: Instance, event: unknown, timeoutMs = 10_000): Promise<RunAnswer> {
      return inst.run({ activationId: `c-${suffix}-${++seq}`, payload: JSON.stringify(event), deadline: Date.now() + timeoutMs }, timeoutMs);
    }
    async function fault(p: Promise<unknown>): Promise<InstanceFault> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InstanceFailure);
      return (err as InstanceFailure).fault;
    }
    /** Runs `work` while sampling this process's memory; the peak growth of its buffers, in MiB. */
    async function peakBufferGrowthMb<T>(work: () => Promise<T>): Promise<{ value: T; mb: number }> {
      const base = process.memoryUsage().arrayBuffers;
      let peak = base;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      }, 5);
      try {
        const value = await work();
        return { value, mb: (Math.max(peak, process.memoryUsage().arrayBuffers) - base) / 2 ** 20 };
      } finally {
        clearInterval(timer);
      }
    }

    it('init then run: the result (parsed once), logs and duration; many runs on one instance', async () => {
      const inst = await loaded(src.basic);
      try {
        for (let n = 0; n < 3; n++) {
          const res = await run(inst, { n });
          expect(res).toMatchObject({ ok: true, resultJson: JSON.stringify({ n: n + 1, fn: 'fn' }), result: { n: n + 1, fn: 'fn' }, logs: [`hi ${n}`], logsTruncated: false });
          expect(res.durationMs).toBeGreaterThanOrEqual(0);
        }
      } finally {
        await inst.destroy();
      }
    });

    it('a pool pre-start (prestart: true, the runtime warms up first) loads and runs a function like any instance', async () => {
      const inst = await backend.createInstance(spec(), { prestart: true });
      try {
        await inst.init(initReq(src.basic));
        const res = await run(inst, { n: 4 });
        expect(res).toMatchObject({ ok: true, result: { n: 5, fn: 'fn' }, logs: ['hi 4'] });
      } finally {
        await inst.destroy();
      }
    });

    it('a function error is an answer (ok: false) with type, message and stack; the instance keeps serving', async () => {
      const inst = await loaded(src.functionError);
      try {
        const res = await run(inst, { fail: true });
        expect(res).toMatchObject({ ok: false, error: { errorType: 'PaymentError', errorMessage: 'card declined' } });
        expect(!res.ok && res.error.stack).toContain('card declined');
        expect(await run(inst, {})).toMatchObject({ ok: true, result: 'paid' });
      } finally {
        await inst.destroy();
      }
    });

    it('a load failure is a BuildError with the runtime\'s code: INIT_FAILED, HANDLER_NOT_FOUND', async () => {
      const a = await backend.createInstance(spec());
      const b = await backend.createInstance(spec());
      try {
        const thrown = await a.init(initReq(src.throwsAtLoad)).catch((e: unknown) => e);
        expect(thrown).toBeInstanceOf(BuildError);
        expect(thrown).toMatchObject({ code: 'INIT_FAILED', data: { errorType: 'TypeError', errorMessage: 'bad top level' } });
        const missing = await b.init(initReq(src.noHandler)).catch((e: unknown) => e);
        expect(missing).toBeInstanceOf(BuildError);
        expect(missing).toMatchObject({ code: 'HANDLER_NOT_FOUND', data: { errorType: 'HandlerNotFound' } });
      } finally {
        await Promise.all([a.destroy(), b.destroy()]);
      }
    });

    it('a second init is refused with ALREADY_INITIALIZED, and the first function keeps running', async () => {
      const inst = await loaded(src.returns(1));
      try {
        const again = await inst.init(initReq(src.returns(2))).catch((e: unknown) => e);
        expect(again).toBeInstanceOf(PlatformError);
        expect(again).toMatchObject({ code: 'ALREADY_INITIALIZED' });
        expect(await run(inst, {})).toMatchObject({ ok: true, result: 1 });
      } finally {
        await inst.destroy();
      }
    });

    it('past its deadline: kind timeout, fast, and later calls fail at once', async () => {
      const inst = await loaded(src.spins);
      const t0 = Date.now();
      expect(await fault(run(inst, {}, 500))).toEqual({ kind: 'timeout' });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await fault(run(inst, {}))).toBeDefined();
      await inst.destroy();
    });

    it('the process exiting mid-run: kind crash with its exit code', async () => {
      const inst = await loaded(src.exits3);
      expect(await fault(run(inst, {}))).toEqual({ kind: 'crash', exitCode: 3, signal: null });
      await inst.destroy();
    });

    it('heap exhaustion: kind oom', async () => {
      const inst = await loaded(src.eatsMemory, { memoryMb: 64 });
      expect(await fault(run(inst, {}, 30_000))).toEqual({ kind: 'oom' });
      await inst.destroy();
    });

    it.skipIf(tampering === undefined)('an answer that is not JSON: kind garbled, and the instance is retired', async () => {
      const inst = await loaded(tampering ?? '');
      expect(await fault(run(inst, { mode: 'text' }))).toMatchObject({ kind: 'garbled' });
      expect(await fault(run(inst, {}))).toBeDefined();
      await inst.destroy();
    });

    it.skipIf(tampering === undefined)('a 400 MB answer streamed by a function that took over its runtime: kind oversized, read no further, this process stays small', async () => {
      const inst = await loaded(tampering ?? '');
      const t0 = Date.now();
      const { value: f, mb } = await peakBufferGrowthMb(() => fault(run(inst, { mode: 'flood', mb: 400 }, 60_000)));
      expect(f).toEqual({ kind: 'oversized', limitBytes: maxRunAnswerBytes(DEFAULT_MAX_RESULT_BYTES) });
      // Reading stopped at the cap (~14 MiB), not at 400 MiB.
      expect(mb).toBeLessThan(64);
      expect(Date.now() - t0).toBeLessThan(10_000);
      // Retired: it serves no one again.
      expect(await fault(run(inst, {}))).toBeDefined();
      await inst.destroy();
      // The backend still serves.
      const next = await loaded(src.returns(7));
      expect(await run(next, {})).toMatchObject({ ok: true, result: 7 });
      await next.destroy();
    });

    it.skipIf(tampering === undefined)('logs over the cap in a tampered answer are cut to it; over the whole answer\'s cap they are oversized', async () => {
      const inst = await loaded(tampering ?? '');
      const res = await run(inst, { mode: 'logs', mb: 3 });
      expect(res).toMatchObject({ ok: true, result: 1, logsTruncated: true });
      expect(res.logs.at(-1)).toBe(LOG_TRUNCATED_MARKER);
      expect(Buffer.byteLength(res.logs.slice(0, -1).join('\n'))).toBeLessThanOrEqual(MAX_LOG_BYTES);
      await inst.destroy();
      const flood = await loaded(tampering ?? '');
      expect(await fault(run(flood, { mode: 'logs', mb: 30 }))).toMatchObject({ kind: 'oversized' });
      await flood.destroy();
    });

    it('the runtime refuses a result over the cap (ResultTooLarge) and cuts a huge error message; the instance keeps serving', async () => {
      const inst = await loaded(src.bigOutputs);
      try {
        const big = await run(inst, { big: true });
        expect(big).toMatchObject({ ok: false, error: { errorType: RESULT_TOO_LARGE } });
        const thrown = await run(inst, { throwBig: true });
        expect(thrown.ok).toBe(false);
        if (thrown.ok) return;
        expect(Buffer.byteLength(thrown.error.errorMessage)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
        expect(thrown.error.errorMessage.endsWith(ERROR_TRUNCATED_MARKER)).toBe(true);
        expect(Buffer.byteLength(thrown.error.stack ?? '')).toBeLessThanOrEqual(MAX_ERROR_BYTES);
        expect(await run(inst, {})).toMatchObject({ ok: true, result: 'small' });
      } finally {
        await inst.destroy();
      }
    });

    it('destroy is idempotent; close() leaves no instances and refuses new ones', async () => {
      const own = await makeBackend();
      const insts = await Promise.all([1, 2, 3].map(() => own.createInstance(spec())));
      expect(await opts.liveInstances(own)).toBe(3);
      await insts[0]!.destroy();
      await insts[0]!.destroy();
      expect(await opts.liveInstances(own)).toBe(2);
      await own.close();
      await own.close();
      expect(await opts.liveInstances(own)).toBe(0);
      await expect(own.createInstance(spec())).rejects.toBeInstanceOf(PlatformError);
    });
  });
}
