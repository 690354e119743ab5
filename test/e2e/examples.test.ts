import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, type Cluster } from '../helpers/cluster.js';
import { api, waitForActivation } from './scenarios.js';
import { waitForValue } from '../helpers/wait.js';

/** The example functions in functions/, deployed into a real standalone server. */

const source = (name: string): string => fs.readFileSync(path.resolve('functions', name, 'index.ts'), 'utf8');

const until = <T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> => waitForValue(probe, timeoutMs, 'condition', 100);

describe('example functions (standalone)', () => {
  let cluster: Cluster;
  const a = api(() => cluster.url, TEST_ADMIN_KEY);
  const deploy = async (name: string): Promise<void> => {
    const r = await a.req('PUT', `/v1/functions/${name}`, { code: source(name) });
    expect(r.status, r.text).toBe(201);
  };

  beforeAll(async () => {
    cluster = await startStandalone();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('every example has a README', () => {
    for (const name of fs.readdirSync(path.resolve('functions'))) {
      expect(fs.existsSync(path.resolve('functions', name, 'README.md')), name).toBe(true);
    }
  });

  it('hello greets', async () => {
    await deploy('hello');
    expect((await a.req('POST', '/v1/functions/hello/invoke', { name: 'Ada' })).json).toEqual({ message: 'Hello, Ada!' });
    expect((await a.req('POST', '/v1/functions/hello/invoke')).json).toEqual({ message: 'Hello, world!' });
  });

  it('web-endpoint answers at /fn and behind an http trigger', async () => {
    await deploy('web-endpoint');
    const page = await a.req('GET', '/fn/web-endpoint/x?name=<Ada>');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain('Hello, &#60;Ada&#62;');
    expect((await a.req('PUT', '/v1/triggers/notes', { type: 'http', function: 'web-endpoint', method: 'ANY', path: '/notes/:id' })).status).toBe(201);
    const created = await a.req('POST', '/http/notes/7', { text: 'hi' });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ received: { text: 'hi' }, id: '7' });
    const put = await a.req('PUT', '/http/notes/7', {});
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
  });

  it('counter counts in context.state', async () => {
    await deploy('counter');
    expect((await a.req('POST', '/v1/functions/counter/invoke')).json).toEqual({ counter: 'counter:visits', value: 1 });
    expect((await a.req('POST', '/v1/functions/counter/invoke', { by: 5 })).json.value).toBe(6);
    expect((await a.req('POST', '/v1/functions/counter/invoke', { reset: true })).json.value).toBe(0);
    expect((await a.req('POST', '/v1/functions/counter/invoke')).json.value).toBe(1);
  });

  it('word-count writes a report for an uploaded text and removes it with the text', async () => {
    await deploy('word-count');
    const t = await a.req('PUT', '/v1/triggers/count-uploads', { type: 'storage', function: 'word-count', bucket: 'uploads' });
    expect(t.status).toBe(201);
    const put = await a.req('PUT', '/v1/objects/uploads/poem.txt', 'the cat sat on the mat\nthe end', { 'content-type': 'text/plain' });
    expect(put.status, put.text).toBe(200);
    const report = await until(async () => {
      const r = await a.req('GET', '/v1/objects/reports/uploads/poem.txt.json');
      return r.status === 200 ? r.json : undefined;
    });
    expect(report).toMatchObject({ source: { bucket: 'uploads', key: 'poem.txt' }, lines: 2, words: 8 });
    expect(report.top[0]).toEqual({ word: 'the', count: 3 });
    expect((await a.req('DELETE', '/v1/objects/uploads/poem.txt')).status).toBe(204);
    await until(async () => ((await a.req('GET', '/v1/objects/reports/uploads/poem.txt.json')).status === 404 ? true : undefined));
    const acts = (await a.req('GET', '/v1/activations?function=word-count')).json.activations;
    expect(acts.every((x: { trigger: string }) => x.trigger === 'storage:count-uploads')).toBe(true);
  });

  it('heartbeat runs on a schedule', async () => {
    await deploy('heartbeat');
    const t = await a.req('PUT', '/v1/triggers/every-second', { type: 'schedule', function: 'heartbeat', cron: '* * * * * *', data: { job: 'hb' } });
    expect(t.status).toBe(201);
    const done = await until(async () => {
      const list = (await a.req('GET', '/v1/activations?function=heartbeat')).json.activations as { status: string; result?: { ticks: number } }[];
      return list.find((x) => x.status === 'success' && (x.result?.ticks ?? 0) >= 2);
    });
    expect(done.result).toMatchObject({ job: 'hb', ticks: expect.any(Number), tick: expect.stringMatching(/\.000Z$/) });
    expect((await a.req('DELETE', '/v1/triggers/every-second')).status).toBe(204);
  });

  it('order-events receives CloudEvents published to its topic', async () => {
    await deploy('order-events');
    expect((await a.req('PUT', '/v1/triggers/orders', { type: 'topic', function: 'order-events', topic: 'orders' })).status).toBe(201);
    const pub = await a.req(
      'POST',
      '/v1/events/orders',
      JSON.stringify({ specversion: '1.0', id: 'o-1', source: '/shop', type: 'order.created', data: { orderId: 'A7', amount: 12.5 } }),
      { 'content-type': 'application/cloudevents+json' },
    );
    expect(pub.status).toBe(202);
    const act = await waitForActivation(a, pub.json.events[0].deliveries[0].activationId);
    expect(act).toMatchObject({ status: 'success', trigger: 'topic:orders', result: { eventId: 'o-1', type: 'order.created', count: 1, total: 12.5 } });
  });
});
