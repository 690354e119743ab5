import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { Completion, Dispatch, FunctionVersion, InvocationResult } from '../../core/types.js';
import { CodeCache } from '../../executor/code-cache.js';
import { Executor } from '../../executor/executor.js';
import type { PlatformFaultReport } from '../../executor/types.js';
import { WarmPool } from '../../executor/warm-pool.js';
import { DeadLetterOffice } from '../../invocations/dead-letter-office.js';
import { DeadLetterStore } from '../../invocations/dead-letters.js';
import { RetryPolicy } from '../../invocations/retry-policy.js';
import { Submitter } from '../../invocations/submit.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { BundleStore } from '../../storage/bundles.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { FileStore } from '../../storage/file-store.js';
import { FakeBackend } from '../fakes/backend.js';
import { waitFor } from '../helpers/wait.js';
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import { functionDraft } from '../helpers/records.js';

/**
 * Finding F4: a function whose context.state calls failed because the
 * platform API failed is a platform fault (`platform_error`), not the
 * function's — but only when the executor's own platform API confirms it
 * failed that instance's calls. A function that merely claims it (throws a
 * fake "platform unavailable", or forges the runtime's answer) stays a
 * function error and never counts against the executor's health.
 */

const log = pino({ level: 'silent' });

/** What the fake instance answers, and what its platform API "saw". */
interface Script {
  claim: boolean;
  confirmed?: PlatformFaultReport;
}

/** Script the fake backend: every run answers "the platform API failed me" (a claim, or not), and its platform API saw `confirmed`. */
function script(backend: FakeBackend, { claim, confirmed }: Script): void {
  backend.answer = () => ({
    ok: false,
    error: { errorType: 'PlatformApiError', errorMessage: 'platform API unreachable: read ECONNRESET' },
    logs: [],
    logsTruncated: false,
    durationMs: 1,
    ...(claim ? { platformFault: { code: 'PLATFORM_UNAVAILABLE', message: 'platform API unreachable: read ECONNRESET' } } : {}),
  });
  backend.platformFault = confirmed;
}

const draft = functionDraft({ namespace: 'victim', name: 'uses-state', codeSize: 4 });
/** The stored version every dispatch names (executors run only what the store holds). */
let fn: FunctionVersion;

describe('executor: platform API faults are the platform\'s only when the platform API confirms them', () => {
  let dir: string;
  let bus: MemoryBus;
  let backend: FakeBackend;
  let executor: Executor;
  let pool: WarmPool;
  const topology = new Topology('t');
  const replies = new Map<string, (r: InvocationResult) => void>();
  const completions: Completion[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-exfault-'));
    bus = new MemoryBus({ prefix: 't' });
    const store = new FileStore(path.join(dir, 'meta'));
    const kv = new FileKeyValueStore(path.join(dir, 'meta'));
    await Promise.all([bus.waitUntilReady(), store.waitUntilReady(), kv.waitUntilReady()]);
    fn = (await store.putFunctionVersion(draft)).version;
    backend = new FakeBackend();
    script(backend, { claim: false });
    pool = new WarmPool({ backend, prepareInit: async () => ({ code: 'fake' }), memoryMb: 512, idleTtlMs: 60_000, poolSize: 0, poolMax: 0 });
    executor = new Executor({
      id: 'ex-1',
      backend: 'process',
      bus,
      topology,
      store,
      pool,
      code: new CodeCache(new BundleStore({ objects: new FileObjectStore(path.join(dir, 'objects')) })),
      logger: log,
      // Short: stop() waits two heartbeats for pre-warming elsewhere.
      heartbeatMs: 20,
      concurrency: 2,
      deadLetters: new DeadLetterOffice({ letters: new DeadLetterStore(kv), store, router: new FunctionRouter({ store, aliases: new AliasStore(kv) }), submitter: new Submitter({ bus, topology, store, retry: new RetryPolicy() }), logger: log }),
      retry: new RetryPolicy(),
      kv,
    });
    await executor.start();
    await bus.assertQueue('t.reply.test', { durable: false });
    await bus.consume<InvocationResult>('t.reply.test', async (r) => replies.get(r.activationId)?.(r), { prefetch: 10 });
    await bus.assertQueue('t.sched.test', { durable: false });
    await bus.consume<Completion>('t.sched.test', async (c) => void completions.push(c), { prefetch: 10 });
  });

  afterEach(async () => {
    await executor.stop();
    await bus.close();
    fs.rmSync(dir, { recursive: true, force: true });
    completions.length = 0;
  });

  async function invoke(): Promise<{ result: InvocationResult; completion: Completion }> {
    const activationId = `act${Math.random().toString(16).slice(2, 12)}`;
    const dispatch: Dispatch = {
      request: {
        activationId,
        fn,
        mode: 'sync',
        payload: '{}',
        replyTo: 't.reply.test',
        deadline: Date.now() + 30_000,
        attempt: 1,
        queuedAt: new Date().toISOString(),
      },
      placement: 'spread',
      scheduler: 't.sched.test',
    };
    const result = await new Promise<InvocationResult>((resolve) => {
      replies.set(activationId, resolve);
      void bus.send(executor.queue, dispatch);
    });
    await waitFor(() => completions.some((c) => c.activationId === activationId), 2000, 2);
    return { result, completion: completions.find((c) => c.activationId === activationId) as Completion };
  }

  it('a confirmed platform API outage is platform_error with the platform API\'s own code, and not the executor\'s fault', async () => {
    script(backend, { claim: true, confirmed: { code: 'PLATFORM_API_UNAVAILABLE', message: 'the platform API failed a call of this function: SERVICE_UNAVAILABLE: redis down', systemError: false } });
    const before = Date.now();
    const { result, completion } = await invoke();
    expect(result.status).toBe('platform_error');
    expect(result.error).toEqual({ kind: 'platform', code: 'PLATFORM_API_UNAVAILABLE', message: 'the platform API failed a call of this function: SERVICE_UNAVAILABLE: redis down' });
    expect(completion).toMatchObject({ status: 'platform_error', systemError: false });
    // The executor asks about this run only: from when it started.
    expect(backend.askedSince).toHaveLength(1);
    expect(backend.askedSince[0]).toBeGreaterThanOrEqual(before);
  });

  it('an executor out of descriptors counts against its health', async () => {
    script(backend, { claim: true, confirmed: { code: 'PLATFORM_API_UNAVAILABLE', message: 'could not accept connections (EMFILE)', systemError: true } });
    const { result, completion } = await invoke();
    expect(result.status).toBe('platform_error');
    expect(completion.systemError).toBe(true);
  });

  it('a claim the platform API does not confirm stays the function\'s error, and the executor stays healthy', async () => {
    script(backend, { claim: true });
    const { result, completion } = await invoke();
    expect(result.status).toBe('error');
    expect(result.error).toMatchObject({ errorType: 'PlatformApiError' });
    expect(completion).toMatchObject({ status: 'error', systemError: false });
  });

  it('without a claim the platform API is not even asked', async () => {
    script(backend, { claim: false, confirmed: { code: 'PLATFORM_API_OVERLOADED', message: 'x', systemError: false } });
    const { result } = await invoke();
    expect(result.status).toBe('error');
    expect(backend.askedSince).toHaveLength(0);
  });
});
