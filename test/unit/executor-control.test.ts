import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { FunctionVersion } from '../../core/types.js';
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
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import { functionDraft } from '../helpers/records.js';

/**
 * The executor hears pre-warm requests on the control topic through the one
 * control-message schema: its own are acted on, other executors' and unknown
 * kinds are ignored, and a malformed one is logged and dropped (before, it
 * threw out of the subscriber).
 */

class FakeInstance implements Instance {
  constructor(readonly id: string, readonly spec: InstanceSpec) {}
  async init(): Promise<void> {}
  async preparePackage(): Promise<string> {
    return '/package';
  }
  async run(): Promise<RunAnswer> {
    return { ok: true, resultJson: 'null', result: null, logs: [], logsTruncated: false, durationMs: 1 };
  }
  platformFaultSince(): undefined {
    return undefined;
  }
  async destroy(): Promise<void> {}
}

class CountingBackend implements ExecutorBackend {
  readonly name = 'process' as const;
  created = 0;
  async start(): Promise<void> {}
  async createInstance(spec: InstanceSpec): Promise<Instance> {
    this.created++;
    return new FakeInstance(`fake-${this.created}`, spec);
  }
  async close(): Promise<void> {}
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('executor: control messages', () => {
  let dir: string;
  let bus: MemoryBus;
  let backend: CountingBackend;
  let executor: Executor;
  let fn: FunctionVersion;
  const topology = new Topology('ctl');
  const logLines: Array<{ msg?: string; kind?: string }> = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-exctl-'));
    bus = new MemoryBus({ prefix: 'ctl' });
    const store = new FileStore(path.join(dir, 'meta'));
    const kv = new FileKeyValueStore(path.join(dir, 'meta'));
    await Promise.all([bus.waitUntilReady(), store.waitUntilReady(), kv.waitUntilReady()]);
    fn = (
      await store.putFunctionVersion(functionDraft({ name: 'warm-me', codeSize: 4 }))
    ).version;
    backend = new CountingBackend();
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(JSON.parse(line) as { msg?: string }) });
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
      heartbeatMs: 20,
      concurrency: 1,
      deadLetters: new DeadLetterOffice({ letters: new DeadLetterStore(kv), store, router: new FunctionRouter({ store, aliases: new AliasStore(kv) }), submitter: new Submitter({ bus, topology, store, retry: new RetryPolicy() }), logger }),
      retry: new RetryPolicy(),
      kv,
    });
    await executor.start();
  });

  afterEach(async () => {
    await executor.stop();
    await bus.close();
    fs.rmSync(dir, { recursive: true, force: true });
    logLines.length = 0;
  });

  it('pre-warms on its own request only; other executors\' requests and unknown kinds change nothing', async () => {
    await bus.publish(topology.controlTopic, { kind: 'prewarm', executorId: 'ex-2', fn });
    await bus.publish(topology.controlTopic, { kind: 'from-a-newer-peer', executorId: 'ex-1', fn });
    await bus.publish(topology.controlTopic, { kind: 'prewarm', executorId: 'ex-1', fn });
    await until(() => backend.created === 1);
    expect(logLines.filter((l) => l.msg === 'malformed control message dropped')).toEqual([]);
  });

  it('logs and drops a malformed pre-warm request, and still serves the next one', async () => {
    await bus.publish(topology.controlTopic, { kind: 'prewarm', executorId: 'ex-1', fn: { ...fn, codeHash: 'nope' } });
    await bus.publish(topology.controlTopic, { kind: 'prewarm', executorId: 'ex-1', fn });
    await until(() => backend.created === 1);
    expect(logLines.filter((l) => l.msg === 'malformed control message dropped').map((l) => l.kind)).toEqual(['prewarm']);
  });
});
