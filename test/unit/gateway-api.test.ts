import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { InvocationRequest, InvocationResult } from '../../core/types.js';
import { createGatewayApp, type GatewayAppDeps } from '../../gateway/app.js';
import { rawInvokeHandler } from '../../gateway/routes/invoke.js';
import { Authenticator } from '../../gateway/auth.js';
import { Bundler } from '../../gateway/deploy/bundler.js';
import { PythonBuilder } from '../../gateway/deploy/python-build.js';
import { RuntimeCatalog } from '../../gateway/runtimes.js';
import { FunctionService } from '../../gateway/function-service.js';
import { Invoker } from '../../gateway/invoker.js';
import { RetryPolicy } from '../../invocations/retry-policy.js';
import { Submitter } from '../../invocations/submit.js';
import { eventPayload } from '../../gateway/routes/functions.js';
import { exceedsDepth } from '../../core/json-depth.js';
import { BundleStore } from '../../storage/bundles.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { FileStore } from '../../storage/file-store.js';
import { FunctionSecrets } from '../../tenancy/function-secrets.js';
import { InvocationAdmission } from '../../tenancy/quotas.js';
import { TenancyService } from '../../tenancy/tenancy-service.js';
import type { NamespaceQuotas } from '../../tenancy/types.js';
import { AliasStore } from '../../releases/alias-store.js';
import { FunctionRouter } from '../../releases/function-router.js';
import { AliasService } from '../../releases/alias-service.js';
import { ProvisionedPlanner } from '../../releases/provisioned-plan.js';
import { ProvisionedService } from '../../releases/provisioned-service.js';
import { ProvisionedStore } from '../../releases/provisioned-store.js';
import type { ProvisionHost } from '../../placement/provisioning.js';

/**
 * The v1 API's validation, over HTTP against the real Express app with
 * in-process fakes behind it (memory bus, file stores in a temp dir, and a
 * fake executor that echoes each event back as the result).
 */

const QUOTAS: NamespaceQuotas = {
  maxConcurrency: 100,
  invocationsPerSecond: 10_000,
  maxFunctions: 100,
  maxCodeBytes: 1 << 20,
  maxUnpackedBytes: 1 << 22,
  maxSyncPayloadBytes: 64 * 1024,
  maxAsyncPayloadBytes: 1024,
  maxTimeoutMs: 60_000,
  maxMemoryMb: 1024,
  maxProvisionedMb: 1024,
};
const ADMIN = 'unit-admin-key';

describe('gateway v1 API validation', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-gw-'));
  const bus = new MemoryBus({ prefix: 'gwtest' });
  const topology = new Topology('gwtest');
  const store = new FileStore(path.join(dir, 'meta'), { activationTtlS: 3600 });
  const objects = new FileObjectStore(path.join(dir, 'objects'));
  const kv = new FileKeyValueStore(path.join(dir, 'meta'));
  const submitter = new Submitter({ bus, store, topology, retry: new RetryPolicy() });
  const invoker = new Invoker({ bus, topology, submitter });
  let server: http.Server;
  let functions: FunctionService;
  let base = '';
  /** The same app behind the raw invoke path (as gateway/app.ts createGatewayListener composes them). */
  let rawServer: http.Server;
  let rawBase = '';
  /** Requests the raw path handed to Express. */
  let passedToExpress = 0;
  /** The executors provisioned configs are checked against (as the gateway would hear their heartbeats). */
  const provisionHosts: ProvisionHost[] = [];

  const reqAt = async (method: string, p: string, body?: string | Uint8Array, headers: Record<string, string> = {}, at = base) => {
    const res = await fetch(at + p, { method, headers: { authorization: `Bearer ${ADMIN}`, ...headers }, ...(body !== undefined ? { body: body as BodyInit } : {}) });
    const text = await res.text();
    return { status: res.status, text, json: text ? (JSON.parse(text) as any) : undefined };
  };
  const req = (method: string, p: string, body?: string | Uint8Array, headers: Record<string, string> = {}) => reqAt(method, p, body, headers);
  const json = (method: string, p: string, value: unknown) => req(method, p, JSON.stringify(value), { 'content-type': 'application/json' });

  beforeAll(async () => {
    await Promise.all([store.waitUntilReady(), objects.waitUntilReady(), kv.waitUntilReady()]);
    await invoker.start();
    // The fake executor: every request's event comes back as its result.
    await bus.consume<InvocationRequest>(topology.invokeQueue, async (r) => {
      if (r.replyTo === undefined) return;
      const result: InvocationResult = { activationId: r.activationId, status: 'success', resultJson: r.payload, coldStart: false, durationMs: 0 };
      await bus.send(r.replyTo, result);
    }, { prefetch: 10 });
    const tenancy = new TenancyService(kv, QUOTAS);
    const admission = new InvocationAdmission(kv);
    const runtimes = new RuntimeCatalog({ python: 'python3', allowImages: ['imgs'] });
    const aliasStore = new AliasStore(kv);
    const provisionedStore = new ProvisionedStore(kv);
    functions = new FunctionService({
      aliases: aliasStore,
      provisioned: provisionedStore,
      router: new FunctionRouter({ store, aliases: aliasStore }),
      store,
      bundles: new BundleStore({ objects }),
      bundler: (l) => new Bundler({ maxUnpackedBytes: l.maxUnpackedBytes, maxFiles: 100 }),
      pythonBuilder: (l) => new PythonBuilder({ python: 'python3', maxUnpackedBytes: l.maxUnpackedBytes, maxFiles: 100 }),
      runtimes,
      secrets: new FunctionSecrets(kv, undefined),
      quotas: async () => QUOTAS,
      defaults: { memoryMb: 128, timeoutMs: 1000 },
    });
    const deps: GatewayAppDeps = {
      functions,
      runtimes,
      aliases: new AliasService({ store, aliases: aliasStore, onChange: (ns, name) => functions.changed(ns, name) }),
      provisioned: new ProvisionedService({
        store,
        aliases: aliasStore,
        configs: provisionedStore,
        planner: new ProvisionedPlanner({ store, aliases: aliasStore }),
        hosts: () => provisionHosts,
        share: 0.75,
        quotas: async () => QUOTAS,
      }),
      invoker,
      submitter,
      store,
      logger: pino({ level: 'silent' }),
      limits: { defaultMemoryMb: 128, maxMemoryMb: 2048, defaultTimeoutMs: 1000, maxTimeoutMs: 60_000, maxPayloadBytes: 64 * 1024, maxCodeBytes: 1 << 20 },
      auth: new Authenticator(ADMIN, tenancy),
      admit: async (ns, bytes, mode) => admission.admit(ns, QUOTAS, bytes, mode),
      health: () => ({ bus: bus.status }),
    };
    const app = createGatewayApp(deps);
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const raw = rawInvokeHandler({ ...deps, maxPayloadBytes: deps.limits.maxPayloadBytes });
    rawServer = http.createServer((rq, rs) => {
      if (raw(rq, rs)) return;
      passedToExpress++;
      app(rq, rs);
    });
    await new Promise<void>((r) => rawServer.listen(0, '127.0.0.1', () => r()));
    rawBase = `http://127.0.0.1:${(rawServer.address() as AddressInfo).port}`;
    expect((await json('PUT', '/v1/functions/echo', { code: 'export const handler = async (e) => e' })).status).toBe(201);
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => rawServer.close(() => r()));
    await invoker.stop();
    await bus.close();
    await Promise.all([store.close(), objects.close(), kv.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('needs the key on /v1 but not on /healthz', async () => {
    expect((await fetch(`${base}/v1/functions`)).status).toBe(401);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await req('GET', '/v1/nothing-here')).json.error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('validates deploys: name, body shape, settings, archive type', async () => {
    expect((await json('PUT', '/v1/functions/Bad_Name!', { code: 'x' })).json.error.code).toBe('INVALID_NAME');
    expect((await json('PUT', '/v1/functions/a', [1, 2])).json.error.code).toBe('INVALID_BODY');
    expect((await json('PUT', '/v1/functions/a', { handler: 'index.handler' })).json.error.code).toBe('INVALID_BODY');
    const settings = await json('PUT', '/v1/functions/a', { code: 'export const handler = () => 1', memoryMb: 1, env: { 'BAD-KEY': 'x' } });
    expect([settings.status, settings.json.error.code]).toEqual([400, 'INVALID_SETTINGS']);
    expect(settings.json.error.details.issues.map((i: { path: string }) => i.path).sort()).toEqual(['env.BAD-KEY', 'memoryMb']);
    const notArchive = await req('PUT', '/v1/functions/a', new Uint8Array([1, 2, 3]), { 'content-type': 'application/octet-stream' });
    expect(notArchive.json.error.code).toBe('UNSUPPORTED_ARCHIVE');
    const malformed = await req('PUT', '/v1/functions/a', '{"code":', { 'content-type': 'application/json' });
    expect([malformed.status, malformed.json.error.code]).toEqual([400, 'MALFORMED_JSON']);
  });

  it.each(['express', 'raw'] as const)('validates invocations: JSON, depth, size, version; an empty body is {} (%s route)', async (which) => {
    const before = passedToExpress;
    const req = (method: string, p: string, body?: string | Uint8Array, headers: Record<string, string> = {}) =>
      reqAt(method, p, body, headers, which === 'raw' ? rawBase : base);
    const ok = await req('POST', '/v1/functions/echo/invoke', '{"a":[1,{"b":2}]}');
    expect([ok.status, ok.json]).toEqual([200, { a: [1, { b: 2 }] }]);
    expect((await req('POST', '/v1/functions/echo/invoke', '')).json).toEqual({});
    expect((await req('POST', '/v1/functions/echo/invoke', '{"a":')).json.error.code).toBe('MALFORMED_JSON');
    expect((await req('POST', '/v1/functions/echo/invoke', '['.repeat(65) + ']'.repeat(65))).json.error.code).toBe('JSON_TOO_DEEP');
    expect((await req('POST', '/v1/functions/echo/invoke', '['.repeat(64) + ']'.repeat(64))).status).toBe(200);
    const big = await req('POST', '/v1/functions/echo/invoke', JSON.stringify({ s: 'x'.repeat(70 * 1024) }));
    expect([big.status, big.json.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const asyncBig = await req('POST', '/v1/functions/echo/invoke?async=true', JSON.stringify({ s: 'x'.repeat(2000) }));
    expect([asyncBig.status, asyncBig.json.error.code]).toEqual([413, 'QUOTA_PAYLOAD']);
    expect((await req('POST', '/v1/functions/echo/invoke?version=0', '{}')).json.error.code).toBe('INVALID_VERSION');
    expect((await req('POST', '/v1/functions/echo/invoke?version=9', '{}')).json.error.code).toBe('FUNCTION_NOT_FOUND');
    expect((await req('POST', '/v1/functions/missing/invoke', '{}')).status).toBe(404);
    // The raw path answered every one of them itself.
    expect(passedToExpress).toBe(before);
  });

  /** One request with exact headers (no content-length: sent chunked), its answer as received. */
  function exchange(at: string, c: Case): Promise<{ status: number; headers: Record<string, string | undefined>; body: string }> {
    const url = new URL(at + c.path);
    // Keep-alive, so an answer that closes the connection says so (Connection: close).
    const agent = new http.Agent({ keepAlive: true });
    return new Promise<{ status: number; headers: Record<string, string | undefined>; body: string }>((resolve, reject) => {
      const r = http.request({ host: url.hostname, port: url.port, method: c.method ?? 'POST', path: c.path, headers: c.headers ?? {}, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const h = res.headers;
          const pick = (k: string) => (typeof h[k] === 'string' ? (h[k] as string) : undefined);
          resolve({
            status: res.statusCode ?? 0,
            headers: { 'content-type': pick('content-type'), 'x-brisk-fault': pick('x-brisk-fault'), 'retry-after': pick('retry-after'), connection: pick('connection'), 'activation-id': pick('x-brisk-activation-id') === undefined ? undefined : 'present' },
            // Activation ids differ per call; everything else must not.
            body: body.replace(/[0-9a-f]{32}/g, '<id>'),
          });
        });
      });
      r.on('error', reject);
      r.end(c.body);
    }).finally(() => agent.destroy());
  }
  interface Case {
    path: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Whether the raw path answers it itself (else it hands it to Express). */
    raw: boolean;
  }
  const KEY = { authorization: `Bearer ${ADMIN}` };
  const cl = (body: string | Buffer) => ({ 'content-length': String(Buffer.byteLength(body)) });
  const body = (text: string, headers: Record<string, string> = {}): Pick<Case, 'headers' | 'body'> => ({ body: text, headers: { ...KEY, ...cl(text), ...headers } });
  const CASES: Case[] = [
    { path: '/v1/functions/echo/invoke', ...body('{"a":[1,{"b":2}]}', { 'content-type': 'application/json' }), raw: true },
    { path: '/v1/functions/echo/invoke', ...body(''), raw: true },
    { path: '/v1/functions/echo/invoke', headers: KEY, raw: true },
    { path: '/v1/functions/echo/invoke', ...body('\ufeff{"bom":1}'), raw: true },
    { path: '/v1/functions/echo/invoke', ...body('{"a":'), raw: true },
    { path: '/v1/functions/echo/invoke', ...body('['.repeat(65) + ']'.repeat(65)), raw: true },
    { path: '/v1/functions/echo/invoke', ...body(JSON.stringify({ s: 'x'.repeat(70 * 1024) })), raw: true },
    // Chunked (no declared length) and over the cap: refused while it streams.
    { path: '/v1/functions/echo/invoke', headers: KEY, body: JSON.stringify({ s: 'x'.repeat(70 * 1024) }), raw: true },
    { path: '/v1/functions/echo/invoke', headers: KEY, body: '{"chunked":true}', raw: true },
    { path: '/v1/functions/echo/invoke?async=true', ...body(JSON.stringify({ s: 'x'.repeat(2000) })), raw: true },
    { path: '/v1/functions/echo/invoke?async=1', ...body('{"later":1}'), raw: true },
    { path: '/v1/functions/echo/invoke?version=0', ...body('{}'), raw: true },
    { path: '/v1/functions/echo/invoke?version=abc', ...body('{}'), raw: true },
    { path: '/v1/functions/echo/invoke?version=9', ...body('{}'), raw: true },
    { path: '/v1/functions/echo/invoke?version=1&async=false', ...body('{"v":1}'), raw: true },
    { path: '/v1/functions/missing/invoke', ...body('{}'), raw: true },
    { path: '/v1/functions/echo/invoke', body: '{}', headers: cl('{}'), raw: true },
    { path: '/v1/functions/echo/invoke', ...body('{}', { authorization: 'Bearer nope' }), raw: true },
    { path: '/v1/functions/echo/invoke', ...body('{}', { authorization: 'Bearer bk_0123456789abcdef_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }), raw: true },
    { path: '/v1/functions/echo/invoke', ...body('{}', { 'x-brisk-namespace': 'Bad!' }), raw: true },
    { path: '/v1/functions/echo/invoke', ...body('{}', { 'x-brisk-namespace': 'nowhere' }), raw: true },
    // Unauthenticated with a huge declared body: refused before a byte is read, connection closed.
    { path: '/v1/functions/echo/invoke', headers: { 'content-length': String(10 * 1024 * 1024) }, body: '', raw: true },
    { path: '/v1/functions/echo/invoke', headers: { ...KEY, 'content-length': String(10 * 1024 * 1024) }, body: '', raw: true },
    // What only Express does: handed to it untouched.
    { path: '/v1/functions/echo/invoke?version=1&version=1', ...body('{}'), raw: false },
    { path: '/v1/functions/echo/invoke?alias=live', ...body('{}'), raw: false },
    { path: '/v1/functions/echo/invoke?version=%31', ...body('{}'), raw: false },
    { path: '/v1/functions/echo/invoke/', ...body('{}'), raw: false },
    { path: '/v1/functions/ECHO/invoke', ...body('{}'), raw: false },
    { path: '/v1/functions/ech%6F/invoke', ...body('{}'), raw: false },
    { path: '/v1/functions/echo/invoke', ...body('{"x":"\u00e9"}', { 'content-type': 'text/plain; charset=latin1' }), raw: false },
    { path: '/v1/functions/echo/invoke', ...body('{}', { 'content-encoding': 'gzip' }), raw: false },
    { path: '/v1/functions/echo/invoke', method: 'GET', headers: KEY, raw: false },
    { path: '/v1/functions/echo', method: 'GET', headers: KEY, raw: false },
  ];

  it('the raw invoke path answers exactly as the Express route, and hands Express all it does not take', async () => {
    for (const c of CASES) {
      const before = passedToExpress;
      const viaExpress = await exchange(base, c);
      const viaRaw = await exchange(rawBase, c);
      expect(viaRaw, `${c.method ?? 'POST'} ${c.path} ${JSON.stringify(c.headers)}`).toEqual(viaExpress);
      expect(passedToExpress - before, `${c.path}: taken by the raw path`).toBe(c.raw ? 0 : 1);
    }
  });

  it('provisioned instances: checked against the function, the quota and the executors, with a counter-offer', async () => {
    expect((await json('PUT', '/v1/functions/prov', { code: 'export const handler = async () => 1', memoryMb: 128 })).status).toBe(201);
    expect((await json('PUT', '/v1/functions/prov/aliases/live', { version: 1 })).status).toBe(201);
    // No executor heard yet: nothing fits, and the answer says how many would.
    provisionHosts.splice(0, provisionHosts.length);
    let r = await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 2 });
    expect(r.status).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'INSUFFICIENT_CAPACITY', details: { requested: 2, available: 0, limitedBy: 'cluster' } });
    // Two executors of 1024 MB: 0.75 of each is 768 MB, six 128 MB instances each.
    provisionHosts.push({ executorId: 'e1', memoryMb: 1024, provisioned: {} }, { executorId: 'e2', memoryMb: 1024, provisioned: {} });
    r = await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 2 });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ qualifier: 'live', instances: 2, windows: [], status: { wanted: 2, ready: 0 } });
    // The namespace's quota (1024 MB) holds 8 instances of 128 MB; two are taken by the alias's config.
    r = await json('PUT', '/v1/functions/prov/provisioned/1', { instances: 1, windows: [{ cron: '0 8 * * 1-5', durationMinutes: 600, instances: 9 }] });
    expect(r.status).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'INSUFFICIENT_CAPACITY', details: { requested: 9, available: 6, limitedBy: 'quota' } });
    r = await json('PUT', '/v1/functions/prov/provisioned/1', { instances: 1, windows: [{ cron: '0 8 * * 1-5', timezone: 'Europe/Berlin', durationMinutes: 600, instances: 6 }] });
    expect(r.status).toBe(201);
    expect(r.json.windows).toEqual([{ cron: '0 8 * * 1-5', timezone: 'Europe/Berlin', durationMinutes: 600, instances: 6 }]);
    // The quota is now held in full at peak (2 + 6 instances of 128 MB): growing the alias's config is refused.
    r = await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 3 });
    expect(r.json.error).toMatchObject({ code: 'INSUFFICIENT_CAPACITY', details: { requested: 3, available: 2, limitedBy: 'quota' } });
    expect((await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 1 })).status).toBe(200);
    const listed = await req('GET', '/v1/functions/prov/provisioned');
    expect(listed.json.provisioned.map((c: { qualifier: string }) => c.qualifier).sort()).toEqual(['1', 'live']);
    const fn = await req('GET', '/v1/functions/prov');
    // Before the provisioner's first round: what was asked is wanted, nothing ready.
    expect(fn.json.provisioned).toMatchObject({ wanted: 2, ready: 0 });
    // Bad input: 4xx with its code, nothing stored.
    expect((await json('PUT', '/v1/functions/prov/provisioned/2', { instances: 1 })).json.error.code).toBe('VERSION_NOT_FOUND');
    expect((await json('PUT', '/v1/functions/prov/provisioned/nope', { instances: 1 })).json.error.code).toBe('ALIAS_NOT_FOUND');
    expect((await json('PUT', '/v1/functions/prov/provisioned/Bad!', { instances: 1 })).json.error.code).toBe('INVALID_ALIAS');
    expect((await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 101 })).json.error.code).toBe('INVALID_BODY');
    expect((await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 1, extra: 1 })).json.error.code).toBe('INVALID_BODY');
    expect((await json('PUT', '/v1/functions/prov/provisioned/live', { instances: 1, windows: [{ cron: 'soon', durationMinutes: 5, instances: 2 }] })).json.error.code).toBe('INVALID_CRON');
    expect((await json('PUT', '/v1/functions/nofn/provisioned/1', { instances: 1 })).json.error.code).toBe('FUNCTION_NOT_FOUND');
    expect((await req('GET', '/v1/functions/prov/provisioned/7')).json.error.code).toBe('PROVISIONED_NOT_FOUND');
    expect((await req('DELETE', '/v1/functions/prov/provisioned/1')).status).toBe(204);
    expect((await req('DELETE', '/v1/functions/prov/provisioned/1')).json.error.code).toBe('PROVISIONED_NOT_FOUND');
    // Deleting the function deletes its configs: a redeploy starts without any.
    expect((await req('DELETE', '/v1/functions/prov')).status).toBe(204);
    expect((await json('PUT', '/v1/functions/prov', { code: 'export const handler = async () => 2' })).status).toBe(201);
    expect((await req('GET', '/v1/functions/prov/provisioned')).json.provisioned).toEqual([]);
    expect((await req('GET', '/v1/functions/prov')).json.provisioned).toBeUndefined();
  });

  it('a deploy through this gateway is what its next call runs, without reading it back', async () => {
    expect((await json('PUT', '/v1/functions/fresh', { code: 'export const handler = async () => 1' })).status).toBe(201);
    const reads = vi.spyOn(store, 'getFunction');
    try {
      expect((await functions.resolve('default', 'fresh')).version).toBe(1);
      expect(reads).not.toHaveBeenCalled();
      // A change notice (another gateway deployed or deleted it) drops it: the store is read again.
      functions.forget('default', 'fresh');
      expect((await functions.resolve('default', 'fresh')).version).toBe(1);
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      reads.mockRestore();
    }
  });

  it('validates activation lookups', async () => {
    expect((await req('GET', '/v1/activations/..%2Fetc')).json.error.code).toBe('INVALID_ACTIVATION_ID');
    expect((await req('GET', '/v1/activations/abc123')).status).toBe(404);
    expect((await req('GET', '/v1/activations?limit=0')).json.error.code).toBe('INVALID_LIMIT');
    expect((await req('GET', '/v1/activations?function=NOPE!')).json.error.code).toBe('INVALID_NAME');
  });
});

describe('eventPayload and exceedsDepth', () => {
  it('passes the text through untouched', () => {
    const text = '{ "a" : 1 }';
    expect(eventPayload(text)).toBe(text);
  });

  it('measures nesting of arrays and objects only, stopping early', () => {
    expect(exceedsDepth({ a: [{ b: 'x' }] }, 3)).toBe(false);
    expect(exceedsDepth({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(exceedsDepth('just a string', 0)).toBe(false);
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    expect(exceedsDepth(deep, 64)).toBe(true);
  });
});
