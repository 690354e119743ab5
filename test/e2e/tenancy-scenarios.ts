import { createHash } from 'node:crypto';
import { strToU8, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCluster, type Cluster } from '../helpers/cluster.js';
import { api, waitForActivation, type Api } from './scenarios.js';
import { waitForValue } from '../helpers/wait.js';

/**
 * Issue 8 over HTTP against a real cluster: namespaces and keys, cross-namespace
 * isolation, read-only and revoked keys, quotas, secrets that never leak, and
 * the hostile-input list. Run by the standalone and the distributed test files.
 */

export const SECRET_VALUE = 'sup3r-s3cret-Value-4711';

export interface TenancyHooks {
  /** Everything the platform printed or carried that a secret must never be in (logs, bus traffic). */
  capturedOutput: () => Promise<string>;
}

export function tenancyScenarios(label: string, start: () => Promise<Cluster>, hooks: TenancyHooks): void {
  describe(`tenancy and security (${label})`, () => {
    const cluster = useCluster(start);
    const admin = api(() => cluster.url);
    const at = (i: number, key: string): Api => api(() => cluster.urls[i % cluster.urls.length] as string, key);
    let keyA = '';
    let keyAro = '';
    let keyB = '';

    beforeAll(async () => {
      for (const ns of ['team-a', 'team-b']) expect((await admin.req('PUT', `/v1/namespaces/${ns}`, {})).status).toBe(201);
      const a = await admin.req('POST', '/v1/namespaces/team-a/keys', { description: 'ci' });
      expect(a.status).toBe(201);
      keyA = a.json.key;
      expect(a.json.id).toMatch(/^[a-f0-9]{16}$/);
      keyAro = (await admin.req('POST', '/v1/namespaces/team-a/keys', { readOnly: true })).json.key;
      keyB = (await admin.req('POST', '/v1/namespaces/team-b/keys', {})).json.key;
    });
    it('shows a key once and stores only its hash', async () => {
      const list = await admin.req('GET', '/v1/namespaces/team-a/keys');
      expect(list.status).toBe(200);
      expect(list.json.keys).toHaveLength(2);
      expect(list.text).not.toContain(keyA);
      expect(list.text).not.toContain('hash');
      expect(keyA).toMatch(/^bk_[a-f0-9]{16}_/);
    });

    it('keeps namespaces apart on every route', async () => {
      const a = at(0, keyA);
      const b = at(1, keyB);
      const code = 'export const handler = async () => ({ who: "a" })';
      expect((await a.req('PUT', '/v1/functions/only-a', { code })).status).toBe(201);
      const inv = await a.req('POST', '/v1/functions/only-a/invoke', {});
      expect(inv.json).toEqual({ who: 'a' });
      const id = inv.headers.get('x-brisk-activation-id') as string;
      await waitForActivation(a, id);

      expect((await b.req('GET', '/v1/functions/only-a')).status).toBe(404);
      expect((await b.req('POST', '/v1/functions/only-a/invoke', {})).status).toBe(404);
      expect((await b.req('DELETE', '/v1/functions/only-a')).status).toBe(404);
      expect((await b.req('GET', '/v1/functions')).json.functions).toEqual([]);
      expect((await b.req('GET', `/v1/activations/${id}`)).status).toBe(404);
      expect((await b.req('GET', '/v1/activations?limit=100')).json.activations).toEqual([]);
      const asA = await b.req('GET', '/v1/functions', undefined, { 'x-brisk-namespace': 'team-a' });
      expect(asA.status).toBe(403);
      expect(asA.json.error.code).toBe('FORBIDDEN');
      // The web endpoint of a non-public function needs a key of its namespace.
      expect((await fetch(`${cluster.url}/ns/team-a/fn/only-a`)).status).toBe(401);
      expect((await fetch(`${cluster.url}/ns/team-a/fn/only-a`, { headers: { authorization: `Bearer ${keyB}` } })).status).toBe(401);
      expect((await fetch(`${cluster.url}/ns/team-a/fn/only-a`, { headers: { authorization: `Bearer ${keyA}` } })).status).toBe(200);
      expect((await fetch(`${cluster.url}/fn/only-a`, { headers: { authorization: `Bearer ${keyA}` } })).status).toBe(200);
      // Triggers and objects belong to the namespace too.
      expect((await a.req('PUT', '/v1/triggers/t-a', { type: 'topic', function: 'only-a', topic: 'news' })).status).toBeLessThan(300);
      expect((await b.req('GET', '/v1/triggers/t-a')).status).toBe(404);
      expect((await b.req('GET', '/v1/triggers')).json.triggers).toEqual([]);
      expect((await b.req('DELETE', '/v1/triggers/t-a')).status).toBe(404);
      expect((await a.req('PUT', '/v1/objects/docs/note.txt', 'for a only', { 'content-type': 'text/plain' })).status).toBeLessThan(300);
      expect((await a.req('GET', '/v1/objects/docs/note.txt')).text).toBe('for a only');
      expect((await b.req('GET', '/v1/objects/docs/note.txt')).status).toBe(404);
      expect((await b.req('GET', '/v1/objects/docs')).text).not.toContain('note.txt');
      // State: a counter in each namespace counts on its own.
      const counter = 'export const handler = async (_e, ctx) => ({ n: await ctx.state.incr("hits") })';
      expect((await a.req('PUT', '/v1/functions/count', { code: counter })).status).toBe(201);
      expect((await b.req('PUT', '/v1/functions/count', { code: counter })).status).toBe(201);
      expect((await a.req('POST', '/v1/functions/count/invoke', {})).json).toEqual({ n: 1 });
      expect((await a.req('POST', '/v1/functions/count/invoke', {})).json).toEqual({ n: 2 });
      expect((await b.req('POST', '/v1/functions/count/invoke', {})).json).toEqual({ n: 1 });
      // http trigger routes: a key of the namespace unless the trigger is public.
      const web = 'export const handler = async (ev) => ({ statusCode: 200, body: "id " + ev.params.id })';
      expect((await a.req('PUT', '/v1/functions/route', { code: web })).status).toBe(201);
      expect((await a.req('PUT', '/v1/triggers/r-private', { type: 'http', function: 'route', method: 'GET', path: '/private/:id' })).status).toBeLessThan(300);
      expect((await a.req('PUT', '/v1/triggers/r-public', { type: 'http', function: 'route', method: 'GET', path: '/open/:id', public: true })).status).toBeLessThan(300);
      expect((await fetch(`${cluster.url}/ns/team-a/http/private/7`)).status).toBe(401);
      expect((await fetch(`${cluster.url}/ns/team-a/http/private/7`, { headers: { authorization: `Bearer ${keyB}` } })).status).toBe(401);
      const own = await fetch(`${cluster.url}/http/private/7`, { headers: { authorization: `Bearer ${keyA}` } });
      expect([own.status, await own.text()]).toEqual([200, 'id 7']);
      const open = await fetch(`${cluster.url}/ns/team-a/http/open/8`);
      expect([open.status, await open.text()]).toEqual([200, 'id 8']);
      // Only the operator manages namespaces.
      expect((await a.req('GET', '/v1/namespaces')).status).toBe(403);
      expect((await a.req('POST', '/v1/namespaces/team-a/keys', {})).status).toBe(403);
    });

    it('lets a read-only key list, get and invoke but not deploy or delete', async () => {
      const ro = at(0, keyAro);
      expect((await ro.req('GET', '/v1/functions/only-a')).status).toBe(200);
      expect((await ro.req('POST', '/v1/functions/only-a/invoke', {})).json).toEqual({ who: 'a' });
      const d = await ro.req('PUT', '/v1/functions/ro-deploy', { code: 'export const handler = () => 1' });
      expect(d.status).toBe(403);
      expect(d.json.error.code).toBe('READ_ONLY_KEY');
      expect((await ro.req('DELETE', '/v1/functions/only-a')).status).toBe(403);
    });

    it('serves public web endpoints to anyone, by namespace path', async () => {
      const a = at(0, keyA);
      const code = 'export const handler = async (ev) => ({ statusCode: 200, body: "hi " + ev.path })';
      expect((await a.req('PUT', '/v1/functions/pub', { code, public: true })).status).toBe(201);
      const r = await fetch(`${cluster.url}/ns/team-a/fn/pub/x`);
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('hi /x');
    });

    it('enforces namespace quotas with codes saying which', async () => {
      const quotas = { maxFunctions: 1, invocationsPerSecond: 2, maxMemoryMb: 256, maxTimeoutMs: 2000, maxAsyncPayloadBytes: 64, maxCodeBytes: 4000 };
      expect((await admin.req('PUT', '/v1/namespaces/tiny', { quotas })).status).toBe(201);
      const key = (await admin.req('POST', '/v1/namespaces/tiny/keys', {})).json.key;
      const t = at(0, key);
      const code = 'export const handler = async () => 1';
      expect((await t.req('PUT', '/v1/functions/one', { code })).status).toBe(201);
      const second = await t.req('PUT', '/v1/functions/two', { code });
      expect([second.status, second.json.error.code]).toEqual([403, 'QUOTA_FUNCTIONS']);
      expect((await t.req('PUT', '/v1/functions/one', { code, memoryMb: 512 })).json.error.code).toBe('QUOTA_MEMORY');
      expect((await t.req('PUT', '/v1/functions/one', { code, timeoutMs: 5000 })).json.error.code).toBe('QUOTA_TIMEOUT');
      const big = await t.req('PUT', '/v1/functions/one', { code: `${code}\n//${'x'.repeat(5000)}` });
      expect([big.status, big.json.error.code]).toEqual([413, 'QUOTA_CODE_SIZE']);
      const asyncBig = await t.req('POST', '/v1/functions/one/invoke?async=true', { blob: 'y'.repeat(100) });
      expect([asyncBig.status, asyncBig.json.error.code]).toEqual([413, 'QUOTA_PAYLOAD']);
      const burst = await Promise.all(Array.from({ length: 10 }, () => t.req('POST', '/v1/functions/one/invoke', {})));
      const limited = burst.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]?.json.error.code).toBe('QUOTA_RATE');
      expect(Number(limited[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(burst.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    });

    it('delivers secrets to the function only, never in answers, records or logs', async () => {
      const a = at(0, keyA);
      // The code holds only a hash of the value, so finding the value anywhere means a leak.
      const digest = createHash('sha256').update(SECRET_VALUE).digest('hex');
      const code = `import { createHash } from 'node:crypto';
      export const handler = async () => {
        console.log('secret length', (process.env.API_TOKEN ?? '').length);
        const h = createHash('sha256').update(process.env.API_TOKEN ?? '').digest('hex');
        return { hasToken: h === ${JSON.stringify(digest)}, plain: process.env.PLAIN };
      };`;
      const d = await a.req('PUT', '/v1/functions/secretive', { code, env: { PLAIN: 'visible' }, secrets: { API_TOKEN: SECRET_VALUE } });
      expect(d.status).toBe(201);
      expect(d.json.secretNames).toEqual(['API_TOKEN']);
      const r = await a.req('POST', '/v1/functions/secretive/invoke', {});
      expect(r.json).toEqual({ hasToken: true, plain: 'visible' });
      const asyncId = (await a.req('POST', '/v1/functions/secretive/invoke?async=true', {})).json.activationId;
      const act = await waitForActivation(a, asyncId);
      expect(act.result).toEqual({ hasToken: true, plain: 'visible' });
      // Same secrets, same code: no new version; new secret value: a new version.
      expect((await a.req('PUT', '/v1/functions/secretive', { code, env: { PLAIN: 'visible' }, secrets: { API_TOKEN: SECRET_VALUE } })).json.created).toBe(false);
      const everything = [
        d.text,
        r.text,
        JSON.stringify(act),
        (await a.req('GET', '/v1/functions/secretive')).text,
        (await a.req('GET', '/v1/functions')).text,
        (await a.req('GET', '/v1/activations?limit=1000')).text,
        await hooks.capturedOutput(),
      ].join('\n');
      expect(everything.length).toBeGreaterThan(1000);
      expect(everything).not.toContain(SECRET_VALUE);
    });

    it('refuses a revoked key at once on the gateway that revoked it, and on every other one on the revocation notice (well before the key cache\'s 10 s)', async () => {
      const key = (await admin.req('POST', '/v1/namespaces/team-b/keys', {})).json;
      // Every gateway has verified (and cached) the key.
      for (let i = 0; i < cluster.urls.length; i++) expect((await at(i, key.key).req('GET', '/v1/functions')).status).toBe(200);
      expect((await at(0, key.key).req('DELETE', `/v1/namespaces/team-b/keys/${key.id}`)).status).toBe(403);
      expect((await admin.req('DELETE', `/v1/namespaces/team-b/keys/${key.id}`)).status).toBe(204);
      expect((await at(0, key.key).req('GET', '/v1/functions')).status).toBe(401);
      for (let i = 1; i < cluster.urls.length; i++) {
        await waitForValue(async () => ((await at(i, key.key).req('GET', '/v1/functions')).status === 401 ? true : undefined), 2000, `gateway ${i} refusing the revoked key`, 5);
      }
    });

    describe('hostile input gets a 4xx with a code, and the platform keeps working', () => {
      const expectCode = async (p: Promise<{ status: number; json: any }>, status: number, code: string): Promise<void> => {
        const r = await p;
        expect([r.status, r.json?.error?.code]).toEqual([status, code]);
      };

      it('names: traversal, unicode, 500 characters', async () => {
        const a = at(0, keyA);
        const code = 'export const handler = () => 1';
        await expectCode(a.req('PUT', '/v1/functions/..%2F..%2Fetc', { code }), 400, 'INVALID_NAME');
        await expectCode(a.req('PUT', `/v1/functions/${encodeURIComponent('fünction')}`, { code }), 400, 'INVALID_NAME');
        await expectCode(a.req('PUT', `/v1/functions/${'a'.repeat(500)}`, { code }), 400, 'INVALID_NAME');
        await expectCode(admin.req('PUT', '/v1/namespaces/..%2Fx', {}), 400, 'INVALID_NAMESPACE');
      });

      it('JSON: malformed, deeply nested, not JSON at all, over the size limit', async () => {
        const a = at(0, keyA);
        await expectCode(a.req('POST', '/v1/functions/only-a/invoke', '{"a":', { 'content-type': 'application/json' }), 400, 'MALFORMED_JSON');
        await expectCode(a.req('POST', '/v1/functions/only-a/invoke', '['.repeat(100_000) + ']'.repeat(100_000)), 400, 'JSON_TOO_DEEP');
        await expectCode(a.req('POST', '/v1/functions/only-a/invoke', 'hello, not json', { 'content-type': 'text/plain' }), 400, 'MALFORMED_JSON');
        await expectCode(a.req('PUT', '/v1/functions/x', '{"code": ', { 'content-type': 'application/json' }), 400, 'MALFORMED_JSON');
        await expectCode(a.req('POST', '/v1/functions/only-a/invoke', 'x'.repeat(7 * 1024 * 1024)), 413, 'PAYLOAD_TOO_LARGE');
      });

      it('archives: path traversal, absolute paths, bombs; bundles that import nothing real', async () => {
        const a = at(0, keyA);
        const zip = (files: Record<string, string>): Uint8Array => zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)])));
        const traversal = zip({ 'package.json': '{}', 'index.js': 'exports.handler = () => 1', 'x/../../evil.js': 'x' });
        const r1 = await a.req('PUT', '/v1/functions/z1', traversal, { 'content-type': 'application/zip' });
        expect(r1.status).toBe(400);
        expect(r1.json.error.code).toMatch(/^ARCHIVE_/);
        const bomb = zipSync({ 'index.js': strToU8('exports.handler = () => 1'), 'big.bin': new Uint8Array(300 * 1024 * 1024) }, { level: 9 });
        await expectCode(a.req('PUT', '/v1/functions/z2', bomb, { 'content-type': 'application/zip' }), 400, 'ARCHIVE_TOO_LARGE');
        await expectCode(a.req('PUT', '/v1/functions/z3', 'not a zip at all', { 'content-type': 'application/zip' }), 400, 'ARCHIVE_INVALID');
        const missing = await a.req('PUT', '/v1/functions/z4', { code: "import x from 'no-such-module-anywhere';\nexport const handler = () => x;" });
        expect([missing.status, missing.json.error.code]).toEqual([400, 'BUILD_FAILED']);
      });

      it('function results: header injection, cycles and BigInt', async () => {
        const a = at(0, keyA);
        const inject = `export const handler = async () => ({ statusCode: 200, headers: { 'x-ok': 'a\\r\\nSet-Cookie: pwned=1' }, body: 'x' })`;
        await a.req('PUT', '/v1/functions/inject', { code: inject, public: true });
        const r = await fetch(`${cluster.url}/ns/team-a/fn/inject`);
        expect(r.status).toBe(502);
        expect(r.headers.get('set-cookie')).toBeNull();
        expect(r.headers.get('x-brisk-fault')).toBe('function');
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INVALID_FUNCTION_RESPONSE');
        await a.req('PUT', '/v1/functions/cyclic', { code: 'export const handler = async () => { const o = {}; o.o = o; return o; }' });
        const c = await a.req('POST', '/v1/functions/cyclic/invoke', {});
        expect([c.status, c.json.error.errorType]).toEqual([500, 'ResultNotSerializable']);
        await a.req('PUT', '/v1/functions/bigint', { code: 'export const handler = async () => ({ n: 10n })' });
        expect((await a.req('POST', '/v1/functions/bigint/invoke', {})).json.error.errorType).toBe('ResultNotSerializable');
      });

      it('is still healthy and serving afterwards', async () => {
        for (const url of cluster.urls) expect((await fetch(`${url}/healthz`)).status).toBe(200);
        expect((await at(0, keyA).req('POST', '/v1/functions/only-a/invoke', {})).json).toEqual({ who: 'a' });
      });
    });
  });
}
