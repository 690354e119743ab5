import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { BriskError, ValidationError } from '../../core/errors.js';
import type { FunctionRecord, FunctionVersion } from '../../core/types.js';
import { errorMiddleware } from '../../web/http.js';
import { eventRoutes, PLAIN_EVENT_TYPE } from '../../triggers/routes/events.js';
import { triggerRoutes } from '../../triggers/routes/triggers.js';
import type { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { BusUserQueues } from '../../triggers/bus-user-queues.js';
import { compileHttpPattern } from '../../triggers/http-pattern.js';
import { matchHttpTrigger } from '../../triggers/http-router.js';
import { TopicDispatcher } from '../../triggers/topic-dispatcher.js';
import { assertCron } from '../../core/cron.js';
import { TriggerService } from '../../triggers/trigger-service.js';
import { TriggerStore } from '../../triggers/trigger-store.js';
import { triggerSpecSchema, type TriggerOf } from '../../triggers/types.js';
import { openTempKv } from '../helpers/temp-stores.js';
import { AliasStore } from '../../releases/alias-store.js';

const logger = pino({ level: 'silent' });

function fnRecord(name: string): FunctionRecord {
  const latest = { namespace: 'default', name, version: 1 } as FunctionVersion;
  return { namespace: 'default', name, latest, versions: [1], createdAt: '', updatedAt: '' };
}

describe('trigger specs', () => {
  it('fills defaults and normalises the http method', () => {
    expect(triggerSpecSchema.parse({ type: 'schedule', function: 'f', cron: '*/5 * * * * *' })).toEqual({
      type: 'schedule',
      function: 'f',
      cron: '*/5 * * * * *',
      timezone: 'UTC',
    });
    expect(triggerSpecSchema.parse({ type: 'queue', function: 'f', queue: 'jobs' })).toMatchObject({
      batchSize: 1,
      concurrency: 4,
      deadLetter: 'queue',
    });
    expect(triggerSpecSchema.parse({ type: 'storage', function: 'f', bucket: 'uploads' })).toMatchObject({ events: ['created', 'deleted'], prefix: '' });
    expect(triggerSpecSchema.parse({ type: 'http', function: 'f', method: 'get', path: '/users/:id' })).toMatchObject({ method: 'GET' });
  });

  it.each([
    [{ type: 'nope', function: 'f' }],
    [{ type: 'topic', function: 'F!', topic: 'orders' }],
    [{ type: 'topic', function: 'f', topic: 'has space' }],
    [{ type: 'queue', function: 'f', queue: 'amq.reserved' }],
    [{ type: 'storage', function: 'f', bucket: 'Upper' }],
    [{ type: 'storage', function: 'f', bucket: 'b1', events: ['renamed'] }],
    [{ type: 'http', function: 'f', method: 'BREW', path: '/x' }],
    [{ type: 'http', function: 'f', method: 'GET', path: 'no-slash' }],
    [{ type: 'http', function: 'f', method: 'GET', path: '/a/*rest/b' }],
    [{ type: 'topic', function: 'f', topic: 'orders', extra: true }],
  ])('rejects %j', (body) => {
    expect(triggerSpecSchema.safeParse(body).success).toBe(false);
  });

  it('checks cron expressions and time zones', () => {
    expect(() => assertCron('*/5 * * * * *', 'UTC')).not.toThrow();
    expect(() => assertCron('0 9 * * 1-5', 'Europe/Berlin')).not.toThrow();
    for (const [cron, tz] of [
      ['61 * * * * *', 'UTC'],
      ['* * *', 'UTC'],
      ['* * * * * * *', 'UTC'],
      ['0 0 31 2 *', 'UTC'],
      ['* * * * *', 'Mars/Olympus'],
    ] as const) {
      try {
        assertCron(cron, tz);
        expect.unreachable(`${cron} ${tz} accepted`);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).code).toBe('INVALID_CRON');
      }
    }
  });
});

describe('http trigger patterns', () => {
  const t = (name: string, method: string, path: string): TriggerOf<'http'> =>
    ({ type: 'http', name, namespace: 'default', function: name, method, path, createdAt: '', updatedAt: '' }) as TriggerOf<'http'>;

  it('matches parameters, wildcards and decodes segments', () => {
    expect(compileHttpPattern('/users/:id').match('/users/a%20b')).toEqual({ id: 'a b' });
    expect(compileHttpPattern('/users/:id').match('/users/1/x')).toBeUndefined();
    expect(compileHttpPattern('/files/*rest').match('/files/a/b/c')).toEqual({ rest: 'a/b/c' });
    expect(compileHttpPattern('/files/*rest').match('/files')).toEqual({ rest: '' });
    expect(compileHttpPattern('/').match('/')).toEqual({});
    expect(compileHttpPattern('/users/:id').shape).toBe(compileHttpPattern('/users/:name').shape);
  });

  it('prefers static segments, then exact methods, and tells 405 from 404', () => {
    const routes = [t('any-user', 'ANY', '/users/:id'), t('me', 'GET', '/users/me'), t('get-user', 'GET', '/users/:id'), t('files', 'GET', '/files/*p')];
    expect(matchHttpTrigger(routes, 'GET', '/users/me').trigger.name).toBe('me');
    expect(matchHttpTrigger(routes, 'GET', '/users/7')).toMatchObject({ trigger: { name: 'get-user' }, params: { id: '7' } });
    expect(matchHttpTrigger(routes, 'DELETE', '/users/7').trigger.name).toBe('any-user');
    expect(matchHttpTrigger(routes, 'HEAD', '/files/x/y').trigger.name).toBe('files');
    expect(() => matchHttpTrigger(routes, 'POST', '/files/x')).toThrow(expect.objectContaining({ code: 'METHOD_NOT_ALLOWED', status: 405 }));
    expect(() => matchHttpTrigger(routes, 'GET', '/nothing')).toThrow(expect.objectContaining({ code: 'ROUTE_NOT_FOUND', status: 404 }));
  });
});

describe('TriggerService', () => {
  let kv: FileKeyValueStore;
  let bus: MemoryBus;
  let service: TriggerService;
  const notices: unknown[] = [];
  const topology = new Topology('unit');

  beforeEach(async () => {
    kv = await openTempKv();
    bus = new MemoryBus({ prefix: 'unit' });
    notices.length = 0;
    await bus.subscribe(topology.controlTopic, (n) => void notices.push(n));
    const functions = { getFunction: async (_ns: string, name: string) => (name === 'missing' ? undefined : fnRecord(name)) };
    service = new TriggerService({ triggers: new TriggerStore(kv), functions, aliases: new AliasStore(kv), bus, topology, logger });
  });

  it('creates, replaces, lists and deletes, announcing each change', async () => {
    const a = await service.put('default', 'orders', { type: 'topic', function: 'f', topic: 'orders' });
    expect(a.created).toBe(true);
    const b = await service.put('default', 'orders', { type: 'topic', function: 'g', topic: 'orders' });
    expect(b.created).toBe(false);
    expect(b.trigger.createdAt).toBe(a.trigger.createdAt);
    expect((await service.get('default', 'orders')).function).toBe('g');
    await service.put('other', 'x', { type: 'topic', function: 'f', topic: 't' });
    expect((await service.list('default')).map((t) => t.name)).toEqual(['orders']);
    expect((await new TriggerStore(kv).listAll()).map((t) => `${t.namespace}/${t.name}`)).toEqual(['default/orders', 'other/x']);
    await service.delete('default', 'orders');
    await expect(service.get('default', 'orders')).rejects.toMatchObject({ code: 'TRIGGER_NOT_FOUND', status: 404 });
    await expect(service.delete('default', 'orders')).rejects.toMatchObject({ code: 'TRIGGER_NOT_FOUND' });
    expect(notices).toEqual([
      { kind: 'triggers-changed', namespace: 'default' },
      { kind: 'triggers-changed', namespace: 'default' },
      { kind: 'triggers-changed', namespace: 'other' },
      { kind: 'triggers-changed', namespace: 'default' },
    ]);
  });

  it('refuses a queue trigger on a platform or broker queue', async () => {
    for (const queue of ['unit.invoke', 'unit.exec.x', 'unit.dead', 'unit.reply.gw', 'unit', 'amq.x']) {
      await expect(service.put('default', 'spy', { type: 'queue', function: 'f', queue, batchSize: 1, batchWindowMs: 0, concurrency: 1, deadLetter: 'queue' })).rejects.toMatchObject({
        code: 'INVALID_QUEUE',
        status: 400,
      });
    }
    expect(await service.list('default')).toEqual([]);
    // Names that merely contain the prefix further on are the user's.
    await service.put('default', 'ok', { type: 'queue', function: 'f', queue: 'jobs.unit.invoke', batchSize: 1, batchWindowMs: 0, concurrency: 1, deadLetter: 'queue' });
  });

  it('refuses a missing function, a bad cron, a bad name and a taken route', async () => {
    await expect(service.put('default', 't', { type: 'topic', function: 'missing', topic: 'x' })).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    await expect(service.put('default', 't', { type: 'schedule', function: 'f', cron: 'nope', timezone: 'UTC' })).rejects.toMatchObject({ code: 'INVALID_CRON' });
    await expect(service.put('default', 'Bad Name', { type: 'topic', function: 'f', topic: 'x' })).rejects.toMatchObject({ code: 'INVALID_NAME' });
    await service.put('default', 'users', { type: 'http', function: 'f', method: 'GET', path: '/users/:id' });
    await expect(service.put('default', 'users2', { type: 'http', function: 'f', method: 'ANY', path: '/users/:name' })).rejects.toMatchObject({
      code: 'TRIGGER_CONFLICT',
      status: 409,
    });
    // Another method on the same path, and re-putting the same trigger, are fine.
    await service.put('default', 'users-post', { type: 'http', function: 'f', method: 'POST', path: '/users/:name' });
    await service.put('default', 'users', { type: 'http', function: 'g', method: 'GET', path: '/users/:id' });
  });
});

describe('/v1/triggers and /v1/events over HTTP', () => {
  let server: http.Server;
  let base = '';
  const fired: { trigger: string; event: Record<string, unknown> }[] = [];
  const bus = new MemoryBus({ prefix: 'unit-http' });
  const queues = new BusUserQueues({ bus, prefix: 'unit-http' });

  beforeAll(async () => {
    const kv = await openTempKv();
    const triggers = new TriggerStore(kv);
    const functions = { getFunction: async (_ns: string, name: string) => (name === 'missing' ? undefined : fnRecord(name)) };
    const service = new TriggerService({ triggers, functions, aliases: new AliasStore(kv), bus, topology: new Topology('unit-http'), logger });
    const firer = {
      fire: async (t: { name: string; function: string }, event: unknown) => {
        if (t.function === 'gone') throw new BriskError('FUNCTION_NOT_FOUND', 'gone', { status: 404 });
        fired.push({ trigger: t.name, event: event as Record<string, unknown> });
        return `act-${fired.length}`;
      },
    };
    const app = express();
    app.use(triggerRoutes({ triggers: service }));
    app.use(eventRoutes({ topics: new TopicDispatcher({ triggers, firer, logger }), queues, maxPayloadBytes: 1024 * 1024 }));
    app.use(errorMiddleware(logger));
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const [name, fn] of [['a', 'fa'], ['b', 'fb'], ['c', 'gone']] as const) {
      const res = await fetch(`${base}/v1/triggers/${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'topic', function: fn, topic: 'orders' }),
      });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const post = (path: string, body: string, headers: Record<string, string>) =>
    fetch(base + path, { method: 'POST', headers, body }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

  it('answers 400 INVALID_TRIGGER with every issue, and lists with filters', async () => {
    const bad = await fetch(`${base}/v1/triggers/x`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"type":"queue","function":"f"}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toMatchObject({ code: 'INVALID_TRIGGER', details: { issues: [{ path: 'queue' }] } });
    const list = (await (await fetch(`${base}/v1/triggers?type=topic&function=fb`)).json()) as any;
    expect(list.triggers.map((t: { name: string }) => t.name)).toEqual(['b']);
  });

  it('wraps plain JSON in a CloudEvent and delivers it to every subscriber', async () => {
    fired.length = 0;
    const r = await post('/v1/events/orders', '{"order":1}', { 'content-type': 'application/json' });
    expect(r.status).toBe(202);
    const deliveries = r.json.events[0].deliveries;
    expect(deliveries.filter((d: any) => d.activationId).map((d: any) => d.trigger).sort()).toEqual(['a', 'b']);
    expect(deliveries.find((d: any) => d.trigger === 'c').error.code).toBe('FUNCTION_NOT_FOUND');
    expect(fired).toHaveLength(2);
    expect(fired[0]?.event).toMatchObject({ specversion: '1.0', type: PLAIN_EVENT_TYPE, source: '/v1/events/orders', data: { order: 1 } });
  });

  it('accepts structured and binary CloudEvents and rejects invalid ones', async () => {
    fired.length = 0;
    const s = await post('/v1/events/orders', JSON.stringify({ specversion: '1.0', id: 'e1', source: '/shop', type: 'order.created', data: { n: 2 } }), {
      'content-type': 'application/cloudevents+json; charset=utf-8',
    });
    expect(s.status).toBe(202);
    expect(s.json.events[0].id).toBe('e1');
    const b = await post('/v1/events/orders', '{"n":3}', {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'e2',
      'ce-source': '/shop',
      'ce-type': 'order.paid',
    });
    expect(b.status).toBe(202);
    expect(fired.map((f) => [f.event['id'], f.event['type'], f.event['data']])).toEqual([
      ['e1', 'order.created', { n: 2 }],
      ['e1', 'order.created', { n: 2 }],
      ['e2', 'order.paid', { n: 3 }],
      ['e2', 'order.paid', { n: 3 }],
    ]);
    const invalid = await post('/v1/events/orders', JSON.stringify({ specversion: '1.0', id: 'x' }), { 'content-type': 'application/cloudevents+json' });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.code).toBe('INVALID_EVENT');
    const missingBinary = await post('/v1/events/orders', '{}', { 'content-type': 'application/json', 'ce-id': 'x', 'ce-specversion': '1.0' });
    expect(missingBinary.json.error.code).toBe('INVALID_EVENT');
    expect((await post('/v1/events/orders', '{oops', { 'content-type': 'application/json' })).json.error.code).toBe('MALFORMED_JSON');
    expect((await post('/v1/events/bad%20topic', '{}', { 'content-type': 'application/json' })).json.error.code).toBe('INVALID_TOPIC');
  });

  it('puts messages on a user queue and reports its depth', async () => {
    const r = await post('/v1/queues/jobs/messages', '{"job":1}', { 'content-type': 'application/json' });
    expect(r).toMatchObject({ status: 202, json: { queue: 'jobs', bytes: 9 } });
    expect((await (await fetch(`${base}/v1/queues/jobs`)).json()) as any).toEqual({
      queue: 'jobs',
      brokerQueue: 'unit-http.userq.default.jobs',
      messages: 1,
      deadLetters: 0,
    });
    for (const reserved of ['amq.x', 'unit-http.invoke', 'unit-http.exec.e1', 'unit-http.dead', 'unit-http']) {
      expect((await post(`/v1/queues/${reserved}/messages`, 'x', {})).json.error.code).toBe('INVALID_QUEUE');
      const depth = await fetch(`${base}/v1/queues/${reserved}`);
      expect(depth.status).toBe(400);
      expect(((await depth.json()) as any).error.code).toBe('INVALID_QUEUE');
    }
    // Nothing reached the platform's own queues.
    expect(await bus.queueDepth('unit-http.dead')).toBe(0);
  });
});
