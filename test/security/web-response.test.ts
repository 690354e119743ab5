import { describe, expect, it } from 'vitest';
import { startStandalone, useCluster } from '../helpers/cluster.js';
import { api } from '../e2e/scenarios.js';

/**
 * Security probe F11 (rows A23, A24): what a function's web response may not
 * do. A 1xx status is an interim answer — sent as the response it leaves the
 * client waiting for one that never comes — so only 200–599 are accepted;
 * `x-brisk-fault`, `x-brisk-activation-id` and `x-brisk-version` are the platform's to set.
 */
describe('web responses a function may not give (F11)', () => {
  const cluster = useCluster(() => startStandalone());
  const a = api(() => cluster.url);

  it.each([100, 101, 103, 199])('statusCode %i is a 502 INVALID_FUNCTION_RESPONSE, blamed on the function, not a hung client', async (status) => {
    const name = `status-${status}`;
    const code = `export const handler = async () => ({ statusCode: ${status}, headers: { upgrade: 'websocket' }, body: 'switching' });`;
    expect((await a.req('PUT', `/v1/functions/${name}`, { code, public: true })).status).toBe(201);
    // Before the fix the gateway sent `HTTP/1.1 ${status}` and no final response: this fetch never settled.
    const r = await fetch(`${cluster.url}/fn/${name}`, { signal: AbortSignal.timeout(10_000) });
    expect(r.status).toBe(502);
    expect(r.headers.get('x-brisk-fault')).toBe('function');
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INVALID_FUNCTION_RESPONSE');
  });

  it('drops x-brisk-fault, x-brisk-activation-id and x-brisk-version set by the function, in any case and in any header field', async () => {
    const code = `export const handler = async () => ({
      statusCode: 200,
      headers: { 'X-Brisk-Fault': 'platform', 'x-brisk-activation-id': 'forged', 'X-Brisk-Version': '999', 'x-own': 'kept' },
      multiValueHeaders: { 'x-brisk-fault': ['platform'] },
      body: 'ok',
    });`;
    expect((await a.req('PUT', '/v1/functions/forger', { code, public: true })).status).toBe(201);
    const r = await fetch(`${cluster.url}/fn/forger`, { signal: AbortSignal.timeout(10_000) });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok');
    expect(r.headers.get('x-own')).toBe('kept');
    expect(r.headers.get('x-brisk-fault')).toBeNull();
    expect(r.headers.get('x-brisk-activation-id')).toMatch(/^[a-f0-9]{32}$/);
    // The version that ran, as the platform knows it.
    expect(r.headers.get('x-brisk-version')).toBe('1');
  });

  it('still lets a function answer 200–599 of its own', async () => {
    const code = 'export const handler = async (e) => ({ statusCode: Number(e.queryStringParameters.s), body: String(e.queryStringParameters.s) });';
    expect((await a.req('PUT', '/v1/functions/any-status', { code, public: true })).status).toBe(201);
    for (const s of [200, 204, 302, 418, 599]) {
      const r = await fetch(`${cluster.url}/fn/any-status?s=${s}`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      expect(r.status).toBe(s);
    }
  });
});
