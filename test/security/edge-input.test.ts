import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { MAX_JSON_DEPTH } from '../../core/json-depth.js';
import type { FunctionRecord, FunctionVersion, WarmInstanceInfo } from '../../core/types.js';
import { errorMiddleware } from '../../web/http.js';
import { eventRoutes } from '../../triggers/routes/events.js';
import { visibleTo } from '../../gateway/routes/executors.js';
import { archiveFormatOf, mediaTypeEssence } from '../../gateway/routes/functions.js';
import { triggerRoutes } from '../../triggers/routes/triggers.js';
import type { ExecutorView } from '../../placement/executor-registry.js';
import { BusUserQueues } from '../../triggers/bus-user-queues.js';
import { toMessageEvent } from '../../triggers/queue-consumer.js';
import { TopicDispatcher } from '../../triggers/topic-dispatcher.js';
import { TriggerInvoker } from '../../triggers/trigger-invoker.js';
import { TriggerService } from '../../triggers/trigger-service.js';
import { TriggerStore } from '../../triggers/trigger-store.js';
import { triggerSpecSchema } from '../../triggers/types.js';
import type { QueueDelivery } from '../../triggers/user-queues.js';
import { tgzOfTree, zipOf } from '../fixtures/archives.js';
import { openTempKv } from '../helpers/temp-stores.js';
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';

/**
 * Security probe findings whose logic is local, checked in process:
 * F8 (JSON depth on events, CloudEvents, batches, trigger data and queue
 * messages), F9 (archive media types) and F5 (what a namespace key sees of the
 * executors).
 */

const logger = pino({ level: 'silent' });
/** `n` nested arrays: `[[[…]]]` is n deep. */
const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);

describe('F8: JSON depth on events and triggers (in process, real trigger invoker)', () => {
  let server: http.Server;
  let base = '';
  const payloads: string[] = [];

  beforeAll(async () => {
    const kv = await openTempKv();
    const triggers = new TriggerStore(kv);
    const fnRecord = (name: string): FunctionRecord => {
      const latest = { namespace: 'default', name, version: 1 } as FunctionVersion;
      return { namespace: 'default', name, latest, versions: [1], createdAt: '', updatedAt: '' };
    };
    const store = {
      getFunction: async (_ns: string, name: string) => fnRecord(name),
      getFunctionVersion: async (_ns: string, name: string) => fnRecord(name).latest,
      getActivation: async () => undefined,
    };
    // The real TriggerInvoker serialises each event (JSON.stringify): where deep input used to overflow.
    const firer = new TriggerInvoker({
      submitter: {
        submitAsync: async (_fn: FunctionVersion, payload: string) => {
          payloads.push(payload);
          return `act-${payloads.length}`;
        },
      },
      store,
      router: new FunctionRouter({ store, aliases: new AliasStore(kv) }),
    });
    const bus = new MemoryBus({ prefix: 'sec-depth' });
    const service = new TriggerService({ triggers, functions: store, aliases: new AliasStore(kv), bus, topology: new Topology('sec-depth'), logger });
    const app = express();
    app.use(triggerRoutes({ triggers: service }));
    app.use(eventRoutes({ topics: new TopicDispatcher({ triggers, firer, logger }), queues: new BusUserQueues({ bus, prefix: 'sec-depth' }), maxPayloadBytes: 4 << 20 }));
    app.use(errorMiddleware(logger));
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sub = await send('PUT', '/v1/triggers/sub', JSON.stringify({ type: 'topic', function: 'sink', topic: 'deep' }), 'application/json');
    expect(sub.status).toBe(201);
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function send(method: string, path: string, body: string, contentType: string, headers: Record<string, string> = {}) {
    const r = await fetch(base + path, { method, headers: { 'content-type': contentType, ...headers }, body });
    const text = await r.text();
    return { status: r.status, code: (JSON.parse(text) as { error?: { code?: string } }).error?.code };
  }
  const envelope = (data: string): string => `{"specversion":"1.0","id":"e1","source":"/t","type":"t","datacontenttype":"application/json","data":${data}}`;
  const schedule = (data: string): string => `{"type":"schedule","function":"sink","cron":"0 0 1 1 *","data":${data}}`;

  // Each body nests exactly `depth` deep from its top level (the envelope and the batch array count).
  const shapes: [string, (depth: number) => Promise<{ status: number; code?: string }>][] = [
    ['plain JSON event', (d) => send('POST', '/v1/events/deep', deep(d), 'application/json')],
    ['structured CloudEvent', (d) => send('POST', '/v1/events/deep', envelope(deep(d - 1)), 'application/cloudevents+json')],
    ['CloudEvent batch', (d) => send('POST', '/v1/events/deep', `[${envelope(deep(d - 2))}]`, 'application/cloudevents-batch+json')],
    ['binary-mode CloudEvent', (d) => send('POST', '/v1/events/deep', deep(d), 'application/json', { 'ce-specversion': '1.0', 'ce-id': 'b1', 'ce-source': '/t', 'ce-type': 't' })],
    ['trigger data', (d) => send('PUT', '/v1/triggers/sched', schedule(deep(d - 1)), 'application/json')],
  ];

  for (const [what, sendAt] of shapes) {
    it(`${what}: ${MAX_JSON_DEPTH} deep is accepted; 65, 1000 and 100k deep are 400 JSON_TOO_DEEP, never 500`, async () => {
      const ok = await sendAt(MAX_JSON_DEPTH);
      expect(ok.status, what).toBeLessThan(300);
      for (const depth of [MAX_JSON_DEPTH + 1, 1000, 100_000]) {
        expect(await sendAt(depth), `${what} at ${depth}`).toEqual({ status: 400, code: 'JSON_TOO_DEEP' });
      }
    });
  }

  it('the trigger schema itself refuses deep data (for callers other than the HTTP route)', () => {
    const spec = { type: 'schedule', function: 'sink', cron: '0 0 1 1 *', data: JSON.parse(deep(1000)) as unknown };
    expect(triggerSpecSchema.safeParse(spec).success).toBe(false);
    expect(triggerSpecSchema.safeParse({ ...spec, data: JSON.parse(deep(MAX_JSON_DEPTH)) as unknown }).success).toBe(true);
  });

  it('a queue message with JSON deeper than the limit is handed over as text, not parsed', () => {
    const d = (body: string): QueueDelivery => ({ body: Buffer.from(body), headers: {}, redelivered: false, contentType: 'application/json' }) as unknown as QueueDelivery;
    const text = deep(100_000);
    const event = toMessageEvent(d(text));
    expect(event).toMatchObject({ body: text, isBase64Encoded: false });
    // What firing does with it: serialising must not overflow.
    expect(() => JSON.stringify({ messages: [event] })).not.toThrow();
    expect(toMessageEvent(d(deep(3)))).toMatchObject({ body: [[[]]] });
  });
});

describe('F9: archive media types are parsed, not searched for "zip"', () => {
  const tgz = tgzOfTree({ 'index.js': 'exports.handler = async () => 1;' });
  const zip = zipOf({ 'index.js': 'exports.handler = async () => 1;' });

  it('reads gzip types as .tar.gz, with or without parameters and in any case', () => {
    for (const type of ['application/gzip', 'application/x-gzip', 'Application/X-GZIP; charset=binary', 'application/x-tar+gzip']) {
      expect(archiveFormatOf(type, tgz), type).toBe('tgz');
    }
  });

  it('reads zip types as zip, and sniffs octet-stream, no type and malformed types', () => {
    for (const type of ['application/zip', 'application/x-zip-compressed', 'application/zip; foo=bar']) expect(archiveFormatOf(type, zip), type).toBe('zip');
    for (const type of ['application/octet-stream', undefined, 'not a media type', '']) {
      expect(archiveFormatOf(type, tgz), String(type)).toBe('tgz');
      expect(archiveFormatOf(type, zip), String(type)).toBe('zip');
    }
    expect(() => archiveFormatOf('application/octet-stream', Buffer.from('hello'))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ARCHIVE' }));
  });

  it('takes the essence of a media type', () => {
    expect(mediaTypeEssence('Application/GZip ; q=1')).toBe('application/gzip');
    expect(mediaTypeEssence('gzip')).toBeUndefined();
    expect(mediaTypeEssence(undefined)).toBeUndefined();
  });
});

describe('F5: what a namespace key sees of an executor', () => {
  const warm: WarmInstanceInfo[] = [
    { namespace: 'ns-a', function: 'mine', version: 1, state: 'idle' },
    { namespace: 'ns-b', function: 'secretfn', version: 2, state: 'busy' },
    { namespace: 'ns-ab', function: 'lookalike', version: 1, state: 'idle' },
  ];
  const view = {
    executorId: 'ex-1',
    backend: 'process',
    state: 'healthy',
    memoryMb: 4096,
    usedMb: 512,
    freeMb: 3584,
    inFlight: 1,
    pool: { '256': 2 },
    warm,
    idleWarm: { 'ns-a/mine@1': 1, 'ns-b/secretfn@2': 1, 'ns-ab/lookalike@1': 1 },
    provisioned: { 'ns-a/mine@1': 1, 'ns-b/secretfn@2': 1 },
  } as unknown as ExecutorView;

  it('keeps capacity and pool, and only its own namespace warm instances', () => {
    const seen = visibleTo({ namespace: 'ns-a' }, view);
    expect(seen).toMatchObject({ executorId: 'ex-1', memoryMb: 4096, usedMb: 512, freeMb: 3584, inFlight: 1, pool: { '256': 2 } });
    expect(seen.warm).toEqual([warm[0]]);
    expect(seen.idleWarm).toEqual({ 'ns-a/mine@1': 1 });
    expect(seen.provisioned).toEqual({ 'ns-a/mine@1': 1 });
    expect(JSON.stringify(seen)).not.toMatch(/secretfn|lookalike|ns-b/);
  });
});
