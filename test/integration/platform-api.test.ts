import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { bundleRuntimeTo } from '../helpers/runtime-bundle.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { ServiceUnavailableError } from '../../core/errors.js';
import type { ObjectEvent } from '../../core/types.js';
import { PlatformApi } from '../../executor/platform-api.js';
import { stateKey } from '../../storage/types.js';
import { ProcessBackend } from '../../executor/process-backend.js';
import type { ExecutorBackend, Instance } from '../../executor/types.js';
import type { InitRequest, RunResponse } from '../../runtime/protocol.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { ObjectService } from '../../storage/object-service.js';
import { RedisKeyValueStore } from '../../storage/redis-kv-store.js';
import type { KeyValueStore } from '../../storage/types.js';
import { redisTest } from '../helpers/fixtures.js';
import { redisAvailable, requireService, uniquePrefix, waitFor } from '../helpers/services.js';

/**
 * The platform API with real runtime child processes: functions call
 * context.state / context.objects over the unix socket, with the token from
 * /init. Run once over the standalone key-value store (file) and once over
 * Redis (distributed), the two stores context.state lives in.
 */

const redisOk = requireService('redis', await redisAvailable());

/** One handler that does what the event says, so one bundle serves every test. */
const FN = `
export const handler = async (event, context) => {
  const { state, objects } = context;
  switch (event.op) {
    case 'incr': return state.incr(event.key ?? 'hits', event.by);
    case 'state': {
      await state.set('doc', { nested: [1, 'two', null], at: event.at });
      const doc = await state.get('doc');
      const missing = await state.get('never-set');
      const existed = await state.delete('doc');
      const again = await state.delete('doc');
      return { doc, missing: missing === undefined, existed, again, after: (await state.get('doc')) === undefined };
    }
    case 'get-state': return { value: (await state.get(event.key)) ?? null };
    case 'put': await objects.put(event.bucket, event.key, event.binary ? Buffer.from(event.data, 'base64') : event.data); return 'ok';
    case 'get': { const b = await objects.get(event.bucket, event.key); return b === undefined ? null : b.toString('base64'); }
    case 'list': return objects.list(event.bucket, event.prefix);
    case 'delete': return objects.delete(event.bucket, event.key);
    case 'bad': {
      const out = {};
      for (const [name, call] of Object.entries({
        bucket: () => objects.put('NOT_A_BUCKET', 'k', 'x'),
        key: () => objects.get('bkt', '../etc/passwd'),
        stateKey: () => state.set('x'.repeat(300), 1),
        tooBig: () => state.set('big', 'x'.repeat(300 * 1024)),
        notInt: async () => { await state.set('word', 'hello'); return state.incr('word'); },
      })) {
        try { await call(); out[name] = 'no error'; } catch (err) { out[name] = { name: err.name, code: err.code, status: err.status }; }
      }
      return out;
    }
    case 'has-platform': return { state: typeof context.state, objects: typeof context.objects };
    default: throw new Error('unknown op ' + event.op);
  }
};
`;

let workDir: string;
let runtimePath: string;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'brisk-platform-test-'));
  // Bundled from source (as build.mjs does) so the test runs the current runtime.
  runtimePath = await bundleRuntimeTo(path.join(workDir, 'runtime/server.mjs'));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A raw call to the platform socket, as a function's runtime would make it. */
function socketCall(socketPath: string, method: string, urlPath: string, token: string | undefined, body?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host: 'platform' };
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = http.request({ socketPath, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Fixture {
  api: PlatformApi;
  backend: ExecutorBackend;
  kv: KeyValueStore;
  store: FileObjectStore;
  events: ObjectEvent[];
  close(): Promise<void>;
}

async function fixture(kv: KeyValueStore): Promise<Fixture> {
  const dir = await mkdtemp(path.join(workDir, 'fx-'));
  const bus = new MemoryBus({ prefix: 'it' });
  await bus.waitUntilReady();
  const topology = new Topology('it');
  const store = new FileObjectStore(path.join(dir, 'objects'));
  await Promise.all([store.waitUntilReady(), kv.waitUntilReady()]);
  const objects = new ObjectService({ objects: store, bus, topology, kv, maxObjectBytes: 64 * 1024 });
  const events: ObjectEvent[] = [];
  await bus.subscribe<ObjectEvent>(topology.objectEventsTopic, (e) => {
    events.push(e);
  });
  // Short path: the socket must fit in sun_path whatever the temp dir is.
  const api = new PlatformApi({ socketPath: path.join(os.tmpdir(), `bp-${uniquePrefix('t').slice(-8)}`, 'platform.sock'), kv, objects });
  await api.start();
  const raw = new ProcessBackend({ runtimePath, platformSocket: api.socketPath });
  await raw.start();
  const backend = api.track(raw);
  return {
    api,
    backend,
    kv,
    store,
    events,
    close: async () => {
      await backend.close();
      await api.close();
      await kv.close();
      await bus.close();
    },
  };
}

function initReq(namespace: string, name: string, token: string | undefined): InitRequest {
  return {
    namespace,
    name,
    version: 1,
    code: FN,
    exportName: 'handler',
    env: {},
    timeoutMs: 10_000,
    memoryMb: 128,
    ...(token !== undefined ? { platform: { token } } : {}),
  };
}

let seq = 0;
async function invoke(inst: Instance, event: unknown): Promise<unknown> {
  const res: RunResponse = await inst.run({ activationId: `act-${++seq}`, payload: JSON.stringify(event), deadline: Date.now() + 10_000 }, 10_000);
  if (!res.ok) throw new Error(`function failed: ${res.error.errorType}: ${res.error.errorMessage}\n${res.logs.join('\n')}`);
  return JSON.parse(res.resultJson) as unknown;
}

function platformSuite(label: string, makeKv: () => KeyValueStore): void {
  describe(`platform API with real process instances (${label})`, () => {
    let fx: Fixture;
    const instances: Instance[] = [];
    async function loaded(namespace: string, name = 'fn'): Promise<{ inst: Instance; token: string }> {
      const token = fx.api.issueToken({ namespace, function: name });
      const inst = await fx.backend.createInstance({ memoryMb: 128, allowEgress: false });
      instances.push(inst);
      await inst.init(initReq(namespace, name, token));
      return { inst, token };
    }

    beforeAll(async () => {
      fx = await fixture(makeKv());
    });
    afterAll(async () => {
      await Promise.all(instances.map((i) => i.destroy()));
      await fx?.close();
    });

    it('listens on a 0666 socket in a 0755 directory of its own', () => {
      expect(statSync(fx.api.socketPath).mode & 0o777).toBe(0o666);
      expect(statSync(fx.api.socketDir).mode & 0o777).toBe(0o755);
    });

    it('context.state.incr counts atomically per namespace, even from concurrent instances', async () => {
      const a1 = await loaded('ns-a');
      const a2 = await loaded('ns-a');
      const b = await loaded('ns-b');
      // Each instance runs one activation at a time; the two instances race each other.
      const results = await Promise.all([
        ...Array.from({ length: 5 }, () => invoke(a1.inst, { op: 'incr' })),
        ...Array.from({ length: 5 }, () => invoke(a2.inst, { op: 'incr' })),
      ]);
      expect((results as number[]).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await invoke(b.inst, { op: 'incr' })).toBe(1);
      expect(await invoke(b.inst, { op: 'incr', by: 10 })).toBe(11);
      // Stored under state:<namespace>:<key>, where the gateway-side code can find it too.
      expect(await fx.kv.get(stateKey('ns-a', 'hits'))).toBe('10');
      expect(await fx.kv.get(stateKey('ns-b', 'hits'))).toBe('11');
    });

    it('context.state set/get/delete round-trips JSON values', async () => {
      const { inst } = await loaded('ns-state');
      expect(await invoke(inst, { op: 'state', at: 'now' })).toEqual({
        doc: { nested: [1, 'two', null], at: 'now' },
        missing: true,
        existed: true,
        again: false,
        after: true,
      });
    });

    it('context.objects put/get/list/delete, binary-safe, emitting object events', async () => {
      const { inst } = await loaded('ns-obj');
      const bytes = Buffer.from([0, 255, 10, 13, 128, 1]);
      expect(await invoke(inst, { op: 'put', bucket: 'outputs', key: 'run/1.bin', data: bytes.toString('base64'), binary: true })).toBe('ok');
      expect(await invoke(inst, { op: 'put', bucket: 'outputs', key: 'run/2.txt', data: 'text' })).toBe('ok');
      expect(await invoke(inst, { op: 'get', bucket: 'outputs', key: 'run/1.bin' })).toBe(bytes.toString('base64'));
      expect(await invoke(inst, { op: 'get', bucket: 'outputs', key: 'nope' })).toBeNull();
      expect(await invoke(inst, { op: 'list', bucket: 'outputs', prefix: 'run/' })).toEqual(['run/1.bin', 'run/2.txt']);
      expect(await invoke(inst, { op: 'delete', bucket: 'outputs', key: 'run/2.txt' })).toBe(true);
      expect(await invoke(inst, { op: 'delete', bucket: 'outputs', key: 'run/2.txt' })).toBe(false);
      expect(await fx.store.list('objects/ns-obj/')).toEqual(['objects/ns-obj/outputs/run/1.bin']);
      await waitFor(() => fx.events.filter((e) => e.namespace === 'ns-obj').length === 3);
      expect(fx.events.filter((e) => e.namespace === 'ns-obj').map((e) => [e.type, e.bucket, e.key, e.size])).toEqual([
        ['created', 'outputs', 'run/1.bin', 6],
        ['created', 'outputs', 'run/2.txt', 4],
        ['deleted', 'outputs', 'run/2.txt', 0],
      ]);
    });

    it('reports invalid names, oversize values and non-integer increments as typed errors inside the function', async () => {
      const { inst } = await loaded('ns-bad');
      expect(await invoke(inst, { op: 'bad' })).toEqual({
        bucket: { name: 'PlatformApiError', code: 'INVALID_BUCKET', status: 400 },
        key: { name: 'PlatformApiError', code: 'INVALID_KEY', status: 400 },
        stateKey: { name: 'PlatformApiError', code: 'INVALID_STATE_KEY', status: 400 },
        tooBig: { name: 'PlatformApiError', code: 'STATE_VALUE_TOO_LARGE', status: 413 },
        notInt: { name: 'PlatformApiError', code: 'STATE_NOT_INTEGER', status: 400 },
      });
    });

    it('scopes every call to the token: namespace B never sees A, whatever it asks for', async () => {
      const a = await loaded('scope-a');
      const b = await loaded('scope-b');
      expect(await invoke(a.inst, { op: 'incr', key: 'secret' })).toBe(1);
      expect(await invoke(a.inst, { op: 'put', bucket: 'private', key: 'k', data: 'A only' })).toBe('ok');
      expect(await invoke(b.inst, { op: 'get-state', key: 'secret' })).toEqual({ value: null });
      expect(await invoke(b.inst, { op: 'get', bucket: 'private', key: 'k' })).toBeNull();
      expect(await invoke(b.inst, { op: 'list', bucket: 'private' })).toEqual([]);
      // Straight at the socket: B's token reads B's namespace, A's reads A's.
      expect(await socketCall(fx.api.socketPath, 'GET', '/state/secret', b.token)).toMatchObject({ status: 404, json: { error: { code: 'STATE_NOT_FOUND' } } });
      expect(await socketCall(fx.api.socketPath, 'GET', '/state/secret', a.token)).toEqual({ status: 200, json: { value: 1 } });
      // A key that looks like another namespace's storage key is only a key in B's own namespace.
      expect((await socketCall(fx.api.socketPath, 'GET', `/state/${encodeURIComponent('state:scope-a:secret')}`, b.token)).status).toBe(404);
      expect((await socketCall(fx.api.socketPath, 'GET', '/objects/private/..%2F..%2Fscope-a%2Fprivate%2Fk', b.token)).json.error.code).toBe('INVALID_KEY');
    });

    it('refuses calls without a valid token with 401, and revokes a token when its instance is destroyed', async () => {
      expect(await socketCall(fx.api.socketPath, 'GET', '/state/x', undefined)).toMatchObject({ status: 401, json: { error: { code: 'UNAUTHORIZED' } } });
      expect((await socketCall(fx.api.socketPath, 'GET', '/state/x', 'made-up-token')).status).toBe(401);
      const { inst, token } = await loaded('revoke');
      expect(await invoke(inst, { op: 'incr' })).toBe(1);
      expect((await socketCall(fx.api.socketPath, 'GET', '/state/hits', token)).status).toBe(200);
      await inst.destroy();
      expect((await socketCall(fx.api.socketPath, 'GET', '/state/hits', token)).status).toBe(401);
    });

    it('expires a token that was issued but never loaded into an instance', async () => {
      const short = new PlatformApi({
        socketPath: path.join(os.tmpdir(), `bp-${uniquePrefix('x').slice(-8)}`, 'p.sock'),
        kv: fx.kv,
        objects: new ObjectService({ objects: fx.store, bus: new MemoryBus({ prefix: 'x' }), topology: new Topology('x'), maxObjectBytes: 10 }),
        unboundTokenTtlMs: 50,
      });
      await short.start();
      try {
        // The expiry is a point in time: move the clock (only Date; sockets and timers stay real).
        vi.useFakeTimers({ toFake: ['Date'] });
        const token = short.issueToken({ namespace: 'n', function: 'f' });
        expect((await socketCall(short.socketPath, 'GET', '/state/k', token)).status).toBe(404);
        vi.advanceTimersByTime(80);
        expect((await socketCall(short.socketPath, 'GET', '/state/k', token)).status).toBe(401);
        const bound = short.issueToken({ namespace: 'n', function: 'f' });
        short.bindToken(bound);
        vi.advanceTimersByTime(80);
        expect((await socketCall(short.socketPath, 'GET', '/state/k', bound)).status).toBe(404);
      } finally {
        vi.useRealTimers();
        await short.close();
      }
      expect(existsSync(short.socketDir)).toBe(false);
    });

    it('gives no context.state to a function loaded without a platform token', async () => {
      const inst = await fx.backend.createInstance({ memoryMb: 128, allowEgress: false });
      instances.push(inst);
      await inst.init(initReq('plain', 'fn', undefined));
      expect(await invoke(inst, { op: 'has-platform' })).toEqual({ state: 'undefined', objects: 'undefined' });
    });
  });
}

platformSuite('file key-value store (standalone)', () => new FileKeyValueStore(path.join(workDir, `kv-${uniquePrefix('f')}`)));

describe.skipIf(!redisOk)('over Redis', () => {
  /** The file's redis-server (the fixture stops it after the file). */
  let url: string;
  redisTest.beforeAll(({ redisServer }) => {
    url = redisServer.url;
  });
  platformSuite('Redis key-value store (distributed)', () => new RedisKeyValueStore({ url, prefix: `${uniquePrefix('pa')}:` }));
});

/**
 * Finding F4 of the security probe: one instance held 20,000 connections to
 * the shared platform socket, the executor ran out of file descriptors, and
 * other tenants' context.state calls failed as their own function errors.
 */
describe('platform API connection limits and fault accounting', () => {
  const apis: PlatformApi[] = [];
  const clients: net.Socket[] = [];
  let kvDown = false;
  let kv: FileKeyValueStore;

  beforeAll(async () => {
    kv = new FileKeyValueStore(path.join(workDir, `kv-limits-${uniquePrefix('l')}`));
    await kv.waitUntilReady();
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(apis.map((a) => a.close()));
    await kv.close();
  });

  /** A key-value store whose reads fail like a store outage while `kvDown` is set. */
  function flakyKv(): KeyValueStore {
    return new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop === 'get' && kvDown) return async () => Promise.reject(new ServiceUnavailableError('redis', 'connection lost'));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  async function limitedApi(over: Partial<ConstructorParameters<typeof PlatformApi>[0]> = {}): Promise<PlatformApi> {
    const bus = new MemoryBus({ prefix: 'lim' });
    const api = new PlatformApi({
      socketPath: path.join(os.tmpdir(), `bp-${uniquePrefix('m').slice(-8)}`, 'p.sock'),
      kv: flakyKv(),
      objects: new ObjectService({ objects: new FileObjectStore(path.join(workDir, `obj-${uniquePrefix('o')}`)), bus, topology: new Topology('lim'), kv, maxObjectBytes: 1024 }),
      ...over,
    });
    apis.push(api);
    await api.start();
    return api;
  }

  /** Open a raw connection; resolves once connected. */
  function connect(socketPath: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      clients.push(s);
      s.on('error', () => undefined);
      // Flowing, so the server's close is read (a paused socket never sees the end).
      s.resume();
      s.once('connect', () => resolve(s));
      s.once('close', () => reject(new Error('closed before connecting')));
    });
  }

  const isOpen = (s: net.Socket): boolean => !s.destroyed && s.readyState === 'open';

  it('closes a connection that does not show a valid token promptly', async () => {
    const api = await limitedApi({ authTimeoutMs: 150 });
    const silent = await Promise.all(Array.from({ length: 20 }, () => connect(api.socketPath)));
    // Headers with a made-up token: refused, and the connection does not stay.
    const liar = await connect(api.socketPath);
    liar.write('GET /state/x HTTP/1.1\r\nhost: p\r\nauthorization: Bearer not-a-token\r\n\r\n');
    await waitFor(() => silent.every((s) => !isOpen(s)) && !isOpen(liar), 3000);
    expect(api.connectionCount).toBe(0);
  });

  it('past maxConnections a new connection pushes out the oldest silent one; token holders keep being served', async () => {
    const api = await limitedApi({ maxConnections: 32, authTimeoutMs: 60_000 });
    const token = api.issueToken({ namespace: 'victim', function: 'f' });
    const flood: net.Socket[] = [];
    for (let i = 0; i < 96; i++) flood.push(await connect(api.socketPath));
    await waitFor(() => flood.filter(isOpen).length <= 32, 3000);
    expect(api.connectionCount).toBeLessThanOrEqual(32);
    // The survivors are the newest: the oldest were pushed out first.
    expect(flood.slice(-16).every(isOpen)).toBe(true);
    for (let i = 0; i < 5; i++) expect((await socketCall(api.socketPath, 'GET', '/state/k', token)).status).toBe(404);
  });

  it('caps the connections one token holds (429 PLATFORM_CONNECTION_LIMIT) and closes them all when the token is revoked', async () => {
    const api = await limitedApi({ maxConnectionsPerToken: 4 });
    const token = api.issueToken({ namespace: 'greedy', function: 'f' });
    const other = api.issueToken({ namespace: 'victim', function: 'f' });
    // Authenticated, then stalled: headers promise a body that never comes.
    const held = await Promise.all(Array.from({ length: 4 }, () => connect(api.socketPath)));
    for (const s of held) s.write(`PUT /state/k HTTP/1.1\r\nhost: p\r\nauthorization: Bearer ${token}\r\ncontent-length: 100\r\n\r\n`);
    await waitFor(() => api.connectionCount === 4);
    const over = await socketCall(api.socketPath, 'GET', '/state/k', token);
    expect(over).toMatchObject({ status: 429, json: { error: { code: 'PLATFORM_CONNECTION_LIMIT' } } });
    expect((await socketCall(api.socketPath, 'GET', '/state/k', other)).status).toBe(404);
    expect(held.every(isOpen)).toBe(true);
    api.revokeToken(token);
    await waitFor(() => held.every((s) => !isOpen(s)), 2000);
    expect(api.connectionCount).toBe(0);
  });

  it('serves one request per connection (no idle keep-alive connections)', async () => {
    const api = await limitedApi();
    const token = api.issueToken({ namespace: 'n', function: 'f' });
    const s = await connect(api.socketPath);
    let answer = '';
    s.on('data', (d: Buffer) => {
      answer += d.toString('utf8');
    });
    s.write(`GET /state/k HTTP/1.1\r\nhost: p\r\nauthorization: Bearer ${token}\r\n\r\n`);
    await waitFor(() => !isOpen(s), 2000);
    expect(answer).toMatch(/^HTTP\/1\.1 404/);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('remembers a call it failed (5xx) against that token only, for the executor to confirm', async () => {
    const api = await limitedApi();
    const a = api.issueToken({ namespace: 'a', function: 'f' });
    const b = api.issueToken({ namespace: 'b', function: 'f' });
    const t0 = Date.now();
    expect(api.platformFaultSince(a, t0)).toBeUndefined();
    kvDown = true;
    try {
      expect((await socketCall(api.socketPath, 'GET', '/state/k', a)).status).toBe(503);
    } finally {
      kvDown = false;
    }
    expect(api.platformFaultSince(a, t0)).toMatchObject({ code: 'PLATFORM_API_UNAVAILABLE', systemError: false });
    expect(api.platformFaultSince(a, t0)?.message).toContain('SERVICE_UNAVAILABLE');
    expect(api.platformFaultSince(b, t0)).toBeUndefined();
    // A later run of the same instance is not blamed on an old fault.
    expect(api.platformFaultSince(a, Date.now() + 5)).toBeUndefined();
    // A 4xx is the caller's own doing. (From the next millisecond on: the 503's fault may carry this one.)
    const t1 = Date.now() + 1;
    await waitFor(() => Date.now() >= t1, 1000, 1);
    expect((await socketCall(api.socketPath, 'GET', `/state/${'x'.repeat(300)}`, a)).status).toBe(400);
    expect(api.platformFaultSince(a, t1)).toBeUndefined();
  });

  it('the runtime reports a platform failure of the activation, and only the tracked instance of a failed call is confirmed', async () => {
    const api = await limitedApi();
    const raw = new ProcessBackend({ runtimePath, platformSocket: api.socketPath });
    const backend = api.track(raw);
    const code = `export const handler = async (e, ctx) => {
      if (e.fake) { const err = new Error('platform API unreachable: read ECONNRESET'); err.name = 'PlatformApiError'; err.code = 'PLATFORM_UNAVAILABLE'; err.status = 503; throw err; }
      return ctx.state.get('k');
    };`;
    const load = async (ns: string): Promise<Instance> => {
      const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
      await inst.init({ ...initReq(ns, 'f', api.issueToken({ namespace: ns, function: 'f' })), code });
      return inst;
    };
    const [victim, faker] = [await load('victim'), await load('faker')];
    try {
      const t0 = Date.now();
      kvDown = true;
      let res: RunResponse;
      try {
        res = await victim.run({ activationId: 'a1', payload: '{}', deadline: Date.now() + 10_000 }, 10_000);
      } finally {
        kvDown = false;
      }
      expect(res).toMatchObject({ ok: false, platformFault: { code: 'SERVICE_UNAVAILABLE' } });
      expect(victim.platformFaultSince?.(t0)).toMatchObject({ code: 'PLATFORM_API_UNAVAILABLE' });
      // A function that throws a look-alike error is not the platform's fault: no claim, and nothing to confirm.
      const t1 = Date.now();
      const fake = await faker.run({ activationId: 'a2', payload: '{"fake":true}', deadline: Date.now() + 10_000 }, 10_000);
      expect(fake.ok).toBe(false);
      expect('platformFault' in fake).toBe(false);
      expect(faker.platformFaultSince?.(t1)).toBeUndefined();
    } finally {
      await backend.close();
    }
  });
});
