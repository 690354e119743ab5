import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { ConsumeOptions, MessageHandler, Subscription } from '../../bus/types.js';
import type { Dispatch, FunctionVersion, Heartbeat, InvocationRequest, InvocationResult } from '../../core/types.js';
import { CodeCache } from '../../executor/code-cache.js';
import { Executor } from '../../executor/executor.js';
import type { ExecutorBackend, Instance, InstanceSpec, RunAnswer } from '../../executor/types.js';
import { WarmPool } from '../../executor/warm-pool.js';
import { DeadLetterOffice } from '../../invocations/dead-letter-office.js';
import { DeadLetterStore } from '../../invocations/dead-letters.js';
import { RetryPolicy } from '../../invocations/retry-policy.js';
import { Submitter } from '../../invocations/submit.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { BundleStore } from '../../storage/bundles.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { FileStore } from '../../storage/file-store.js';
import { quietWindow, waitFor } from '../helpers/wait.js';
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import { functionDraft } from '../helpers/records.js';

/**
 * A gateway's direct dispatch (a warm sync call, no scheduler) runs at most
 * once: when the broker hands the same dispatch to the executor again (its
 * channel was lost while it held it), the executor does not run it a second
 * time — still running here: the first run answers; already over: the caller
 * (if it still waits) gets EXECUTOR_LOST and the record keeps the real outcome.
 */

/** Runs one activation at a time; each run waits for `gate` and is counted. */
class GatedInstance implements Instance {
  constructor(readonly id: string, readonly spec: InstanceSpec, private readonly owner: GatedBackend) {}
  async init(): Promise<void> {}
  async preparePackage(): Promise<string> {
    return '/package';
  }
  async run(): Promise<RunAnswer> {
    this.owner.runs++;
    await this.owner.gate;
    return { ok: true, resultJson: '{"ran":true}', result: { ran: true }, logs: [], logsTruncated: false, durationMs: 1 };
  }
  platformFaultSince(): undefined {
    return undefined;
  }
  async destroy(): Promise<void> {}
}

class GatedBackend implements ExecutorBackend {
  readonly name = 'process' as const;
  runs = 0;
  gate: Promise<void> = Promise.resolve();
  /** Instance creation waits for it (an instance being taken for a run, not yet held). */
  createGate: Promise<void> = Promise.resolve();
  private created = 0;
  async start(): Promise<void> {}
  async createInstance(spec: InstanceSpec): Promise<Instance> {
    await this.createGate;
    return new GatedInstance(`fake-${++this.created}`, spec, this);
  }
  async close(): Promise<void> {}
}

/**
 * The in-memory bus, except that every message on an executor's direct queue is handed
 * to its consumer a second time, marked redelivered, as RabbitMQ does after
 * a lost channel: `between` decides when (while the first is running, or after).
 */
class RedeliveringBus extends MemoryBus {
  between: (first: Promise<void>) => Promise<void> = (first) => first;
  /** Second deliveries handled so far. */
  redelivered = 0;
  override async consume<T>(queue: string, handler: MessageHandler<T>, opts: ConsumeOptions): Promise<Subscription> {
    if (!queue.includes('.direct.')) return super.consume(queue, handler, opts);
    return super.consume<T>(
      queue,
      async (body, info) => {
        const first = handler(body, info);
        await this.between(first);
        const again = handler(body, { ...info, redeliveries: info.redeliveries + 1 }).finally(() => this.redelivered++);
        await Promise.all([first, again]);
      },
      opts,
    );
  }
}

describe('executor: a direct (gateway) sync dispatch delivered twice runs once', () => {
  let dir: string;
  let bus: RedeliveringBus;
  let backend: GatedBackend;
  let executor: Executor;
  let store: FileStore;
  let fn: FunctionVersion;
  const topology = new Topology('direct');
  const replyQueue = topology.replyQueue('gw-test');
  const replies: InvocationResult[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-exdirect-'));
    bus = new RedeliveringBus({ prefix: 'direct' });
    store = new FileStore(path.join(dir, 'meta'));
    const kv = new FileKeyValueStore(path.join(dir, 'meta'));
    await Promise.all([bus.waitUntilReady(), store.waitUntilReady(), kv.waitUntilReady()]);
    fn = (
      await store.putFunctionVersion(functionDraft({ name: 'once', codeSize: 4 }))
    ).version;
    backend = new GatedBackend();
    const logger = pino({ level: 'silent' });
    const pool = new WarmPool({ backend, prepareInit: async () => ({ code: 'fake' }), memoryMb: 512, idleTtlMs: 60_000, poolSize: 0, poolMax: 0 });
    executor = new Executor({
      id: 'ex-1',
      backend: 'process',
      bus,
      topology,
      store,
      pool,
      code: new CodeCache(new BundleStore({ objects: new FileObjectStore(path.join(dir, 'objects')) })),
      logger,
      heartbeatMs: 1000,
      concurrency: 4,
      deadLetters: new DeadLetterOffice({ letters: new DeadLetterStore(kv), store, router: new FunctionRouter({ store, aliases: new AliasStore(kv) }), submitter: new Submitter({ bus, topology, store, retry: new RetryPolicy() }), logger }),
      retry: new RetryPolicy(),
      kv,
    });
    await executor.start();
    await bus.assertQueue(replyQueue, { durable: false });
    await bus.consume<InvocationResult>(replyQueue, async (r) => void replies.push(r), { prefetch: 100, autoAck: true });
  });

  afterEach(async () => {
    await executor.stop();
    await bus.close();
    fs.rmSync(dir, { recursive: true, force: true });
    replies.length = 0;
  });

  const directDispatch = (activationId: string): Dispatch => {
    const request: InvocationRequest = {
      activationId,
      fn,
      mode: 'sync',
      payload: '{}',
      replyTo: replyQueue,
      deadline: Date.now() + 10_000,
      attempt: 1,
      queuedAt: new Date().toISOString(),
    };
    return { request, placement: 'direct' }; // no `scheduler`: sent by a gateway
  };

  it('delivered again while it runs: not run a second time, one answer', async () => {
    let open!: () => void;
    backend.gate = new Promise<void>((r) => (open = r));
    bus.between = async () => {
      await waitFor(() => backend.runs === 1, 5000, 5);
    };
    const second = waitFor(() => replies.length === 1, 5000, 5);
    await bus.send(executor.directQueue, directDispatch('a'.repeat(32)));
    await waitFor(() => bus.redelivered === 1, 5000, 5); // handled while the first run still waits at the gate
    expect(replies).toEqual([]);
    open();
    await second;
    await quietWindow(100); // no second answer comes
    expect(backend.runs).toBe(1);
    expect(replies).toMatchObject([{ activationId: 'a'.repeat(32), status: 'success', resultJson: '{"ran":true}', executorId: 'ex-1' }]);
    expect((await store.getActivation('default', 'a'.repeat(32)))?.status).toBe('success');
  });

  it('heartbeats name the activations holding an instance, and say so when there is none', async () => {
    const beats: Heartbeat[] = [];
    await bus.subscribe<Heartbeat>(topology.heartbeatTopic, (hb) => void beats.push(hb));
    let open!: () => void;
    backend.gate = new Promise<void>((r) => (open = r));
    const id = 'c'.repeat(32);
    await bus.send(executor.directQueue, directDispatch(id));
    await waitFor(() => beats.some((b) => b.running?.includes(id) === true), 5000, 5);
    open();
    // Once it is over, a heartbeat says so with an empty list, not an absent one (which reads as an older executor's).
    await waitFor(() => beats.slice(beats.findIndex((b) => b.running?.includes(id) === true) + 1).some((b) => Array.isArray(b.running) && b.running.length === 0), 5000, 5);
  });

  it('heartbeats name an activation from the moment it is taking an instance, before it holds one', async () => {
    const beats: Heartbeat[] = [];
    await bus.subscribe<Heartbeat>(topology.heartbeatTopic, (hb) => void beats.push(hb));
    let created!: () => void;
    backend.createGate = new Promise<void>((r) => (created = r));
    const id = 'd'.repeat(32);
    await bus.send(executor.directQueue, directDispatch(id));
    await waitFor(() => beats.some((b) => b.running?.includes(id) === true), 5000, 5);
    expect(backend.runs).toBe(0); // still taking its instance
    created();
    // (This bus delivers it a second time after the run: that copy answers EXECUTOR_LOST, see below.)
    await waitFor(() => replies.length >= 1, 5000, 5);
    expect(replies[0]).toMatchObject({ activationId: id, status: 'success' });
    expect(backend.runs).toBe(1);
    // Released, it is off the list.
    await waitFor(() => beats.slice(beats.findIndex((b) => b.running?.includes(id) === true) + 1).some((b) => Array.isArray(b.running) && b.running.length === 0), 5000, 5);
  });

  it('delivered again after it ran: not run again; the late copy answers EXECUTOR_LOST and the record keeps the outcome', async () => {
    await bus.send(executor.directQueue, directDispatch('b'.repeat(32)));
    await waitFor(() => replies.length === 2, 5000, 5);
    expect(backend.runs).toBe(1);
    expect(replies[0]).toMatchObject({ status: 'success' });
    expect(replies[1]).toMatchObject({ status: 'platform_error', error: { kind: 'platform', code: 'EXECUTOR_LOST' } });
    const record = await store.getActivation('default', 'b'.repeat(32));
    expect(record).toMatchObject({ status: 'success', placement: 'direct', executor: 'ex-1' });
  });
});
