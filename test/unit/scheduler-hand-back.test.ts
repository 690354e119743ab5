import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { FunctionVersion, InvocationRequest } from '../../core/types.js';
import { ConcurrencyLimiter } from '../../placement/concurrency-limiter.js';
import { DeadLetterOffice } from '../../invocations/dead-letter-office.js';
import { DeadLetterStore } from '../../invocations/dead-letters.js';
import { RetryPolicy } from '../../invocations/retry-policy.js';
import { Submitter } from '../../invocations/submit.js';
import { ExecutorRegistry } from '../../placement/executor-registry.js';
import { Scheduler } from '../../scheduler/scheduler.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { FileStore } from '../../storage/file-store.js';
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import { functionVersion } from '../helpers/records.js';

/**
 * A scheduler that stops while requests wait for capacity leaves them for
 * another scheduler: it throws `HandedBackError`, which the bus puts back
 * without counting a failed delivery. With a plain `Error` (before), each
 * stop cost every waiting request one of its 5 delivery attempts, so five
 * rolling restarts during a capacity shortage dead-lettered work that never
 * ran.
 */

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const fn: FunctionVersion = functionVersion({ name: 'waits', codeSize: 4 });

function request(n: number): InvocationRequest {
  return {
    activationId: `handback${n}`,
    fn,
    mode: 'async',
    payload: '{}',
    deadline: Date.now() + 60_000,
    attempt: 1,
    queuedAt: new Date().toISOString(),
  };
}

describe('a stopping scheduler hands waiting requests back', () => {
  it('its waiting requests keep their delivery count, and are neither run nor dead-lettered', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-handback-'));
    dirs.push(dir);
    const bus = new MemoryBus({ prefix: 'hb' });
    const topology = new Topology('hb');
    const store = new FileStore(path.join(dir, 'meta'));
    const kv = new FileKeyValueStore(path.join(dir, 'meta'));
    await Promise.all([store.waitUntilReady(), kv.waitUntilReady()]);
    const letters = new DeadLetterStore(kv);
    const retry = new RetryPolicy({ maxEventAgeMs: 3600_000 });
    const office = new DeadLetterOffice({ letters, store, router: new FunctionRouter({ store, aliases: new AliasStore(kv) }), submitter: new Submitter({ bus, topology, store, retry }), logger: log });
    const startScheduler = async (): Promise<Scheduler> => {
      const s = new Scheduler({
        bus,
        topology,
        store,
        // No executor ever joins: every request waits for capacity.
        registry: new ExecutorRegistry({ heartbeatMs: 1000 }),
        limiter: new ConcurrencyLimiter(),
        logger: log,
        policy: 'spread',
        namespaceConcurrency: 100,
        deadLetters: office,
        retry,
      });
      await s.start();
      return s;
    };

    // Three stops in a row, each while the same requests wait (a rolling restart in a capacity shortage).
    for (let round = 0; round < 3; round++) {
      const scheduler = await startScheduler();
      if (round === 0) for (let n = 0; n < 3; n++) await bus.send(topology.invokeQueue, request(n));
      // All three are held by the scheduler, waiting for room.
      await expect.poll(() => bus.queueDepth(topology.invokeQueue)).toBe(0);
      await scheduler.stop();
      expect(await bus.queueDepth(topology.invokeQueue)).toBe(3);
    }

    // What the next consumer of the invoke queue sees: first deliveries, every one.
    const seen: { id: string; redeliveries: number }[] = [];
    await bus.consume<InvocationRequest>(topology.invokeQueue, async (r, info) => void seen.push({ id: r.activationId, redeliveries: info.redeliveries }), { prefetch: 10 });
    await expect.poll(() => seen.length).toBe(3);
    expect(seen.map((s) => s.redeliveries)).toEqual([0, 0, 0]);
    expect(seen.map((s) => s.id).sort()).toEqual(['handback0', 'handback1', 'handback2']);
    expect(await bus.queueDepth(topology.deadLetterQueue)).toBe(0);
    expect(await letters.list('default')).toEqual([]);

    await bus.close();
    await Promise.all([store.close(), kv.close()]);
  });
});
