import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionVersion } from '../../core/types.js';
import { ProcessBackend, type ProcessInstance } from '../../executor/process-backend.js';
import { InstanceFailure, type Instance } from '../../executor/types.js';
import { WarmPool } from '../../executor/warm-pool.js';
import type { InitRequest, RunResponse } from '../../runtime/protocol.js';
import { bundleRuntimeTo } from '../helpers/runtime-bundle.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Several calls in one instance (`concurrency`, issue 17): the real runtime
 * in real child processes, driven through the process backend and the warm
 * pool. Each call keeps its own logs and its own errors; a call past its
 * deadline fails alone and its neighbours finish.
 */
let workDir: string;
let backend: ProcessBackend;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'brisk-conc-test-'));
  backend = new ProcessBackend({ runtimePath: await bundleRuntimeTo(path.join(workDir, 'runtime/server.mjs')) });
  await backend.start();
});
afterAll(async () => {
  await backend?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** An I/O-bound handler: logs, waits `ms`, logs again; `throw: 'sync' | 'async'` fails the call its way. */
const IO_BOUND = `
export const handler = async (e) => {
  console.log('start ' + e.id);
  await new Promise((r) => setTimeout(r, e.ms));
  if (e.throw === 'async') setTimeout(() => { throw new Error('escaped from ' + e.id); }, 0);
  if (e.throw === 'async') await new Promise((r) => setTimeout(r, 1000));
  if (e.throw === 'sync') throw new Error('thrown by ' + e.id);
  console.error('end ' + e.id);
  return { id: e.id, pid: process.pid };
};`;

function initReq(concurrency: number): InitRequest {
  return { namespace: 'default', name: 'io', version: 1, code: IO_BOUND, exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128, concurrency };
}

let seq = 0;
function call(instance: Instance, event: Record<string, unknown>, timeoutMs = 5000): Promise<RunResponse> {
  return instance.run({ activationId: `c-${++seq}`, payload: JSON.stringify(event), deadline: Date.now() + timeoutMs }, timeoutMs);
}

describe('one instance, several calls at once (process backend, real runtime)', () => {
  it('runs them side by side, each with its own logs; a call over its concurrency waits for a place', async () => {
    const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
    try {
      await inst.init(initReq(3));
      const t0 = performance.now();
      const answers = await Promise.all(['a', 'b', 'c'].map((id) => call(inst, { id, ms: 400 })));
      const wall = performance.now() - t0;
      // Three 400 ms waits side by side, not one after another.
      expect(wall).toBeLessThan(1100);
      for (const [i, id] of ['a', 'b', 'c'].entries()) {
        const r = answers[i]!;
        expect(r.ok).toBe(true);
        expect(r.logs).toEqual([`start ${id}`, `end ${id}`]);
      }
      // A fourth call waits for a place (the client holds one connection per place) instead of overloading it.
      const t1 = performance.now();
      const four = await Promise.all(['d', 'e', 'f', 'g'].map((id) => call(inst, { id, ms: 400 })));
      expect(four.every((r) => r.ok)).toBe(true);
      expect(performance.now() - t1).toBeGreaterThanOrEqual(800);
    } finally {
      await inst.destroy();
    }
  });

  it('keeps errors apart: a throw, and an error escaping a callback, fail only their own call', async () => {
    const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
    try {
      await inst.init(initReq(3));
      const [ok, thrown, escaped] = await Promise.all([
        call(inst, { id: 'ok', ms: 300 }),
        call(inst, { id: 'thrown', ms: 50, throw: 'sync' }),
        call(inst, { id: 'escaped', ms: 50, throw: 'async' }),
      ]);
      expect(ok).toMatchObject({ ok: true, logs: ['start ok', 'end ok'] });
      expect(thrown).toMatchObject({ ok: false, error: { errorMessage: 'thrown by thrown' }, logs: ['start thrown'] });
      expect(escaped).toMatchObject({ ok: false, error: { errorMessage: 'escaped from escaped' }, logs: ['start escaped'] });
    } finally {
      await inst.destroy();
    }
  });

  it('a call past its deadline fails alone; its neighbour finishes on the same live instance', async () => {
    const inst = (await backend.createInstance({ memoryMb: 128, allowEgress: false })) as ProcessInstance;
    try {
      await inst.init(initReq(2));
      const slow = call(inst, { id: 'slow', ms: 3000 }, 300).catch((err: unknown) => err);
      const neighbour = call(inst, { id: 'neighbour', ms: 800 });
      const timedOut = await slow;
      expect(timedOut).toBeInstanceOf(InstanceFailure);
      expect((timedOut as InstanceFailure).fault.kind).toBe('timeout');
      expect(inst.pid).toBeDefined();
      expect(await neighbour).toMatchObject({ ok: true, logs: ['start neighbour', 'end neighbour'] });
      // Alone past its deadline, a call does take the instance down with it.
      const alone = await call(inst, { id: 'alone', ms: 3000 }, 300).catch((err: unknown) => err);
      expect((alone as InstanceFailure).fault.kind).toBe('timeout');
      await waitFor(() => inst.pid === undefined, 5000, 10);
    } finally {
      await inst.destroy();
    }
  });
});

describe('the warm pool shares an instance among calls of a function with concurrency', () => {
  const fn = (concurrency?: number): FunctionVersion => ({
    namespace: 'default', name: concurrency ? `shared-${concurrency}` : 'single', version: 1, codeHash: 'a'.repeat(64), codeSize: 1, exportName: 'handler', handler: 'index.handler',
    memoryMb: 128, timeoutMs: 5000, env: {}, maxConcurrency: 0, retries: 0, allowEgress: false, createdAt: '2026-01-01T00:00:00Z', ...(concurrency ? { concurrency } : {}),
  });
  const newPool = () => new WarmPool({ backend, prepareInit: async () => ({ code: IO_BOUND }), memoryMb: 1024, idleTtlMs: 60_000, poolSize: 0, poolMax: 0, poolMemorySizes: [128] });

  it('up to `concurrency` calls share one instance; the next one gets another; a retired instance goes when its last call ends', async () => {
    const pool = newPool();
    try {
      const first = await pool.acquire(fn(2));
      const second = await pool.acquire(fn(2));
      expect([first.startKind, second.startKind]).toEqual(['cold', 'warm']);
      expect(second.instance).toBe(first.instance);
      const third = await pool.acquire(fn(2));
      expect(third.instance).not.toBe(first.instance);
      expect(pool.stats().inFlight).toBe(3);
      // One call of the shared instance failed it: no new call joins, and it stays for its other call.
      pool.release(first.instance, { healthy: false });
      const fourth = await pool.acquire(fn(2));
      expect(fourth.instance).toBe(third.instance);
      expect((first.instance as ProcessInstance).pid).toBeDefined();
      pool.release(second.instance, { healthy: true });
      await waitFor(() => (first.instance as ProcessInstance).pid === undefined, 5000, 10);
      pool.release(third.instance, { healthy: true });
      pool.release(fourth.instance, { healthy: true });
      expect(pool.stats().warm).toEqual([expect.objectContaining({ function: 'shared-2', state: 'idle' })]);
      // Without concurrency, nothing is shared.
      const a = await pool.acquire(fn());
      const b = await pool.acquire(fn());
      expect(b.instance).not.toBe(a.instance);
      pool.release(a.instance, { healthy: true });
      pool.release(b.instance, { healthy: true });
    } finally {
      await pool.close(0);
    }
  });
});
