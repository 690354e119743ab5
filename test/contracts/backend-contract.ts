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
import { InstanceFailure, type ExecutorBackend, type Instance, type InstanceFault, type RunAnswer } from '../../executor/types.js';
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

export interface BackendContractOptions {
  /** What `backend` still runs, counted from outside it (child pids alive, containers listed). */
  liveInstances(backend: ExecutorBackend): Promise<number>;
  /** False: every case is skipped (a service is missing outside CI). Default true. */
  enabled?: () => boolean;
}

export function backendContract(name: string, makeBackend: MakeBackend, opts: BackendContractOptions): void {
  describe(`ExecutorBackend contract: ${name}`, () => {
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
      return { namespace: 'contract', name: 'fn', version: 1, code, exportName: 'handler', env: {}, timeoutMs: 10_000, memoryMb: 128, ...over };
    }
    async function loaded(code: string, over: Partial<InitRequest> = {}): Promise<Instance> {
      const inst = await backend.createInstance({ memoryMb: over.memoryMb ?? 128, allowEgress: false });
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
      const inst = await loaded(`export const handler = async (e, ctx) => { console.log('hi', e.n); return { n: e.n + 1, fn: ctx.functionName }; };`);
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

    it('a function error is an answer (ok: false) with type, message and stack; the instance keeps serving', async () => {
      const inst = await loaded(`class PaymentError extends Error {}\nexport const handler = async (e) => { if (e.fail) throw new PaymentError('card declined'); return 'paid'; };`);
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
      const a = await backend.createInstance({ memoryMb: 128, allowEgress: false });
      const b = await backend.createInstance({ memoryMb: 128, allowEgress: false });
      try {
        const thrown = await a.init(initReq(`throw new TypeError('bad top level');`)).catch((e: unknown) => e);
        expect(thrown).toBeInstanceOf(BuildError);
        expect(thrown).toMatchObject({ code: 'INIT_FAILED', data: { errorType: 'TypeError', errorMessage: 'bad top level' } });
        const missing = await b.init(initReq(`export const notIt = 1;`)).catch((e: unknown) => e);
        expect(missing).toBeInstanceOf(BuildError);
        expect(missing).toMatchObject({ code: 'HANDLER_NOT_FOUND', data: { errorType: 'HandlerNotFound' } });
      } finally {
        await Promise.all([a.destroy(), b.destroy()]);
      }
    });

    it('a second init is refused with ALREADY_INITIALIZED, and the first function keeps running', async () => {
      const inst = await loaded(`export const handler = () => 1;`);
      try {
        const again = await inst.init(initReq(`export const handler = () => 2;`)).catch((e: unknown) => e);
        expect(again).toBeInstanceOf(PlatformError);
        expect(again).toMatchObject({ code: 'ALREADY_INITIALIZED' });
        expect(await run(inst, {})).toMatchObject({ ok: true, result: 1 });
      } finally {
        await inst.destroy();
      }
    });

    it('past its deadline: kind timeout, fast, and later calls fail at once', async () => {
      const inst = await loaded(`export const handler = async () => { for (;;) {} };`);
      const t0 = Date.now();
      expect(await fault(run(inst, {}, 500))).toEqual({ kind: 'timeout' });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await fault(run(inst, {}))).toBeDefined();
      await inst.destroy();
    });

    it('the process exiting mid-run: kind crash with its exit code', async () => {
      const inst = await loaded(`export const handler = async () => { setTimeout(() => process.exit(3), 5); return new Promise(() => {}); };`);
      expect(await fault(run(inst, {}))).toEqual({ kind: 'crash', exitCode: 3, signal: null });
      await inst.destroy();
    });

    it('heap exhaustion: kind oom', async () => {
      const inst = await loaded(`export const handler = async () => { const keep = []; for (;;) keep.push(new Array(100000).fill({ a: Math.random() })); };`, { memoryMb: 64 });
      expect(await fault(run(inst, {}, 30_000))).toEqual({ kind: 'oom' });
      await inst.destroy();
    });

    it('an answer that is not JSON: kind garbled, and the instance is retired', async () => {
      const inst = await loaded(TAMPERING_FUNCTION);
      expect(await fault(run(inst, { mode: 'text' }))).toMatchObject({ kind: 'garbled' });
      expect(await fault(run(inst, {}))).toBeDefined();
      await inst.destroy();
    });

    it('a 400 MB answer streamed by a function that took over its runtime: kind oversized, read no further, this process stays small', async () => {
      const inst = await loaded(TAMPERING_FUNCTION);
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
      const next = await loaded(`export const handler = async () => 'next';`);
      expect(await run(next, {})).toMatchObject({ ok: true, result: 'next' });
      await next.destroy();
    });

    it('logs over the cap in a tampered answer are cut to it; over the whole answer\'s cap they are oversized', async () => {
      const inst = await loaded(TAMPERING_FUNCTION);
      const res = await run(inst, { mode: 'logs', mb: 3 });
      expect(res).toMatchObject({ ok: true, result: 1, logsTruncated: true });
      expect(res.logs.at(-1)).toBe(LOG_TRUNCATED_MARKER);
      expect(Buffer.byteLength(res.logs.slice(0, -1).join('\n'))).toBeLessThanOrEqual(MAX_LOG_BYTES);
      await inst.destroy();
      const flood = await loaded(TAMPERING_FUNCTION);
      expect(await fault(run(flood, { mode: 'logs', mb: 30 }))).toMatchObject({ kind: 'oversized' });
      await flood.destroy();
    });

    it('the runtime refuses a result over the cap (ResultTooLarge) and cuts a huge error message; the instance keeps serving', async () => {
      const inst = await loaded(`export const handler = async (e) => {
        if (e.big) return 'x'.repeat(${DEFAULT_MAX_RESULT_BYTES} + 1);
        if (e.throwBig) throw new Error('m'.repeat(20 * 1024 * 1024));
        return 'small';
      };`);
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
      const insts = await Promise.all([1, 2, 3].map(() => own.createInstance({ memoryMb: 128, allowEgress: false })));
      expect(await opts.liveInstances(own)).toBe(3);
      await insts[0]!.destroy();
      await insts[0]!.destroy();
      expect(await opts.liveInstances(own)).toBe(2);
      await own.close();
      await own.close();
      expect(await opts.liveInstances(own)).toBe(0);
      await expect(own.createInstance({ memoryMb: 128, allowEgress: false })).rejects.toBeInstanceOf(PlatformError);
    });
  });
}
