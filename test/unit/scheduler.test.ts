import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { PlatformError } from '../../core/errors.js';
import { Topology } from '../../bus/topology.js';
import type {
  Activation,
  Completion,
  Dispatch,
  FunctionVersion,
  Heartbeat,
  InvocationRequest,
  InvocationResult,
} from '../../core/types.js';
import { CodeCache } from '../../executor/code-cache.js';
import { Executor } from '../../executor/executor.js';
import { WarmPool } from '../../executor/warm-pool.js';
import { CapacitySignal } from '../../placement/capacity-signal.js';
import { ConcurrencyLimiter } from '../../placement/concurrency-limiter.js';
import { DeadLetterOffice } from '../../invocations/dead-letter-office.js';
import { DeadLetterStore } from '../../invocations/dead-letters.js';
import { RetryPolicy } from '../../invocations/retry-policy.js';
import { Submitter } from '../../invocations/submit.js';
import { ExecutorRegistry } from '../../placement/executor-registry.js';
import { KvConcurrencyCounter, NS_LEASE_IDLE_MS } from '../../placement/kv-concurrency-counter.js';
import { Scheduler } from '../../scheduler/scheduler.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { BundleStore } from '../../storage/bundles.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { FileStore } from '../../storage/file-store.js';
import { FakeBackend, type RunRecord as RunLog } from '../fakes/backend.js';
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import { functionDraft } from '../helpers/records.js';

/**
 * Scheduler + Executor together on the in-memory bus, with a fake instance
 * backend whose runs are driven by the event: `{ "do": "ok" | "fail" | "hold" }`.
 * Covers retries and dead letters, the on-failure function, duplicate
 * dispatches, limits, maximum event age, a lost executor and drain pre-warming.
 */

const log = pino({ level: 'silent' });
const HEARTBEAT_MS = 40;

interface Node {
  executor: Executor;
  pool: WarmPool;
  backend: FakeBackend;
}

class Harness {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-sched-'));
  readonly bus = new MemoryBus({ prefix: 't' });
  readonly topology = new Topology('t');
  readonly store = new FileStore(path.join(this.dir, 'meta'));
  readonly kv = new FileKeyValueStore(path.join(this.dir, 'meta'));
  readonly letters = new DeadLetterStore(this.kv);
  /** Short retry delays (10 ms, 20 ms …) and a long event age unless a test sets one. */
  retry = new RetryPolicy({ baseDelayMs: 10, maxEventAgeMs: 3600_000 });
  readonly office = new DeadLetterOffice({
    letters: this.letters,
    store: this.store,
    router: new FunctionRouter({ store: this.store, aliases: new AliasStore(this.kv) }),
    submitter: new Submitter({ bus: this.bus, topology: this.topology, store: this.store, retry: this.retry }),
    logger: log,
  });
  readonly limiter = new ConcurrencyLimiter();
  readonly registry = new ExecutorRegistry({ heartbeatMs: HEARTBEAT_MS });
  readonly runs: RunLog[] = [];
  readonly nodes = new Map<string, Node>();
  scheduler!: Scheduler;
  private replies = new Map<string, (r: InvocationResult) => void>();

  async start(opts: { executors: string[]; maxEventAgeMs?: number; namespaceConcurrency?: number }): Promise<void> {
    await Promise.all([this.store.waitUntilReady(), this.kv.waitUntilReady()]);
    if (opts.maxEventAgeMs !== undefined) this.retry = new RetryPolicy({ baseDelayMs: 10, maxEventAgeMs: opts.maxEventAgeMs });
    this.scheduler = new Scheduler({
      bus: this.bus,
      topology: this.topology,
      store: this.store,
      registry: this.registry,
      limiter: this.limiter,
      logger: log,
      policy: 'spread',
      namespaceConcurrency: opts.namespaceConcurrency ?? 100,
      deadLetters: this.office,
      retry: this.retry,
      kv: this.kv,
    });
    await this.scheduler.start();
    await this.bus.assertQueue('t.reply.test', { durable: false });
    await this.bus.consume<InvocationResult>('t.reply.test', async (r) => this.replies.get(r.activationId)?.(r), { prefetch: 100 });
    for (const id of opts.executors) await this.addExecutor(id);
    await until(() => opts.executors.every((id) => this.registry.get(id)?.state === 'healthy'));
  }

  async addExecutor(id: string, memoryMb = 512): Promise<Node> {
    const backend = new FakeBackend({ executorId: id, runs: this.runs });
    const pool = new WarmPool({
      backend,
      prepareInit: async () => ({ code: 'fake' }),
      memoryMb,
      idleTtlMs: 60_000,
      poolSize: 0,
      poolMax: 0,
    });
    const executor = new Executor({
      id,
      backend: 'process',
      bus: this.bus,
      topology: this.topology,
      store: this.store,
      pool,
      code: new CodeCache(new BundleStore({ objects: new FileObjectStore(path.join(this.dir, 'objects')) })),
      logger: log,
      heartbeatMs: HEARTBEAT_MS,
      concurrency: 4,
      deadLetters: this.office,
      kv: this.kv,
      retry: this.retry,
    });
    await executor.start();
    const node = { executor, pool, backend };
    this.nodes.set(id, node);
    return node;
  }

  async deploy(name: string, over: Partial<FunctionVersion> = {}): Promise<FunctionVersion> {
    const { version } = await this.store.putFunctionVersion(functionDraft({ name, codeSize: 4, ...over }));
    return version;
  }

  request(fn: FunctionVersion, event: unknown, mode: 'sync' | 'async', over: Partial<InvocationRequest> = {}): InvocationRequest {
    const id = `act${Math.random().toString(16).slice(2, 14)}`;
    return {
      activationId: id,
      fn,
      mode,
      payload: JSON.stringify(event),
      ...(mode === 'sync' ? { replyTo: 't.reply.test' } : {}),
      deadline: Date.now() + 60_000,
      attempt: 1,
      queuedAt: new Date().toISOString(),
      ...over,
    };
  }

  async invokeAsync(fn: FunctionVersion, event: unknown, over: Partial<InvocationRequest> = {}): Promise<string> {
    const req = this.request(fn, event, 'async', over);
    await this.store.putActivation({
      activationId: req.activationId,
      namespace: 'default',
      function: fn.name,
      version: fn.version,
      status: 'queued',
      mode: 'async',
      logs: [],
      coldStart: false,
      attempts: 0,
      queuedAt: req.queuedAt,
    });
    await this.bus.send(this.topology.invokeQueue, req);
    return req.activationId;
  }

  invokeSync(fn: FunctionVersion, event: unknown): Promise<InvocationResult> {
    const req = this.request(fn, event, 'sync');
    const result = new Promise<InvocationResult>((resolve) => this.replies.set(req.activationId, resolve));
    void this.bus.send(this.topology.invokeQueue, req);
    return result;
  }

  async final(id: string, timeoutMs = 3000): Promise<Activation> {
    let a: Activation | undefined;
    await until(async () => {
      a = await this.store.getActivation('default', id);
      return a !== undefined && a.status !== 'queued' && a.status !== 'running';
    }, timeoutMs);
    return a as Activation;
  }

  async stop(): Promise<void> {
    await this.scheduler?.stop();
    for (const n of this.nodes.values()) await n.executor.stop();
    await this.bus.close();
    await Promise.all([this.store.close(), this.kv.close()]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Completions sent to the scheduler for `activationId`, recorded as the executor sends them. */
function completionsSeen(harness: Harness, activationId: string): Completion[] {
  const seen: Completion[] = [];
  const send = harness.bus.send.bind(harness.bus);
  const schedulerQueue = harness.topology.schedulerQueue(harness.scheduler.id);
  harness.bus.send = async (queue, body, opts) => {
    const c = body as Completion;
    if (queue === schedulerQueue && c.activationId === activationId) seen.push(c);
    return send(queue, body, opts);
  };
  return seen;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

let h: Harness | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.stop();
  h = undefined;
});

describe('Scheduler + Executor: async reliability', () => {
  it('retries a failing async invocation `retries` times, then dead-letters it with the last error', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const fn = await h.deploy('flaky', { retries: 2 });
    const id = await h.invokeAsync(fn, { do: 'fail' });
    const act = await h.final(id);
    expect(act).toMatchObject({ status: 'error', attempts: 3, executor: 'ex-a', error: { errorMessage: 'boom' } });
    expect(typeof act.placement).toBe('string');
    expect(h.runs.filter((r) => r.activationId === id)).toHaveLength(3);
    await until(async () => (await h!.letters.get('default', id)) !== undefined);
    const letter = await h.letters.get('default', id);
    expect(letter).toMatchObject({
      activationId: id,
      function: 'flaky',
      reason: 'RETRIES_EXHAUSTED',
      attempts: 3,
      status: 'error',
      lastError: { errorType: 'Error', errorMessage: 'boom' },
      payload: JSON.stringify({ do: 'fail' }),
    });
    expect((await h.letters.list('default')).map((d) => d.activationId)).toEqual([id]);
  });

  it('a successful invocation is never dead-lettered and runs once', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const fn = await h.deploy('fine', { retries: 2 });
    const id = await h.invokeAsync(fn, { do: 'ok' });
    expect(await h.final(id)).toMatchObject({ status: 'success', attempts: 1 });
    expect(h.runs.filter((r) => r.activationId === id)).toHaveLength(1);
    expect(await h.letters.list('default')).toEqual([]);
  });

  it('invokes the on-failure function with the dead letter, and never feeds an on-failure function to itself', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const fn = await h.deploy('worker', { retries: 0, onFailure: 'sink' });
    await h.deploy('sink', { onFailure: 'sink' });
    const id = await h.invokeAsync(fn, { do: 'fail', order: 7 });
    await h.final(id);
    const sinkId = `f${id}`;
    const sink = await h.final(sinkId);
    expect(sink).toMatchObject({ function: 'sink', status: 'success', trigger: 'on-failure:worker' });
    // The sink saw the event, not only an id.
    expect(h.runs.some((r) => r.activationId === sinkId && r.fn === 'sink')).toBe(true);

    // A failing on-failure function is dead-lettered but does not notify itself again.
    const failingSinkReq = await h.invokeAsync(await h.deploy('sink2', { onFailure: 'sink2' }), { do: 'fail' }, { trigger: 'on-failure:x' });
    await h.final(failingSinkReq);
    await until(async () => (await h!.letters.get('default', failingSinkReq)) !== undefined);
    expect(await h.store.getActivation('default', `f${failingSinkReq}`)).toBeUndefined();
  });

  it('runs a dispatch delivered twice only once', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const fn = await h.deploy('once');
    const req = h.request(fn, { do: 'ok' }, 'async');
    const queue = h.topology.executorQueue('ex-a');
    const d: Dispatch = { request: req, placement: 'test', scheduler: h.topology.schedulerQueue(h.scheduler.id) };
    // The executor reports each delivery it is done with (a run, or a skipped duplicate) to the scheduler.
    const reported = completionsSeen(h, req.activationId);
    await Promise.all([h.bus.send(queue, d), h.bus.send(queue, d)]);
    expect(await h.final(req.activationId)).toMatchObject({ status: 'success', attempts: 1 });
    await until(() => reported.length === 2);
    expect(h.runs.filter((r) => r.activationId === req.activationId)).toHaveLength(1);
  });

  it('dead-letters an async invocation older than the maximum event age (EVENT_TOO_OLD)', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'], maxEventAgeMs: 1000 });
    const fn = await h.deploy('late');
    const id = await h.invokeAsync(fn, { do: 'ok' }, { queuedAt: new Date(Date.now() - 5000).toISOString() });
    expect(await h.final(id)).toMatchObject({ status: 'platform_error', error: { code: 'EVENT_TOO_OLD' } });
    await until(async () => (await h!.letters.get('default', id))?.reason === 'EVENT_TOO_OLD');
    expect(h.runs).toHaveLength(0);
  });
});

describe('Scheduler + Executor: a function deleted while its invocations wait', () => {
  /** Rejects when `p` has not settled within `ms`: what a caller stuck until its deadline looks like here. */
  const within = <T>(p: Promise<T>, ms: number): Promise<T> =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);

  it('ends its queued invocations at once: final record, an answer for the sync caller, a dead letter for async work; the executor stays healthy', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const fn = await h.deploy('gone', { retries: 2 });
    await h.bus.assertQueue(h.topology.deadLetterQueue, { durable: true });
    // Deleted after the gateway resolved the version: the dispatches (genuine, signed in distributed mode) name a version the store no longer has.
    await h.store.deleteFunction('default', 'gone');
    const sync = await within(h.invokeSync(fn, { do: 'ok' }), 2000);
    expect(sync).toMatchObject({ status: 'platform_error', error: { kind: 'platform', code: 'FUNCTION_VERSION_NOT_FOUND' } });
    expect(await h.final(sync.activationId)).toMatchObject({ status: 'platform_error', error: { kind: 'platform', code: 'FUNCTION_VERSION_NOT_FOUND' } });
    const id = await h.invokeAsync(fn, { do: 'ok' });
    expect(await h.final(id)).toMatchObject({ status: 'platform_error', attempts: 1, error: { code: 'FUNCTION_VERSION_NOT_FOUND' } });
    await until(async () => (await h!.letters.get('default', id)) !== undefined);
    expect(await h.letters.get('default', id)).toMatchObject({ reason: 'FUNCTION_DELETED', status: 'platform_error', lastError: { code: 'FUNCTION_VERSION_NOT_FOUND' } });
    // Not retried (nothing will ever be there to run), not run, not left on the bus's dead-letter queue.
    expect(h.runs).toHaveLength(0);
    expect(await h.bus.queueDepth(h.topology.deadLetterQueue)).toBe(0);
    // Not the executor's fault: its health is untouched.
    expect(h.registry.get('ex-a')).toMatchObject({ state: 'healthy', systemErrors: 0 });
  });

  it('a dispatch that misdescribes a stored version (only a forged yet signed one can) is still refused onto the bus dead-letter queue, unanswered', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const fn = await h.deploy('real');
    const dead: unknown[] = [];
    await h.bus.assertQueue(h.topology.deadLetterQueue, { durable: true });
    await h.bus.consume(h.topology.deadLetterQueue, async (m) => void dead.push(m), { prefetch: 10 });
    const req = h.request({ ...fn, codeHash: 'b'.repeat(64) }, { do: 'ok' }, 'async');
    await h.bus.send(h.topology.executorQueue('ex-a'), { request: req, placement: 'forged', scheduler: h.topology.schedulerQueue(h.scheduler.id) } satisfies Dispatch);
    await until(() => dead.length === 1);
    expect(dead[0]).toMatchObject({ request: { activationId: req.activationId } });
    expect(await h.store.getActivation('default', req.activationId)).toBeUndefined();
    expect(h.runs).toHaveLength(0);
  });
});

describe('Scheduler + Executor: replies', () => {
  it('a reply the bus refuses (a broker over its max message size) becomes a fast error for the caller', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const bus = h.bus;
    const send = bus.send.bind(bus);
    // The broker refuses large messages on the reply queue, as RabbitMQ does past max_message_size.
    bus.send = async (queue, body, opts) => {
      if (queue === 't.reply.test' && JSON.stringify(body).length > 100_000) throw new PlatformError('PUBLISH_NACKED', 'the broker refused the message');
      return send(queue, body, opts);
    };
    const fn = await h.deploy('big');
    const t0 = Date.now();
    const r = await h.invokeSync(fn, { do: 'big' });
    expect(r).toMatchObject({ status: 'platform_error', error: { code: 'REPLY_NOT_DELIVERED' } });
    expect(Date.now() - t0).toBeLessThan(2000);
    // The record holds the outcome.
    expect(await h.final(r.activationId)).toMatchObject({ status: 'success' });
    expect((await h.invokeSync(fn, { do: 'ok' })).status).toBe('success');
  });
});

describe('Scheduler + Executor: limits', () => {
  it('refuses a sync call over maxConcurrency (throttled) while an async one waits and then runs', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a'] });
    const node = h.nodes.get('ex-a') as Node;
    let open!: () => void;
    node.backend.gate = new Promise<void>((r) => (open = r));
    const fn = await h.deploy('capped', { maxConcurrency: 1 });
    const held = h.invokeSync(fn, { do: 'hold' });
    await until(() => h!.limiter.inFlight('default') === 1);
    const refused = await h.invokeSync(fn, { do: 'ok' });
    expect(refused).toMatchObject({ status: 'throttled', error: { code: 'CONCURRENCY_LIMIT' } });
    const parked = vi.spyOn(CapacitySignal.prototype, 'wait');
    const queued = await h.invokeAsync(fn, { do: 'ok' });
    await until(() => parked.mock.calls.length > 0); // the scheduler holds it, waiting for a slot
    expect(h.runs.some((r) => r.activationId === queued)).toBe(false); // still waiting, not dropped
    open();
    expect((await held).status).toBe('success');
    expect(await h.final(queued)).toMatchObject({ status: 'success' });
    await until(() => h!.limiter.inFlight('default') === 0);
  });

  it('KvConcurrencyCounter: two schedulers share one limit, and a silent one\'s slots are reaped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-kvc-'));
    const kv = new FileKeyValueStore(dir);
    await kv.waitUntilReady();
    let now = 1_000_000;
    const a = new KvConcurrencyCounter({ kv, holderId: 'a', logger: log, leaseMs: 1000, now: () => now });
    const b = new KvConcurrencyCounter({ kv, holderId: 'b', logger: log, leaseMs: 1000, now: () => now });
    await a.start();
    await b.start();
    expect(await a.tryAcquire('ns', 'ns/f', 2, 10)).toBe(true);
    expect(await b.tryAcquire('ns', 'ns/f', 2, 10)).toBe(true);
    expect(await a.tryAcquire('ns', 'ns/f', 2, 10)).toBe(false); // the function's cap counts both schedulers
    expect(await b.tryAcquire('ns', 'ns/g', 0, 3)).toBe(true);
    expect(await a.tryAcquire('ns', 'ns/h', 0, 3)).toBe(false); // the namespace's cap too
    await a.release('ns', 'ns/f');
    expect(await b.tryAcquire('ns', 'ns/f', 2, 10)).toBe(true);
    // b's holder entry is written (off the dispatch path), then b goes silent (crashed):
    // after the lease, a reaps its three slots.
    await b.flush();
    await a.flush();
    now += 1500;
    await (a as unknown as { publish(check: boolean): Promise<void> }).publish(true);
    await (a as unknown as { reap(): Promise<void> }).reap();
    expect(await kv.get('concurrency:ns:ns')).toBe('0');
    expect(await kv.get('concurrency:fn:ns/f')).toBe('0');
    expect(await a.tryAcquire('ns', 'ns/f', 2, 3)).toBe(true);
    await a.stop();
    await b.stop();
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('KvConcurrencyCounter leases', () => {
  it('leases namespace slots a batch at a time, keeps unlimited functions out of the store, and never passes a cap', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-kvl-'));
    const kv = new FileKeyValueStore(dir);
    await kv.waitUntilReady();
    let now = 1_000_000;
    const a = new KvConcurrencyCounter({ kv, holderId: 'a', logger: log, now: () => now });
    const b = new KvConcurrencyCounter({ kv, holderId: 'b', logger: log, now: () => now });
    try {
      // A cap of 1000 leases 20 slots per store call; a function without a cap has no counter in the store.
      expect(await a.tryAcquire('big', 'big/f', 0, 1000)).toBe(true);
      expect(await kv.get('concurrency:ns:big')).toBe('20');
      for (let i = 0; i < 19; i++) expect(await a.tryAcquire('big', 'big/f', 0, 1000)).toBe(true);
      expect(await kv.get('concurrency:ns:big')).toBe('20');
      expect(await a.tryAcquire('big', 'big/f', 0, 1000)).toBe(true);
      expect(await kv.get('concurrency:ns:big')).toBe('40');
      expect(await kv.get('concurrency:fn:big/f')).toBeUndefined();
      expect([a.heldBy('big'), a.heldBy('big', 'big/f')]).toEqual([21, 21]);
      for (let i = 0; i < 21; i++) await a.release('big', 'big/f');
      // One batch stays leased, idle; past the idle time it goes back too.
      expect(await kv.get('concurrency:ns:big')).toBe('20');
      now += NS_LEASE_IDLE_MS;
      (a as unknown as { returnIdleLeases(): void }).returnIdleLeases();
      await until(async () => (await kv.get('concurrency:ns:big')) === '0');

      // 64 callers at once share the batches leased one at a time: all admitted, 4 batches taken (not 64, past the cap).
      const burst = await Promise.all(Array.from({ length: 64 }, () => a.tryAcquire('burst', 'burst/f', 0, 1000)));
      expect(burst.every(Boolean)).toBe(true);
      expect(await kv.get('concurrency:ns:burst')).toBe('80');

      // A cap of 100 leases 2 at a time: the holders together never pass it.
      let admitted = 0;
      for (let i = 0; i < 120; i++) if (await (i % 3 === 0 ? a : b).tryAcquire('mid', 'mid/g', 0, 100)) admitted++;
      expect(admitted).toBeLessThanOrEqual(100);
      expect(admitted).toBeGreaterThanOrEqual(98);
      expect(Number(await kv.get('concurrency:ns:mid'))).toBeLessThanOrEqual(100);
    } finally {
      await a.stop();
      await b.stop();
      await kv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Scheduler + Executor: lost and draining executors', () => {
  it('re-dispatches a lost executor\'s async work elsewhere and tells a sync caller EXECUTOR_LOST', async () => {
    h = new Harness();
    await h.start({ executors: [] });
    const harness = h;
    // A ghost executor: heartbeats, takes its dispatches and hangs on them until it "crashes".
    const ghostQueue = h.topology.executorQueue('ghost');
    await h.bus.assertQueue(ghostQueue, { durable: true });
    const beat = (): Promise<void> =>
      harness.bus.publish(harness.topology.heartbeatTopic, {
        executorId: 'ghost', backend: 'process', memoryMb: 100_000, memoryUsedMb: 0, inFlight: 0, pool: {}, warm: [],
        systemErrors: 0, draining: false, leaving: false, sentAt: Date.now(),
      } satisfies Heartbeat);
    await beat();
    const beating = setInterval(() => void beat(), HEARTBEAT_MS);
    await until(() => harness.registry.get('ghost')?.state === 'healthy');
    let crash!: (err: Error) => void;
    const crashed = new Promise<never>((_, reject) => (crash = reject));
    crashed.catch(() => undefined);
    let taken = 0;
    const ghost = await h.bus.consume(ghostQueue, async () => {
      taken++;
      await crashed; // the bus gives the message back (redelivered) when this rejects
    }, { prefetch: 10 });
    const fn = await h.deploy('moved', { memoryMb: 50_000 });
    const asyncId = await h.invokeAsync(fn, { do: 'ok' });
    const sync = h.invokeSync(fn, { do: 'ok' });
    await until(() => taken === 2);
    await h.addExecutor('ex-c', 100_000);
    // kill -9: the messages go back unacked, the heartbeats stop.
    crash(new Error('killed'));
    const cancelled = ghost.cancel();
    clearInterval(beating);
    await cancelled;
    expect(await sync).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
    const act = await h.final(asyncId, 5000);
    expect(act).toMatchObject({ status: 'success', executor: 'ex-c' });
    expect(h.runs.filter((r) => r.activationId === asyncId)).toHaveLength(1);
    expect(await h.store.getActivation('default', asyncId)).toMatchObject({ status: 'success' });
  });

  /**
   * A ghost executor: heartbeats and takes its dispatches like a real one, but
   * only holds them until `die()` (a kill -9: the messages go back unacked and
   * the heartbeats stop). `onTake` runs as each dispatch arrives.
   */
  async function ghost(harness: Harness, id: string, onTake: (d: Dispatch) => Promise<void> = async () => undefined) {
    const queue = harness.topology.executorQueue(id);
    await harness.bus.assertQueue(queue, { durable: true });
    const beat = (): Promise<void> =>
      harness.bus.publish(harness.topology.heartbeatTopic, {
        executorId: id, backend: 'process', memoryMb: 100_000, memoryUsedMb: 0, inFlight: 0, pool: {}, warm: [],
        systemErrors: 0, draining: false, leaving: false, sentAt: Date.now(),
      } satisfies Heartbeat);
    await beat();
    const beating = setInterval(() => void beat(), HEARTBEAT_MS);
    await until(() => harness.registry.get(id)?.state === 'healthy');
    let kill!: (err: Error) => void;
    const killed = new Promise<never>((_, reject) => (kill = reject));
    killed.catch(() => undefined);
    const taken: Dispatch[] = [];
    const sub = await harness.bus.consume<Dispatch>(queue, async (d) => {
      taken.push(d);
      await onTake(d);
      await killed;
    }, { prefetch: 10 });
    return {
      taken,
      die: async (): Promise<void> => {
        kill(new Error('killed'));
        const cancelled = sub.cancel();
        clearInterval(beating);
        await cancelled;
      },
    };
  }

  it('dead-letters an async invocation whose executor is lost twice (EXECUTOR_LOST), instead of crash-looping every executor', async () => {
    h = new Harness();
    await h.start({ executors: [] });
    const fn = await h.deploy('poison', { memoryMb: 50_000, retries: 2 });
    const id = await h.invokeAsync(fn, { do: 'ok' });
    const first = await ghost(h, 'ghost-1');
    await until(() => first.taken.length === 1);
    await first.die();
    // Re-queued once (the first loss may be anyone's bad luck) and placed on the next executor, which dies too.
    const second = await ghost(h, 'ghost-2');
    await until(() => second.taken.length === 1, 5000);
    expect(second.taken[0]?.request).toMatchObject({ activationId: id, executorLosses: 1 });
    await second.die();
    const act = await h.final(id, 5000);
    expect(act).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
    await until(async () => (await h!.letters.get('default', id)) !== undefined);
    expect(await h.letters.get('default', id)).toMatchObject({ reason: 'EXECUTOR_LOST', status: 'platform_error' });
    // A healthy executor joining later never sees it: it is not re-queued again.
    await h.addExecutor('ex-late', 100_000);
    const after = await h.invokeAsync(fn, { do: 'ok' });
    expect(await h.final(after)).toMatchObject({ status: 'success', executor: 'ex-late' });
    expect(h.runs.filter((r) => r.activationId === id)).toHaveLength(0);
  });

  it('does not run again an async invocation that finished just before its executor died', async () => {
    h = new Harness();
    await h.start({ executors: [] });
    const harness = h;
    const fn = await h.deploy('done', { memoryMb: 50_000 });
    const id = await h.invokeAsync(fn, { do: 'ok' });
    // The ghost "runs" it to the end (final record written), then dies before acknowledging.
    const g = await ghost(h, 'ghost-done', async (d) => {
      const rec = await harness.store.getActivation('default', d.request.activationId);
      await harness.store.finishActivation({ ...(rec as Activation), status: 'success', result: { ghost: true }, attempts: 1, executor: 'ghost-done' });
    });
    await until(() => g.taken.length === 1);
    await g.die();
    await h.addExecutor('ex-c', 100_000);
    // Wait for the recovery to have dealt with the ghost's queue, then for a while longer.
    await until(() => h!.registry.get('ghost-done')?.state === 'offline', 5000);
    const probe = await h.invokeAsync(fn, { do: 'ok' });
    expect(await h.final(probe)).toMatchObject({ status: 'success', executor: 'ex-c' });
    await until(async () => (await h!.bus.queueDepth(h!.topology.executorQueue('ghost-done'))) === 0);
    expect(h.runs.filter((r) => r.activationId === id)).toHaveLength(0);
    expect(await h.store.getActivation('default', id)).toMatchObject({ status: 'success', result: { ghost: true }, executor: 'ghost-done' });
  });

  it('a dispatch redelivered to a restarted executor that died running it is recovered, never left queued', async () => {
    h = new Harness();
    await h.start({ executors: [] });
    const fn = await h.deploy('again', { memoryMb: 128 });
    const queue = h.topology.executorQueue('ex-r');
    await h.bus.assertQueue(queue, { durable: true });
    const sched = h.topology.schedulerQueue(h.scheduler.id);
    const asyncReq = h.request(fn, { do: 'ok' }, 'async');
    await h.store.putActivation({
      activationId: asyncReq.activationId, namespace: 'default', function: fn.name, version: fn.version, status: 'queued',
      mode: 'async', logs: [], coldStart: false, attempts: 0, queuedAt: asyncReq.queuedAt,
    });
    const syncReq = h.request(fn, { do: 'ok' }, 'sync');
    const syncReply = new Promise<InvocationResult>((resolve) => (h as unknown as { replies: Map<string, (r: InvocationResult) => void> }).replies.set(syncReq.activationId, resolve));
    // The earlier life of ex-r claimed both runs, then died: the broker hands the dispatches back (redelivered).
    for (const req of [asyncReq, syncReq]) await h.kv.set(`run:default:${req.activationId}:1.0`, 'ex-r', { ttlMs: 60_000 });
    let kill!: (err: Error) => void;
    const killed = new Promise<never>((_, reject) => (kill = reject));
    killed.catch(() => undefined);
    let taken = 0;
    const earlierLife = await h.bus.consume(queue, async () => {
      taken++;
      await killed;
    }, { prefetch: 10 });
    for (const req of [asyncReq, syncReq]) await h.bus.send(queue, { request: req, placement: 'test', scheduler: sched } satisfies Dispatch);
    await until(() => taken === 2);
    kill(new Error('the process died'));
    await earlierLife.cancel();
    await h.addExecutor('ex-r');
    expect(await syncReply).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
    expect(await h.final(syncReq.activationId)).toMatchObject({ status: 'platform_error', error: { code: 'EXECUTOR_LOST' } });
    // The async one runs again (its first loss), once.
    expect(await h.final(asyncReq.activationId)).toMatchObject({ status: 'success', executor: 'ex-r' });
    expect(h.runs.filter((r) => r.activationId === asyncReq.activationId)).toHaveLength(1);
    expect(h.runs.filter((r) => r.activationId === syncReq.activationId)).toHaveLength(0);
  });

  it('on drain, a warm function gets a warm instance on another executor before the drained one leaves', async () => {
    h = new Harness();
    await h.start({ executors: ['ex-a', 'ex-b'] });
    const fn = await h.deploy('hot');
    const r = await h.invokeSync(fn, { do: 'ok' });
    expect(r.status).toBe('success');
    const first = h.runs[0]?.executorId as string;
    const other = first === 'ex-a' ? 'ex-b' : 'ex-a';
    const warmOn = (id: string): boolean => h!.nodes.get(id)!.pool.stats().warm.some((w) => w.function === 'hot');
    expect(warmOn(first)).toBe(true);
    expect(warmOn(other)).toBe(false);
    const drained = h.nodes.get(first)!;
    h.nodes.delete(first);
    const stopping = drained.executor.stop();
    await until(() => warmOn(other));
    await stopping;
    await until(() => h!.registry.get(first) === undefined);
    const again = await h.invokeSync(fn, { do: 'ok' });
    expect(again.status).toBe('success');
    expect(again.coldStart).toBe(false);
    expect(h.runs.at(-1)?.executorId).toBe(other);
  });
});
