import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { zipOf } from '../fixtures/archives.js';
import { debianPythonPackage } from '../fixtures/real-world/debian.js';
import { packageTree } from '../fixtures/real-world/npm.js';
import { useCluster, type Cluster } from '../helpers/cluster.js';
import { api } from './scenarios.js';

/**
 * Python functions as Lambda and OpenWhisk users write them
 * (test/fixtures/real-world/python/), deployed unchanged: single sources and
 * a zip with a library vendored from Debian's python3-tabulate, a template
 * beside its module and a data file at its root.
 */
const CORPUS = path.resolve('test/fixtures/real-world/python');
const read = (rel: string): Promise<string> => readFile(path.join(CORPUS, rel), 'utf8');

export function pythonRealWorldScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`real-world Python functions run unchanged (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);
    const anon = api(() => cluster.url, '');

    it('Lambda: a JSON API behind a function URL (routes, query strings, a JSON POST, a 404 of its own)', async () => {
      const d = await a.req('PUT', '/v1/functions/todos', { runtime: 'python', code: await read('lambda-api/lambda_function.py'), handler: 'lambda_function.lambda_handler', public: true });
      expect(d.status, d.text).toBe(201);
      const list = await anon.req('GET', '/fn/todos/todos?done=false');
      expect(list.status, list.text).toBe(200);
      expect(list.headers.get('content-type')).toBe('application/json');
      expect(list.json).toEqual({ items: [{ id: '1', title: 'write the report', done: false }], count: 1 });
      const created = await anon.req('POST', '/fn/todos/todos', JSON.stringify({ title: 'ship python' }), { 'content-type': 'application/json' });
      expect(created.status, created.text).toBe(201);
      expect(created.headers.get('location')).toBe('/todos/2');
      expect((await anon.req('POST', '/fn/todos/todos', 'not json', { 'content-type': 'text/plain' })).status).toBe(400);
      expect((await anon.req('POST', '/fn/todos/todos', '{}', { 'content-type': 'application/json' })).status).toBe(422);
      const missing = await anon.req('DELETE', '/fn/todos/nothing');
      expect(missing.status).toBe(404);
      expect(missing.json.message).toBe('no route for DELETE /nothing');
      // The log line of the first call, with its request id, in its record.
      const rec = (await a.req('GET', `/v1/activations/${list.headers.get('x-brisk-activation-id')}`)).json;
      expect(rec.logs[0]).toMatch(/^\[INFO\]\t.*\tGET \/todos \(request [0-9a-f]{32}\)$/);
    });

    it('OpenWhisk: main(args) and a custom entry name', async () => {
      expect((await a.req('PUT', '/v1/functions/ow-hello', { runtime: 'python', code: await read('openwhisk/hello.py'), handler: 'hello.main' })).status).toBe(201);
      expect((await a.req('POST', '/v1/functions/ow-hello/invoke', { name: 'Ada' })).json).toEqual({ greeting: 'Hello Ada!' });
      expect((await a.req('POST', '/v1/functions/ow-hello/invoke', {})).json).toEqual({ greeting: 'Hello stranger!' });
      const d = await a.req('PUT', '/v1/functions/ow-stats', { runtime: 'python', code: await read('openwhisk/word_stats.py'), handler: 'word_stats.stats' });
      expect(d.status, d.text).toBe(201);
      const r = await a.req('POST', '/v1/functions/ow-stats/invoke', { text: "It's the word, the WORD, the bird" });
      expect(r.json).toEqual({ words: 7, top: [['the', 3], ['word', 2]] });
    });

    it('a zip with a vendored Debian library, a template beside its module and a data file read from its root', async () => {
      const vendored = await packageTree(await debianPythonPackage('python3-tabulate'));
      const zip = zipOf({ ...(await packageTree(path.join(CORPUS, 'report-package'))), ...vendored });
      const d = await a.req('PUT', '/v1/functions/report?runtime=python&handler=app/handler.handler', zip, { 'content-type': 'application/zip' });
      expect(d.status, d.text).toBe(201);
      expect(d.json).toMatchObject({ runtime: 'python', filesHash: expect.stringMatching(/^[a-f0-9]{64}$/) });
      const r = await a.req('POST', '/v1/functions/report/invoke', { title: 'Café prices', vat: 0.1 });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({
        items: 2,
        report: ['# Café prices', '', '| item   |   net |   gross |', '|--------|-------|---------|', '| coffee |  2.50 |    2.75 |', '| tea    |  2.00 |    2.20 |', ''].join('\n'),
      });
    });
  });
}
