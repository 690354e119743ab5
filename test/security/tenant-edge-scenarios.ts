import net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_KEY, useCluster, type Cluster } from '../helpers/cluster.js';
import { quietWindow, waitForValue } from '../helpers/wait.js';
import { api, waitForActivation, type Api } from '../e2e/scenarios.js';
import { tgzOfTree } from '../fixtures/archives.js';

/**
 * The security probe's gateway and tenancy findings, end to end through the
 * real binary (F5, F6, F8, F9, F10, F12 and the early 413). Run by
 * `tenant-edge.test.ts` (standalone) and `tenant-edge-distributed.test.ts`
 * (2 gateways, scheduler, executor on RabbitMQ, Redis and S3), so both modes
 * must behave the same.
 */

export interface TenantEdgeHooks {
  /** Cut the object store off and bring it back (distributed only: standalone keeps objects in files). */
  objectStoreOutage?: { stop(): Promise<void>; start(): Promise<void> };
}

/** `n` nested arrays: `[[[…]]]` is n deep. */
const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);

const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> => waitForValue(probe, timeoutMs, what, 100);
/**
 * How long the purge case watches for the old namespace's schedule and queue
 * consumer: at one tick a second, a schedule still running would fire about
 * three times in 3 s, and a consumer still attached would take the message.
 */
const OLD_TRIGGERS_WINDOW_MS = 3000;

/**
 * A raw request declaring `Content-Length: 10 GB` that sends 3 bytes of it:
 * the status line, how long until the server closed the connection, and
 * whether it said `Connection: close`.
 */
async function lyingLength(url: string, method: string, path: string, key?: string): Promise<{ status: string; closedAfterMs: number; closeHeader: boolean }> {
  const { hostname, port } = new URL(url);
  const t0 = Date.now();
  return await new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () => {
      const auth = key !== undefined ? `Authorization: Bearer ${key}\r\n` : '';
      s.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostname}\r\n${auth}Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{"a`);
    });
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${method} ${path}: no answer and no close within 5 s (got ${JSON.stringify(data.split('\r\n')[0] ?? '')})`));
    }, 5000);
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ status: data.split('\r\n')[0] ?? '', closedAfterMs: Date.now() - t0, closeHeader: /\r\nconnection: close\r\n/i.test(data) });
    });
  });
}

export function tenantEdgeScenarios(label: string, start: () => Promise<Cluster>, hooks: TenantEdgeHooks = {}): void {
  describe(`security probe: gateway and tenancy edge (${label})`, () => {
    const cluster = useCluster(start);
    const admin = api(() => cluster.url);
    let a: Api;
    let aRo: Api;
    let b: Api;
    let keyA = '';
    let keyB = '';

    beforeAll(async () => {
      for (const ns of ['edge-a', 'edge-b']) expect((await admin.req('PUT', `/v1/namespaces/${ns}`, {})).status).toBe(201);
      keyA = (await admin.req('POST', '/v1/namespaces/edge-a/keys', {})).json.key;
      const keyAro = (await admin.req('POST', '/v1/namespaces/edge-a/keys', { readOnly: true })).json.key;
      keyB = (await admin.req('POST', '/v1/namespaces/edge-b/keys', {})).json.key;
      a = api(() => cluster.url, keyA);
      aRo = api(() => cluster.url, keyAro);
      b = api(() => cluster.urls[cluster.urls.length - 1] as string, keyB);
      const web = 'export const handler = async (ev) => ({ statusCode: 200, body: "ok " + ev.path })';
      expect((await b.req('PUT', '/v1/functions/secretfn', { code: web })).status).toBe(201);
      expect((await b.req('PUT', '/v1/functions/pubfn', { code: web, public: true })).status).toBe(201);
      expect((await b.req('PUT', '/v1/triggers/private-route', { type: 'http', function: 'secretfn', method: 'GET', path: '/private/:id' })).status).toBe(201);
      expect((await b.req('PUT', '/v1/triggers/open-route', { type: 'http', function: 'pubfn', method: 'GET', path: '/open/:id', public: true })).status).toBe(201);
      expect((await a.req('PUT', '/v1/functions/sink', { code: 'export const handler = async () => ({ ok: true })' })).status).toBe(201);
    });

    it('F5: a read-only key of another namespace sees executors but not edge-b\'s warm functions; the admin key sees them', async () => {
      expect((await b.req('POST', '/v1/functions/secretfn/invoke', {})).status).toBe(200);
      const warmSecret = (r: { json: { executors: { warm: { namespace: string; function: string }[] }[] } }): boolean =>
        r.json.executors.some((e) => e.warm.some((w) => w.namespace === 'edge-b' && w.function === 'secretfn'));
      // The admin key sees everything, once a heartbeat reported the warm instance.
      await until('the admin sees the warm secretfn', async () => (warmSecret(await admin.req('GET', '/v1/executors')) ? true : undefined));
      const ro = await aRo.req('GET', '/v1/executors');
      expect(ro.status).toBe(200);
      expect(ro.json.executors.length).toBeGreaterThan(0);
      expect(ro.json.executors[0]).toMatchObject({ memoryMb: expect.any(Number), freeMb: expect.any(Number), pool: expect.any(Object), state: expect.any(String) });
      expect(ro.text).not.toContain('secretfn');
      expect(ro.text).not.toContain('edge-b');
      // Its own namespace's warm instances stay visible to a namespace key (the console shows them).
      expect(warmSecret(await b.req('GET', '/v1/executors'))).toBe(true);
    });

    it('F10: without a key of the namespace, a missing and a private function or route get the same 401', async () => {
      const get = async (path: string, key?: string, method = 'GET') => {
        const r = await fetch(cluster.url + path, { method, headers: key !== undefined ? { authorization: `Bearer ${key}` } : {} });
        return { status: r.status, body: await r.text(), allow: r.headers.get('allow') };
      };
      for (const key of [undefined, keyA]) {
        const missing = await get('/ns/edge-b/fn/doesnotexist', key);
        const privateFn = await get('/ns/edge-b/fn/secretfn', key);
        expect(missing.status).toBe(401);
        expect(privateFn).toEqual(missing);
        const noRoute = await get('/ns/edge-b/http/nothere', key);
        const privateRoute = await get('/ns/edge-b/http/private/1', key);
        const privateRouteOtherMethod = await get('/ns/edge-b/http/private/1', key, 'POST');
        expect(noRoute.status).toBe(401);
        expect(privateRoute).toEqual(noRoute);
        expect(privateRouteOtherMethod).toEqual(noRoute);
        expect(noRoute.body).toEqual(missing.body);
      }
      // Public things stay public; the namespace's own key still tells missing from present.
      expect((await get('/ns/edge-b/fn/pubfn')).status).toBe(200);
      expect((await get('/ns/edge-b/http/open/1')).status).toBe(200);
      expect((await get('/ns/edge-b/fn/doesnotexist', keyB)).status).toBe(404);
      expect((await get('/ns/edge-b/fn/secretfn', keyB)).status).toBe(200);
      expect((await get('/ns/edge-b/http/nothere', keyB)).status).toBe(404);
    });

    it('F9: a .tar.gz deploys with Content-Type application/gzip and application/x-gzip', async () => {
      const tgz = tgzOfTree({ 'index.js': 'exports.handler = async () => ({ fmt: "tgz" });' });
      for (const [i, type] of ['application/gzip', 'application/x-gzip'].entries()) {
        const d = await a.req('PUT', `/v1/functions/tgz${i}`, tgz, { 'content-type': type });
        expect(d.status, `${type}: ${d.text}`).toBe(201);
        expect((await a.req('POST', `/v1/functions/tgz${i}/invoke`, {})).json).toEqual({ fmt: 'tgz' });
      }
    });

    it('F8: events, CloudEvents, batches and trigger data deeper than 64 are 400 JSON_TOO_DEEP at 65, 1000 and 100k; never 500', async () => {
      expect((await a.req('PUT', '/v1/triggers/deep-sub', { type: 'topic', function: 'sink', topic: 'deep' })).status).toBe(201);
      const envelope = (data: string): string => `{"specversion":"1.0","id":"e1","source":"/t","type":"t","datacontenttype":"application/json","data":${data}}`;
      const shapes: [string, (d: number) => Promise<{ status: number; json: any; text: string }>][] = [
        ['plain event', (d) => a.req('POST', '/v1/events/deep', deep(d), { 'content-type': 'application/json' })],
        ['CloudEvent', (d) => a.req('POST', '/v1/events/deep', envelope(deep(d - 1)), { 'content-type': 'application/cloudevents+json' })],
        ['CloudEvent batch', (d) => a.req('POST', '/v1/events/deep', `[${envelope(deep(d - 2))}]`, { 'content-type': 'application/cloudevents-batch+json' })],
        ['trigger data', (d) => a.req('PUT', '/v1/triggers/deep-tick', `{"type":"schedule","function":"sink","cron":"0 0 1 1 *","data":${deep(d - 1)}}`, { 'content-type': 'application/json' })],
      ];
      for (const [what, send] of shapes) {
        const ok = await send(64);
        expect(ok.status, `${what} at 64: ${ok.text.slice(0, 200)}`).toBeLessThan(300);
        for (const depth of [65, 1000, 100_000]) {
          const r = await send(depth);
          expect([r.status, r.json?.error?.code], `${what} at ${depth}`).toEqual([400, 'JSON_TOO_DEEP']);
        }
      }
      for (const url of cluster.urls) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    });

    it('early 413: a declared 10 GB body is refused at once and the connection closed, on every route with a body limit', async () => {
      const routes: [string, string, string | undefined][] = [
        ['POST', '/v1/functions/sink/invoke', keyA],
        ['PUT', '/v1/functions/big', keyA],
        ['PUT', '/v1/objects/bkt/big.bin', keyA],
        ['POST', '/v1/events/deep', keyA],
        ['POST', '/v1/queues/jobs/messages', keyA],
        ['PUT', '/v1/triggers/big', keyA],
        ['PUT', '/v1/namespaces/big', TEST_ADMIN_KEY],
        ['POST', '/ns/edge-a/fn/sink', keyA],
        ['POST', '/fn/sink/with/path', keyA],
        ['GET', '/ns/edge-b/http/open/1', undefined],
      ];
      for (const [method, path, key] of routes) {
        const r = await lyingLength(cluster.url, method, path, key);
        expect(r.status, `${method} ${path}`).toBe('HTTP/1.1 413 Payload Too Large');
        expect(r.closeHeader, `${method} ${path}`).toBe(true);
        expect(r.closedAfterMs, `${method} ${path}`).toBeLessThan(2000);
      }
      // A request without a key is answered (401) without draining the body either.
      const anon = await lyingLength(cluster.url, 'POST', '/v1/functions/sink/invoke');
      expect([anon.status, anon.closeHeader]).toEqual(['HTTP/1.1 401 Unauthorized', true]);
    });

    it('F6: a namespace deleted and created again sees nothing of the old tenant', async () => {
      expect((await admin.req('PUT', '/v1/namespaces/edge-tmp', {})).status).toBe(201);
      const oldKey = (await admin.req('POST', '/v1/namespaces/edge-tmp/keys', {})).json.key;
      const old = api(() => cluster.url, oldKey);
      const keeper = `export const handler = async (e, ctx) => {
        if (e.fail) throw new Error('boom');
        await ctx.state.set('old', { v: 'OLD-TENANT-STATE' });
        return { ok: true };
      };`;
      expect((await old.req('PUT', '/v1/functions/keeper', { code: keeper, retries: 0 })).status).toBe(201);
      const sync = await old.req('POST', '/v1/functions/keeper/invoke', {});
      expect(sync.json).toEqual({ ok: true });
      const oldActivation = sync.headers.get('x-brisk-activation-id') as string;
      await waitForActivation(old, oldActivation);
      const failed = (await old.req('POST', '/v1/functions/keeper/invoke?async=true', { fail: true })).json.activationId;
      await waitForActivation(old, failed);
      await until('the dead letter', async () => ((await old.req('GET', '/v1/dead-letters')).json.deadLetters.length === 1 ? true : undefined));
      expect((await old.req('PUT', '/v1/objects/keep/old.txt', 'OLD-TENANT-OBJECT', { 'content-type': 'text/plain' })).status).toBe(200);
      // Triggers the schedulers run: a schedule every second and a queue consumer, on `ticker`.
      expect((await old.req('PUT', '/v1/functions/ticker', { code: 'export const handler = async () => 1' })).status).toBe(201);
      expect((await old.req('PUT', '/v1/triggers/oldtick', { type: 'schedule', function: 'ticker', cron: '* * * * * *' })).status).toBe(201);
      expect((await old.req('PUT', '/v1/triggers/oldq', { type: 'queue', function: 'ticker', queue: 'edge-jobs' })).status).toBe(201);
      expect((await old.req('PUT', '/v1/triggers/oldtopic', { type: 'topic', function: 'keeper', topic: 'news' })).status).toBe(201);
      // The schedule is live in a scheduler: it fired.
      await until('a tick of the old schedule', async () =>
        (await old.req('GET', '/v1/activations?function=ticker')).json.activations.some((x: { trigger?: string }) => x.trigger === 'schedule:oldtick') ? true : undefined,
      );
      // Take its function away and let the ticks in flight end, so no run of the old tenant is
      // still going when the namespace is deleted (such a run may still write its record afterwards).
      expect((await old.req('DELETE', '/v1/functions/ticker')).status).toBe(204);
      await until('no tick in flight', async () => {
        const list = (await old.req('GET', '/v1/activations?function=ticker&limit=1000')).json.activations as { status: string }[];
        return list.every((x) => !['queued', 'running'].includes(x.status)) ? true : undefined;
      });

      // A queue holding messages nobody consumes (RabbitMQ in distributed mode, the memory bus in standalone).
      for (const job of [1, 2]) expect((await old.req('POST', '/v1/queues/edge-held/messages', { job })).status).toBe(202);
      expect((await old.req('GET', '/v1/queues/edge-held')).json.messages).toBe(2);

      expect((await admin.req('DELETE', '/v1/namespaces/edge-tmp')).status).toBe(204);
      expect((await old.req('GET', '/v1/functions')).status).toBe(401);
      expect((await admin.req('PUT', '/v1/namespaces/edge-tmp', {})).status).toBe(201);
      const fresh = api(() => cluster.urls[cluster.urls.length - 1] as string, (await admin.req('POST', '/v1/namespaces/edge-tmp/keys', {})).json.key);

      expect((await fresh.req('GET', '/v1/objects/keep/old.txt')).status).toBe(404);
      expect((await fresh.req('GET', '/v1/objects/keep')).json.keys).toEqual([]);
      expect((await fresh.req('GET', '/v1/triggers')).json.triggers).toEqual([]);
      expect((await fresh.req('GET', '/v1/activations?limit=1000')).json.activations).toEqual([]);
      expect((await fresh.req('GET', `/v1/activations/${oldActivation}`)).status).toBe(404);
      expect((await fresh.req('GET', '/v1/dead-letters')).json.deadLetters).toEqual([]);
      expect((await fresh.req('GET', '/v1/functions')).json.functions).toEqual([]);
      // The old tenant's queued messages went with it.
      expect((await fresh.req('GET', '/v1/queues/edge-held')).json).toMatchObject({ messages: 0, deadLetters: 0 });
      // State the old tenant's function wrote through context.state.
      const reader = 'export const handler = async (_e, ctx) => ({ old: (await ctx.state.get("old")) ?? null })';
      expect((await fresh.req('PUT', '/v1/functions/keeper', { code: reader })).status).toBe(201);
      expect((await fresh.req('POST', '/v1/functions/keeper/invoke', {})).json).toEqual({ old: null });
      // The old topic subscription is gone: an event reaches nobody.
      const published = await fresh.req('POST', '/v1/events/news', { hello: 1 });
      expect(published.json.events[0].deliveries).toEqual([]);
      // The schedulers dropped the old schedule and stopped the old queue consumer: a new `ticker`
      // and a message on the queue start nothing of theirs.
      expect((await fresh.req('PUT', '/v1/functions/ticker', { code: 'export const handler = async () => 1' })).status).toBe(201);
      expect((await fresh.req('POST', '/v1/queues/edge-jobs/messages', { job: 1 })).status).toBe(202);
      await quietWindow(OLD_TRIGGERS_WINDOW_MS);
      const list = (await fresh.req('GET', '/v1/activations?function=ticker')).json.activations as { trigger?: string }[];
      expect(list.map((x) => x.trigger)).toEqual([]);
      expect((await fresh.req('GET', '/v1/queues/edge-jobs')).json.messages).toBe(1);
    });

    if (hooks.objectStoreOutage) {
      const outage = hooks.objectStoreOutage;
      it('F12: /healthz answers 503 naming the object store while S3 is down, and 200 again after', async () => {
        for (const url of cluster.urls) expect((await fetch(`${url}/healthz`)).status).toBe(200);
        await outage.stop();
        try {
          const put = await a.req('PUT', '/v1/objects/bkt/during-outage.txt', 'x');
          expect([put.status, put.json?.error?.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
          for (const url of cluster.urls) {
            // The failed put marked this gateway's store at once; another notices within its probe interval.
            const health = await until(`503 from ${url}/healthz`, async () => {
              const r = await fetch(`${url}/healthz`);
              return r.status === 503 ? ((await r.json()) as { status: string; checks: Record<string, string> }) : undefined;
            });
            expect(health).toEqual({ status: 'degraded', checks: { bus: 'ready', store: 'ready', objects: 'unavailable', kv: 'ready' } });
          }
        } finally {
          await outage.start();
        }
        for (const url of cluster.urls) await until(`200 from ${url}/healthz again`, async () => ((await fetch(`${url}/healthz`)).status === 200 ? true : undefined));
        expect((await a.req('PUT', '/v1/objects/bkt/after-outage.txt', 'x')).status).toBe(200);
      });
    }
  });
}
