import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvocationResult } from '../../core/types.js';
import { createLogger } from '../../core/logger.js';
import { errorMiddleware } from '../../web/http.js';
import { sendWebResult, toHttpEvent } from '../../web/web-endpoint.js';

/** The web-endpoint event and response mapping, over real HTTP on loopback. */
let server: Server;
let base = '';
let nextResult: unknown;

beforeAll(async () => {
  const app = express();
  app.all('/event/*rest', express.raw({ type: () => true }), (req, res) => {
    res.json(toHttpEvent(req, { subPath: `/${(req.params['rest'] as unknown as string[]).join('/')}`, activationId: 'act-1', namespace: 'team', params: { id: '7' } }));
  });
  app.all('/result', (_req, res) => {
    const r: InvocationResult = { activationId: 'act-2', status: 'success', resultJson: JSON.stringify(nextResult), coldStart: false, durationMs: 1 };
    sendWebResult(res, r);
  });
  app.use(errorMiddleware(createLogger('silent')));
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the web event', () => {
  it('is a payload-2.0 event (what Lambda function URLs send) plus Brisk’s own fields', async () => {
    const r = await fetch(`${base}/event/users/7?tag=a&tag=b&q=x%20y`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: 'a=1; b=2', authorization: 'Bearer platform-key', 'user-agent': 'test-agent' },
      body: '{"x":1}',
    });
    const ev = (await r.json()) as Record<string, any>;
    expect(ev).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/users/7',
      rawQueryString: 'tag=a&tag=b&q=x%20y',
      cookies: ['a=1', 'b=2'],
      queryStringParameters: { tag: 'a,b', q: 'x y' },
      pathParameters: { id: '7' },
      requestContext: {
        accountId: 'team',
        http: { method: 'POST', path: '/users/7', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test-agent' },
        requestId: 'act-1',
        routeKey: '$default',
        stage: '$default',
        timeEpoch: expect.any(Number),
      },
      body: '{"x":1}',
      isBase64Encoded: false,
      // Brisk's own, as before.
      method: 'POST',
      path: '/users/7',
      query: { tag: ['a', 'b'], q: 'x y' },
      params: { id: '7' },
    });
    expect(ev.requestContext.time).toMatch(/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    expect(ev.headers.authorization).toBeUndefined();
    expect(ev.headers['content-type']).toBe('application/json');
  });

  it('leaves out cookies and queryStringParameters when there are none', async () => {
    const ev = (await (await fetch(`${base}/event/x`)).json()) as Record<string, unknown>;
    expect(ev['cookies']).toBeUndefined();
    expect(ev['queryStringParameters']).toBeUndefined();
    expect(ev['rawQueryString']).toBe('');
  });
});

describe('the web response', () => {
  const get = async (result: unknown): Promise<Response> => {
    nextResult = result;
    return fetch(`${base}/result`, { redirect: 'manual' });
  };

  it('sends cookies and multiValueHeaders as separate header lines', async () => {
    const r = await get({
      statusCode: 201,
      headers: { 'content-type': 'text/plain', 'x-one': 'a' },
      multiValueHeaders: { 'x-many': ['1', '2'], 'set-cookie': ['m=1'] },
      cookies: ['c=1; Path=/', 'd=2; HttpOnly'],
      body: 'made',
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-one')).toBe('a');
    expect(r.headers.get('x-many')).toBe('1, 2');
    expect(r.headers.getSetCookie()).toEqual(['m=1', 'c=1; Path=/', 'd=2; HttpOnly']);
    expect(r.headers.get('content-type')).toBe('text/plain'); // as given: no charset added on the way
    expect(await r.text()).toBe('made');
  });

  it('Lambda’s defaults: a bare string is the body, an object is JSON, both application/json', async () => {
    const s = await get('Hello (world)');
    expect([s.status, s.headers.get('content-type'), await s.text()]).toEqual([200, 'application/json', 'Hello (world)']);
    const o = await get({ message: 'hi' });
    expect([o.status, o.headers.get('content-type'), await o.text()]).toEqual([200, 'application/json', '{"message":"hi"}']);
    const noType = await get({ statusCode: 200, body: '{"a":1}' });
    expect(noType.headers.get('content-type')).toBe('application/json');
    const objectBody = await get({ statusCode: 202, body: { a: 1 } });
    expect([objectBody.status, await objectBody.text()]).toEqual([202, '{"a":1}']);
  });

  it('sends a base64 body as bytes, and no body (nor length) on a 204', async () => {
    const b = await get({ statusCode: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from([0, 255, 1]).toString('base64'), isBase64Encoded: true });
    expect([...new Uint8Array(await b.arrayBuffer())]).toEqual([0, 255, 1]);
    const empty = await get({ statusCode: 204 });
    expect(empty.status).toBe(204);
    expect(empty.headers.get('content-length')).toBeNull();
    expect(empty.headers.get('content-type')).toBeNull();
  });

  it('refuses header injection and malformed header fields (502, the function’s fault)', async () => {
    for (const bad of [
      { statusCode: 200, headers: { 'x-a': 'ok\r\nx-injected: 1' } },
      { statusCode: 200, cookies: 'a=1' },
      { statusCode: 200, multiValueHeaders: ['x'] },
      { statusCode: 200, cookies: ['a=1\nb'] },
    ]) {
      const r = await get(bad);
      expect(r.status).toBe(502);
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INVALID_FUNCTION_RESPONSE');
    }
  });
});
