import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zipOf } from '../fixtures/archives.js';
import { npmInstall, packageTree } from '../fixtures/real-world/npm.js';
import { useCluster, type Cluster } from '../helpers/cluster.js';
import { api } from './scenarios.js';

/**
 * Issue 15: real functions, written as Lambda and OpenWhisk users write them
 * (test/fixtures/real-world/), deployed unchanged — as source, or as a zip
 * with real npm packages in node_modules — invoked, and their answers
 * checked. Each mode's test file runs these with its own cluster.
 */

const CORPUS = path.resolve('test/fixtures/real-world');
/** Every npm package the corpus needs, installed once (see npm.ts). */
const DEPENDENCIES = ['express@4', 'serverless-http@3', 'cookie-parser@1', 'archiver@7', 'ejs@3', 'hono@4'];

const read = (rel: string): Promise<string> => readFile(path.join(CORPUS, rel), 'utf8');

/** Headers that belong to the connection or to Brisk, not to the app. */
const NOT_THE_APPS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'x-brisk-activation-id', 'x-brisk-version', 'set-cookie']);

interface Answer {
  status: number;
  headers: Record<string, string>;
  cookies: string[];
  body: string;
}

async function answer(url: string, init: RequestInit): Promise<Answer> {
  const r = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    if (!NOT_THE_APPS.has(k)) headers[k] = v;
  });
  return { status: r.status, headers, cookies: r.headers.getSetCookie(), body: await r.text() };
}

/** The requests the Express app gets, under express itself and behind Brisk. */
const EXPRESS_REQUESTS: { label: string; path: string; init: RequestInit }[] = [
  { label: 'an HTML page', path: '/', init: {} },
  { label: 'a route parameter and a repeated query string', path: '/users/1?fields=name&tags=a&tags=b', init: {} },
  { label: 'a 404 of the app', path: '/users/9', init: {} },
  {
    label: 'a JSON POST',
    path: '/users',
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Grace', admin: false, tags: ['x'] }) },
  },
  { label: 'a refused POST', path: '/users', init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' } },
  { label: 'cookies in and out', path: '/visits', init: { headers: { cookie: 'visits=2; theme=dark' } } },
  { label: 'a redirect', path: '/old-home', init: {} },
  { label: 'a DELETE with no body', path: '/users/1', init: { method: 'DELETE' } },
  { label: "express's own 404", path: '/nope?x=1', init: {} },
];

export function realWorldScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`real-world functions run unchanged (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);
    let deps: string;

    beforeAll(async () => {
      deps = await npmInstall(DEPENDENCIES);
    });

    const deploySource = async (name: string, code: string, handler: string): Promise<Record<string, unknown>> => {
      const r = await a.req('PUT', `/v1/functions/${name}`, { code, handler, public: true });
      expect(r.status, r.text).toBe(201);
      return r.json as Record<string, unknown>;
    };
    const deployZip = async (name: string, dir: string, handler: string, withDeps: boolean): Promise<Record<string, unknown>> => {
      const zip = zipOf(await packageTree(path.join(CORPUS, dir), withDeps ? deps : undefined));
      const r = await a.req('PUT', `/v1/functions/${name}?handler=${handler}&public=true`, zip, { 'content-type': 'application/zip' });
      expect(r.status, r.text).toBe(201);
      return r.json as Record<string, unknown>;
    };
    const invoke = (name: string, event: unknown) => a.req('POST', `/v1/functions/${name}/invoke`, event);

    describe('AWS Lambda handlers', () => {
      it('an ESM handler (index.mjs) answers through invoke and as a function URL', async () => {
        await deploySource('lambda-esm', await read('lambda-esm/index.mjs'), 'index.handler');
        const r = await invoke('lambda-esm', { name: 'Ada' });
        expect(r.status).toBe(200);
        expect(r.json.statusCode).toBe(200);
        expect(JSON.parse(r.json.body)).toMatchObject({ message: 'Hello, Ada!', remaining: true, requestId: r.headers.get('x-brisk-activation-id') });
        const web = await answer(`${cluster.url}/fn/lambda-esm`, {});
        expect(web.status).toBe(200);
        expect(web.headers['content-type']).toBe('application/json'); // Lambda's default for a body without one
        expect(JSON.parse(web.body)).toMatchObject({ message: 'Hello, World!' });
      });

      it('TypeScript reading payload-2.0 fields (method, rawPath, query, cookies, body) and answering with cookies', async () => {
        await deploySource('lambda-ts', await read('lambda-ts/handler.ts'), 'index.handler');
        const r = await answer(`${cluster.url}/fn/lambda-ts/hello/there?name=Ada&tag=x&tag=y`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie: 'a=1; b=2' },
          body: JSON.stringify({ hi: true }),
        });
        expect(r.status).toBe(201);
        expect(JSON.parse(r.body)).toEqual({ method: 'POST', path: '/hello/there', name: 'Ada', tags: ['x', 'y'], cookies: ['a=1', 'b=2'], body: { hi: true } });
        expect(r.cookies).toEqual(['greeted=Ada; Path=/; HttpOnly', 'theme=dark; Path=/']);
      });

      it('a CommonJS callback handler, and its callback error', async () => {
        await deploySource('lambda-callback', await read('lambda-callback/index.js'), 'index.handler');
        const ok = await invoke('lambda-callback', { text: 'abc' });
        expect(ok.json).toEqual({ text: 'abc', sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', fn: 'lambda-callback' });
        const bad = await invoke('lambda-callback', {});
        expect(bad.status).toBe(500);
        expect(bad.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorMessage: 'text is required' });
      });
    });

    describe('an Express app behind serverless-http, zipped with its node_modules', () => {
      let direct: Server;
      let directUrl: string;
      let appDir: string;

      beforeAll(async () => {
        // The same app.js under express itself, with the same node_modules.
        appDir = await mkdtemp(path.join(os.tmpdir(), 'brisk-express-direct-'));
        await cp(path.join(CORPUS, 'express-app'), appDir, { recursive: true });
        await symlink(path.join(deps, 'node_modules'), path.join(appDir, 'node_modules'), 'dir');
        const app = createRequire(path.join(appDir, 'app.js'))('./app.js') as { listen(port: number, host: string, cb: () => void): Server };
        await new Promise<void>((resolve) => {
          direct = app.listen(0, '127.0.0.1', resolve);
        });
        directUrl = `http://127.0.0.1:${(direct.address() as AddressInfo).port}`;
      });
      afterAll(async () => {
        await new Promise((resolve) => direct?.close(resolve));
        if (appDir) await rm(appDir, { recursive: true, force: true });
      });

      it('deploys (handler lambda.handler)', async () => {
        const fn = await deployZip('express-app', 'express-app', 'lambda.handler', true);
        expect(fn['filesHash']).toMatch(/^[a-f0-9]{64}$/);
        expect(fn['warnings']).toEqual([]);
      });

      it.each(EXPRESS_REQUESTS)('$label: same status, headers and body as under express', async ({ path: p, init }) => {
        const [want, got] = await Promise.all([answer(`${directUrl}${p}`, init), answer(`${cluster.url}/fn/express-app${p}`, init)]);
        expect(got).toEqual(want);
      });
    });

    it("a Hono app behind hono/aws-lambda: routes, query strings, a JSON POST and cookies", async () => {
      await deployZip('hono-app', 'hono-app', 'index.handler', true);
      const hello = await answer(`${cluster.url}/fn/hono-app/hello/ada?q=1&tag=a&tag=b`, {});
      expect([hello.status, JSON.parse(hello.body)]).toEqual([200, { hello: 'ada', q: '1', tags: ['a', 'b'] }]);
      const echo = await answer(`${cluster.url}/fn/hono-app/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":[1,2]}' });
      expect([echo.status, JSON.parse(echo.body)]).toEqual([201, { echoed: { x: [1, 2] } }]);
      const cookie = await answer(`${cluster.url}/fn/hono-app/cookie`, { headers: { cookie: 'old=1' } });
      expect([cookie.status, cookie.body, cookie.cookies]).toEqual([200, 'had: 1', ['seen=yes; Path=/; HttpOnly']]);
    });

    it('archiver (readable-stream@4 requires process/, buffer/, events/ …) zips and answers with a binary body', async () => {
      await deployZip('zipper', 'archiver-zip', 'index.handler', true);
      const files = [
        { name: 'a.txt', content: 'alpha' },
        { name: 'dir/b.txt', content: 'beta '.repeat(100) },
      ];
      const r = await fetch(`${cluster.url}/fn/zipper`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ files }) });
      expect(r.status, await r.clone().text()).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/zip');
      const entries = unzipSync(new Uint8Array(await r.arrayBuffer()));
      expect(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, new TextDecoder().decode(v)]))).toEqual({ 'a.txt': 'alpha', 'dir/b.txt': 'beta '.repeat(100) });
    });

    it('ejs views, a partial, a JSON data file and an image, read from the package at run time', async () => {
      await deployZip('shop', 'template-shop', 'index.handler', true);
      const page = await answer(`${cluster.url}/fn/shop/?title=Deals`, {});
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<h1>Deals</h1>');
      expect(page.body).toContain('<li>Tea &amp; biscuits: 4.50 EUR</li>');
      expect(page.body).toContain('<li>Coffee: 3.00 EUR</li>');
      const logo = await fetch(`${cluster.url}/fn/shop/logo.png`);
      expect(logo.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await logo.arrayBuffer()).equals(await readFile(path.join(CORPUS, 'template-shop/public/logo.png')))).toBe(true);
    });

    describe('OpenWhisk actions', () => {
      it('a plain `function main(params)` with no export', async () => {
        await deploySource('ow-hello', await read('openwhisk/hello.js'), 'main');
        expect((await invoke('ow-hello', { name: 'Ada', place: 'Brisk' })).json).toEqual({ payload: 'Hello, Ada from Brisk!' });
      });

      it('a custom entry name (--main niam)', async () => {
        await deploySource('ow-custom', await read('openwhisk/custom-name.js'), 'niam');
        expect((await invoke('ow-custom', { name: 'Ada' })).json).toEqual({ greeting: 'Hello Ada!', keys: ['name'] });
      });

      it('a promise, resolved and rejected', async () => {
        await deploySource('ow-promise', await read('openwhisk/promise.js'), 'main');
        expect((await invoke('ow-promise', {})).json).toEqual({ done: true, waited: 20 });
        const failed = await invoke('ow-promise', { fail: true });
        expect(failed.status).toBe(500);
        expect(failed.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorMessage: expect.stringContaining('asked to fail') });
      });

      it('a webpacked action (global.main = main)', async () => {
        await deploySource('ow-webpacked', await read('openwhisk/webpacked.js'), 'main');
        expect((await invoke('ow-webpacked', { text: 'one two  three' })).json).toEqual({ words: 3 });
      });

      it('exports.main and module.exports = main', async () => {
        await deploySource('ow-exports', await read('openwhisk/exports-main.js'), 'main');
        expect((await invoke('ow-exports', { name: 'Ada' })).json).toEqual({ greeting: 'Hello Ada!' });
        await deploySource('ow-module', await read('openwhisk/module-exports.js'), 'main');
        expect((await invoke('ow-module', { a: 'x', b: 'y' })).json).toEqual({ joined: 'x-y' });
      });

      it("a zipped action whose package.json names its entry, reading a file beside it", async () => {
        await deployZip('ow-zip', 'openwhisk/zip-action', 'main', false);
        expect((await invoke('ow-zip', { name: 'Ada' })).json).toEqual({ message: 'HELLO, ADA!' });
      });
    });

    it('refuses at deploy an ES module that exports no handler, with the reason', async () => {
      const r = await a.req('PUT', '/v1/functions/no-export', { code: 'const handler = async () => 1;\nexport const version = 2;' });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('HANDLER_NOT_FOUND');
      expect(r.json.error.message).toContain("add `export`");
    });
  });
}
