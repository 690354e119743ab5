import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, type Cluster } from '../helpers/cluster.js';
import { pythonAvailable, TEST_PYTHON } from '../helpers/python.js';
import { requireService } from '../helpers/services.js';
import { waitForValue } from '../helpers/wait.js';
import { api } from './scenarios.js';

/** The Python twins of the example functions in functions/, deployed into a real standalone server, held to their Node twins' answers. */
const available = requireService('python3 (3.11+)', await pythonAvailable());
const source = (name: string): string => fs.readFileSync(path.resolve('functions', name, 'index.py'), 'utf8');
const until = <T>(probe: () => Promise<T | undefined>): Promise<T> => waitForValue(probe, 20_000, 'condition', 100);

describe.skipIf(!available)('Python example functions (standalone)', () => {
  let cluster: Cluster;
  const a = api(() => cluster.url, TEST_ADMIN_KEY);
  const deploy = async (name: string): Promise<void> => {
    const r = await a.req('PUT', `/v1/functions/${name}`, { runtime: 'python', code: source(name) });
    expect(r.status, r.text).toBe(201);
  };
  beforeAll(async () => {
    cluster = await startStandalone({ BRISK_PYTHON: TEST_PYTHON });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('hello-python greets', async () => {
    await deploy('hello-python');
    expect((await a.req('POST', '/v1/functions/hello-python/invoke', { name: 'Ada' })).json).toEqual({ message: 'Hello, Ada!' });
    expect((await a.req('POST', '/v1/functions/hello-python/invoke')).json).toEqual({ message: 'Hello, world!' });
  });

  it('web-endpoint-python answers at /fn and behind an http trigger', async () => {
    await deploy('web-endpoint-python');
    const page = await a.req('GET', '/fn/web-endpoint-python/x?name=<Ada>');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain('Hello, &lt;Ada&gt;');
    expect((await a.req('PUT', '/v1/triggers/py-notes', { type: 'http', function: 'web-endpoint-python', method: 'ANY', path: '/py-notes/:id' })).status).toBe(201);
    const created = await a.req('POST', '/http/py-notes/7', { text: 'hi' });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ received: { text: 'hi' }, id: '7' });
    const put = await a.req('PUT', '/http/py-notes/7', {});
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
  });

  it('word-count-python writes a report for an uploaded text and removes it with the text', async () => {
    await deploy('word-count-python');
    expect((await a.req('PUT', '/v1/triggers/py-count', { type: 'storage', function: 'word-count-python', bucket: 'py-uploads' })).status).toBe(201);
    const put = await a.req('PUT', '/v1/objects/py-uploads/poem.txt', 'the cat sat on the mat\nthe end', { 'content-type': 'text/plain' });
    expect(put.status, put.text).toBe(200);
    const report = await until(async () => {
      const r = await a.req('GET', '/v1/objects/reports/py-uploads/poem.txt.json');
      return r.status === 200 ? r.json : undefined;
    });
    expect(report).toMatchObject({ source: { bucket: 'py-uploads', key: 'poem.txt' }, lines: 2, words: 8, characters: 30 });
    expect(report.top[0]).toEqual({ word: 'the', count: 3 });
    expect((await a.req('DELETE', '/v1/objects/py-uploads/poem.txt')).status).toBe(204);
    await until(async () => ((await a.req('GET', '/v1/objects/reports/py-uploads/poem.txt.json')).status === 404 ? true : undefined));
  });
});
