import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { delayStep } from '../../bus/amqp-bus.js';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { MAX_SEND_DELAY_MS } from '../../bus/types.js';
import { loadConfig } from '../../core/config.js';
import type { FunctionVersion, InvocationRequest } from '../../core/types.js';
import { finalRecord, functionError, platformError, queuedRecord, refusedRecord } from '../../invocations/activation-records.js';
import { MAX_EXECUTOR_LOSSES, RetryPolicy } from '../../invocations/retry-policy.js';
import { Submitter } from '../../invocations/submit.js';
import { FileStore } from '../../storage/file-store.js';

const HOUR = 3600_000;

const fn: FunctionVersion = {
  namespace: 'ns',
  name: 'f',
  version: 3,
  handler: 'index.handler',
  memoryMb: 128,
  timeoutMs: 1000,
  env: {},
  maxConcurrency: 0,
  retries: 2,
  allowEgress: false,
  codeHash: 'a'.repeat(64),
  codeSize: 1,
  exportName: 'handler',
  createdAt: '2026-01-01T00:00:00.000Z',
};

function request(over: Partial<InvocationRequest> = {}): InvocationRequest {
  return { activationId: 'a1', fn, mode: 'async', payload: '{}', deadline: Date.now() + HOUR, attempt: 1, queuedAt: new Date().toISOString(), ...over };
}

describe('Submitter', () => {
  let dir: string | undefined;
  let bus: MemoryBus | undefined;
  afterEach(async () => {
    await bus?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('submitAsync records the activation queued and sends it, alive for the maximum event age (no hidden 24 h cap)', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-submit-'));
    const store = new FileStore(dir);
    await store.waitUntilReady();
    bus = new MemoryBus({ prefix: 'sub' });
    const topology = new Topology('sub');
    await bus.assertQueue(topology.invokeQueue, { durable: true });
    const sent: InvocationRequest[] = [];
    await bus.consume<InvocationRequest>(topology.invokeQueue, async (r) => void sent.push(r), { prefetch: 10 });
    // 48 h: past the 24 h deadline async work used to get whatever BRISK_MAX_EVENT_AGE_S said.
    const submitter = new Submitter({ bus, topology, store, retry: new RetryPolicy({ maxEventAgeMs: 48 * HOUR }) });
    const id = await submitter.submitAsync(fn, '{"x":1}', { trigger: 'topic:t', activationId: 'given-id' });
    expect(id).toBe('given-id');
    await expect.poll(() => sent.length).toBe(1);
    const req = sent[0] as InvocationRequest;
    expect(req).toMatchObject({ activationId: 'given-id', mode: 'async', payload: '{"x":1}', attempt: 1, trigger: 'topic:t' });
    expect(req.replyTo).toBeUndefined();
    expect(req.deadline - Date.parse(req.queuedAt)).toBe(48 * HOUR);
    expect(await store.getActivation('ns', 'given-id')).toMatchObject({ status: 'queued', attempts: 0, mode: 'async', trigger: 'topic:t', version: 3 });
    await store.close();
  });
});

describe('RetryPolicy', () => {
  it('takes its knobs from the configuration', () => {
    const p = RetryPolicy.fromConfig(loadConfig({ BRISK_MAX_EVENT_AGE_S: '172800', BRISK_MAX_PLATFORM_RETRIES: '3' }));
    expect(p.limits).toMatchObject({ maxEventAgeMs: 48 * HOUR, maxPlatformRetries: 3 });
    expect(RetryPolicy.fromConfig(loadConfig({})).limits).toMatchObject({ maxEventAgeMs: 6 * HOUR, maxPlatformRetries: 10 });
  });

  it('retries a function failure `retries` times with doubling delays, then gives up with RETRIES_EXHAUSTED', () => {
    const p = new RetryPolicy();
    const delays: number[] = [];
    let req = request();
    for (;;) {
      const next = p.retryOf(req, 'error');
      if (!next) break;
      delays.push(next.delayMs);
      req = next.request;
    }
    expect(delays).toEqual([1000, 2000]);
    expect(req.attempt).toBe(3);
    expect(p.finalReason(req, 'error')).toBe('RETRIES_EXHAUSTED');
    expect(p.retryOf(request({ mode: 'sync' }), 'error')).toBeUndefined();
    expect(p.retryOf(request(), 'success')).toBeUndefined();
  });

  it('retries throttles and platform faults up to maxPlatformRetries, apart from the attempts, waiting n × base', () => {
    const p = new RetryPolicy({ maxPlatformRetries: 3 });
    const delays: number[] = [];
    let req = request();
    for (let next = p.retryOf(req, 'throttled'); next; next = p.retryOf(req, 'platform_error')) {
      delays.push(next.delayMs);
      req = next.request;
    }
    expect(delays).toEqual([1000, 2000, 3000]);
    expect(req).toMatchObject({ attempt: 1, platformRetries: 3 });
    expect(p.finalReason(req, 'platform_error')).toBe('PLATFORM_RETRIES_EXHAUSTED');
  });

  it('past its deadline nothing is retried, and the reason is EVENT_TOO_OLD; tooOld counts from acceptance', () => {
    const p = new RetryPolicy({ maxEventAgeMs: HOUR });
    const old = request({ queuedAt: new Date(Date.now() - 2 * HOUR).toISOString(), deadline: Date.now() - HOUR });
    expect(p.retryOf(old, 'error')).toBeUndefined();
    expect(p.finalReason(old, 'error')).toBe('EVENT_TOO_OLD');
    expect(p.tooOld(old)).toBe(true);
    expect(p.tooOld({ ...old, mode: 'sync' })).toBe(false);
    expect(p.tooOld(request())).toBe(false);
  });

  it('runs a lost invocation again once, then dead-letters it (EXECUTOR_LOST)', () => {
    const p = new RetryPolicy();
    const first = p.afterExecutorLoss(request(), 'ex-1');
    expect(first).toEqual({ retry: expect.objectContaining({ executorLosses: 1, platformRetries: 1 }) });
    const again = p.afterExecutorLoss((first as { retry: InvocationRequest }).retry, 'ex-2');
    expect(MAX_EXECUTOR_LOSSES).toBe(2);
    expect(again).toMatchObject({ deadLetter: 'EXECUTOR_LOST' });
  });
});

describe('activation records', () => {
  it('are built from the request and the outcome, with tagged errors', () => {
    const req = request({ trigger: 'redrive', attempt: 2 });
    expect(queuedRecord(req)).toEqual({
      activationId: 'a1', namespace: 'ns', function: 'f', version: 3, status: 'queued', mode: 'async',
      logs: [], coldStart: false, attempts: 0, queuedAt: req.queuedAt, trigger: 'redrive',
    });
    const done = finalRecord(
      req,
      { status: 'error', error: functionError('TypeError', 'boom'), logs: ['l'], logsTruncated: false, coldStart: true, startKind: 'cold', startMs: 5, startedAt: 's', durationMs: 9 },
      { executor: 'ex-1', placement: 'warm' },
    );
    expect(done).toMatchObject({ status: 'error', attempts: 2, executor: 'ex-1', placement: 'warm', startKind: 'cold', error: { kind: 'function', errorType: 'TypeError' } });
    expect('result' in done).toBe(false);
    expect(refusedRecord(req, platformError('NO_CAPACITY', 'full'))).toMatchObject({ status: 'platform_error', attempts: 2, error: { kind: 'platform', code: 'NO_CAPACITY' } });
  });
});

describe('RabbitMQ delay steps', () => {
  it('round a delay up to a ladder step: never early, at most half again, and few queues for any delay', () => {
    expect([1, 250, 251, 375, 376, 1000, 1001, 2500, 3000, 10_000].map(delayStep)).toEqual([250, 250, 375, 375, 500, 1000, 1500, 3000, 3000, 12_000]);
    const steps = new Set<number>();
    for (let ms = 1; ms <= MAX_SEND_DELAY_MS; ms = Math.ceil(ms * 1.01)) {
      const step = delayStep(ms);
      expect(step).toBeGreaterThanOrEqual(ms);
      if (ms >= 250) expect(step).toBeLessThanOrEqual(ms * 1.5);
      steps.add(step);
    }
    expect(steps.size).toBeLessThanOrEqual(40);
    expect(delayStep(10 * MAX_SEND_DELAY_MS)).toBe(delayStep(MAX_SEND_DELAY_MS));
  });
});
