import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { TEST_ADMIN_KEY, useCluster, type Cluster } from '../helpers/cluster.js';
import { waitForValue } from '../helpers/wait.js';

/**
 * The walking skeleton's end-to-end scenarios, run over HTTP against a real
 * cluster: one standalone process, or separate gateway/scheduler/executor
 * processes on real services. Each mode's test file calls this with its own
 * cluster factory, so both modes must behave the same.
 */

export interface Api {
  url: string;
  req(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string; headers: Headers }>;
}

/** An HTTP client for a gateway; sends `auth` (default: the test clusters' admin key; '' for none). */
export function api(url: () => string, auth: string = TEST_ADMIN_KEY): Api {
  return {
    get url() {
      return url();
    },
    async req(method, path, body, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (auth) h['authorization'] = `Bearer ${auth}`;
      let payload: BodyInit | undefined;
      if (body instanceof Uint8Array || typeof body === 'string') payload = body as BodyInit;
      else if (body !== undefined) {
        payload = JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
      const res = await fetch(url() + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text, headers: res.headers };
    },
  };
}

export async function waitForActivation(a: Api, id: string, timeoutMs = 20_000): Promise<any> {
  let last = '';
  return waitForValue(async () => {
    const r = await a.req('GET', `/v1/activations/${id}`);
    last = r.text;
    return r.status === 200 && !['queued', 'running'].includes(r.json.status) ? r.json : undefined;
  }, timeoutMs, `activation ${id} final`, 50).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: ${last}`);
  });
}

const SUM = 'export const handler = async (e: { a: number; b: number }) => ({ sum: e.a + e.b });';

export function skeletonScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`walking skeleton (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('deploys a TS function and invokes it twice, the second time warm', async () => {
      const d = await a.req('PUT', '/v1/functions/sum', { code: SUM });
      expect(d.status).toBe(201);
      expect(d.json).toMatchObject({ name: 'sum', version: 1, codeHash: expect.stringMatching(/^[a-f0-9]{64}$/) });
      const r1 = await a.req('POST', '/v1/functions/sum/invoke', { a: 2, b: 3 });
      expect(r1.status).toBe(200);
      expect(r1.json).toEqual({ sum: 5 });
      const id1 = r1.headers.get('x-brisk-activation-id') as string;
      expect(id1).toMatch(/^[a-f0-9]{32}$/);
      const r2 = await a.req('POST', '/v1/functions/sum/invoke', { a: 2, b: 3 });
      expect(r2.json).toEqual({ sum: 5 });
      const act1 = await waitForActivation(a, id1);
      const act2 = await waitForActivation(a, r2.headers.get('x-brisk-activation-id') as string);
      expect(act1).toMatchObject({ status: 'success', result: { sum: 5 }, function: 'sum', version: 1, coldStart: true });
      expect(act2).toMatchObject({ status: 'success', coldStart: false, startKind: 'warm' });
      expect(typeof act2.executor).toBe('string');
      expect(typeof act2.placement).toBe('string');
    });

    it('redeploying identical code creates no new version; new code does', async () => {
      const same = await a.req('PUT', '/v1/functions/sum', { code: SUM });
      expect(same.status).toBe(200);
      expect(same.json).toMatchObject({ version: 1, created: false });
      const changed = await a.req('PUT', '/v1/functions/sum', { code: SUM.replace('e.a + e.b', 'e.b + e.a') });
      expect(changed.json).toMatchObject({ version: 2, created: true });
      const list = await a.req('GET', '/v1/functions');
      expect(list.json.functions.map((f: { name: string }) => f.name)).toContain('sum');
      const got = await a.req('GET', '/v1/functions/sum');
      expect(got.json).toMatchObject({ name: 'sum', version: 2, versions: [1, 2] });
    });

    it('deploys a zip with a type import and a relative import', async () => {
      const zip = zipSync({
        'package.json': strToU8(JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'module' })),
        'src/types.ts': strToU8('export interface Person { name: string }'),
        'src/greet.ts': strToU8('export function greet(n: string): string { return `hello ${n}`; }'),
        'src/index.ts': strToU8(
          "import type { Person } from './types';\nimport { greet } from './greet';\nexport async function handler(p: Person) { return { message: greet(p.name) }; }",
        ),
      });
      const d = await a.req('PUT', '/v1/functions/greeter?handler=src/index.handler', zip, { 'content-type': 'application/zip' });
      expect(d.status).toBe(201);
      const r = await a.req('POST', '/v1/functions/greeter/invoke', { name: 'Ada' });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ message: 'hello Ada' });
    });

    it('invokes async and the activation can be polled', async () => {
      const r = await a.req('POST', '/v1/functions/sum/invoke?async=true', { a: 40, b: 2 });
      expect(r.status).toBe(202);
      expect(r.json.activationId).toBe(r.headers.get('x-brisk-activation-id'));
      const act = await waitForActivation(a, r.json.activationId);
      expect(act).toMatchObject({ status: 'success', result: { sum: 42 }, mode: 'async', attempts: 1 });
      const list = await a.req('GET', '/v1/activations?function=sum&limit=50');
      expect(list.json.activations.some((x: { activationId: string }) => x.activationId === r.json.activationId)).toBe(true);
    });

    it('serves a web endpoint with a binary body', async () => {
      const code = `export const handler = async (ev) => {
        const bytes = Buffer.from(ev.body, ev.isBase64Encoded ? 'base64' : 'utf8');
        return { statusCode: 201, headers: { 'content-type': 'application/octet-stream', 'x-method': ev.method, 'x-path': ev.path, 'x-q': String(ev.query.q) },
                 body: Buffer.from(bytes.reverse()).toString('base64'), isBase64Encoded: true };
      };`;
      expect((await a.req('PUT', '/v1/functions/rev', { code, public: true })).status).toBe(201);
      const body = new Uint8Array([0, 1, 2, 255, 254]);
      const r = await fetch(`${a.url}/fn/rev/some/path?q=7`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
      expect(r.status).toBe(201);
      expect(r.headers.get('x-method')).toBe('POST');
      expect(r.headers.get('x-path')).toBe('/some/path');
      expect(r.headers.get('x-q')).toBe('7');
      expect([...new Uint8Array(await r.arrayBuffer())]).toEqual([254, 255, 2, 1, 0]);
      const plain = await a.req('GET', '/fn/sum');
      expect(plain.status).toBe(200); // a non-web result is sent as JSON
    });

    it('reports a throwing function as a function error with its stack', async () => {
      const code = "export const handler = async () => { console.log('about to fail'); throw new TypeError('boom'); };";
      await a.req('PUT', '/v1/functions/thrower', { code });
      const r = await a.req('POST', '/v1/functions/thrower/invoke', {});
      expect(r.status).toBe(500);
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      expect(r.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'TypeError', errorMessage: 'boom' });
      expect(r.json.error.stack).toContain('boom');
      const act = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
      expect(act.status).toBe('error');
      expect(act.logs.join('\n')).toContain('about to fail');
    });

    // Function code can rewrite its own runtime's /run answer (kept the same length, so the HTTP framing holds).
    const rewritingRuntime = (rewrite: string): string => `import http from 'node:http';
      const end = http.ServerResponse.prototype.end;
      http.ServerResponse.prototype.end = function (chunk, ...rest) {
        if (typeof chunk === 'string' && chunk.includes('"resultJson"')) chunk = ${rewrite};
        return end.call(this, chunk, ...rest);
      };
      export const handler = async () => 1;`;
    const rewrites = [
      { name: 'tamper', what: 'a result that is not JSON', rewrite: `chunk.replace('"resultJson":"1"', '"resultJson":"{"')` },
      { name: 'garble', what: 'an answer that is not JSON at all', rewrite: `'x' + chunk.slice(1)` },
    ];
    for (const { name, what, rewrite } of rewrites) {
      it(`a function that makes its runtime answer ${what} gets a function error at once, not a platform fault`, async () => {
        expect((await a.req('PUT', `/v1/functions/${name}`, { code: rewritingRuntime(rewrite) })).status).toBe(201);
        const r = await a.req('POST', `/v1/functions/${name}/invoke`, {});
        expect(r.status).toBe(500);
        expect(r.headers.get('x-brisk-fault')).toBe('function');
        expect(r.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'InvalidResultError' });
        const act = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
        expect(act).toMatchObject({ status: 'error', attempts: 1, error: { errorType: 'InvalidResultError' } });
        expect(act.result).toBeUndefined();
        // The platform is fine.
        expect((await a.req('PUT', `/v1/functions/after-${name}`, { code: 'export const handler = async () => ({ fine: true });' })).status).toBe(201);
        expect((await a.req('POST', `/v1/functions/after-${name}/invoke`, {})).json).toEqual({ fine: true });
      });
    }

    it('reports code that throws while loading as a function error, not a platform fault', async () => {
      const code = "throw new RangeError('bad module');\nexport const handler = async () => 1;";
      expect((await a.req('PUT', '/v1/functions/badinit', { code })).status).toBe(201);
      const r = await a.req('POST', '/v1/functions/badinit/invoke', {});
      expect(r.status).toBe(500);
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      expect(r.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorMessage: expect.stringContaining('bad module') });
    });

    it('ends a handler past its timeout as timeout, and the next call works', async () => {
      const code = 'export const handler = async (e) => { if (e.hang) { for (;;) {} } return { ok: true }; };';
      await a.req('PUT', '/v1/functions/hang', { code, timeoutMs: 500 });
      const r = await a.req('POST', '/v1/functions/hang/invoke', { hang: true });
      expect(r.status).toBe(504);
      expect(r.json.error.code).toBe('FUNCTION_TIMEOUT');
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      const act = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
      expect(act.status).toBe('timeout');
      const ok = await a.req('POST', '/v1/functions/hang/invoke', { hang: false });
      expect(ok.json).toEqual({ ok: true });
    });

    it('rejects a syntax error at deploy with esbuild location', async () => {
      const r = await a.req('PUT', '/v1/functions/broken', { code: 'export const handler = async () => { return {; }' });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('BUILD_FAILED');
      const first = r.json.error.details.errors[0];
      expect(first).toMatchObject({ line: 1, column: expect.any(Number) });
      expect((await a.req('GET', '/v1/functions/broken')).status).toBe(404);
    });

    it('answers bad input with 4xx codes and queues nothing', async () => {
      expect((await a.req('POST', '/v1/functions/nope/invoke', {})).json.error.code).toBe('FUNCTION_NOT_FOUND');
      const bad = await a.req('POST', '/v1/functions/sum/invoke', '{"a":', { 'content-type': 'application/json' });
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toBe('MALFORMED_JSON');
      expect((await a.req('PUT', '/v1/functions/Bad..Name', { code: SUM })).json.error.code).toBe('INVALID_NAME');
      const big = await a.req('POST', '/v1/functions/sum/invoke', 'x'.repeat(7 * 1024 * 1024), { 'content-type': 'application/json' });
      expect(big.status).toBe(413);
      expect(big.json.error.code).toBe('PAYLOAD_TOO_LARGE');
      const settings = await a.req('PUT', '/v1/functions/x', { code: SUM, memoryMb: 1 });
      expect(settings.status).toBe(400);
      expect(settings.json.error.code).toBe('INVALID_SETTINGS');
    });

    it('runs 20 concurrent invocations correctly', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => a.req('POST', '/v1/functions/sum/invoke', { a: i, b: 1000 })),
      );
      results.forEach((r, i) => {
        expect(r.status, r.text).toBe(200);
        expect(r.json).toEqual({ sum: i + 1000 });
      });
      expect(new Set(results.map((r) => r.headers.get('x-brisk-activation-id'))).size).toBe(20);
    });

    it('keeps functions and activations across a restart', async () => {
      const before = await a.req('POST', '/v1/functions/sum/invoke', { a: 1, b: 1 });
      const id = before.headers.get('x-brisk-activation-id') as string;
      await waitForActivation(a, id);
      await cluster.restart();
      const r = await a.req('POST', '/v1/functions/sum/invoke', { a: 5, b: 6 });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ sum: 11 });
      expect((await a.req('GET', `/v1/activations/${id}`)).json).toMatchObject({ status: 'success', result: { sum: 2 } });
      expect((await a.req('GET', '/v1/functions/greeter')).json.version).toBe(1);
    });

    it('deletes a function', async () => {
      await a.req('PUT', '/v1/functions/temp', { code: SUM });
      expect((await a.req('DELETE', '/v1/functions/temp')).status).toBe(204);
      expect((await a.req('GET', '/v1/functions/temp')).status).toBe(404);
      expect((await a.req('DELETE', '/v1/functions/temp')).status).toBe(404);
    });
  });
}
