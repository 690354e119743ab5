import { describe, expect, it } from 'vitest';
import { useCluster, type Cluster } from '../helpers/cluster.js';
import { uniqueId } from '../helpers/services.js';
import { waitForValue } from '../helpers/wait.js';
import { api, waitForActivation, type Api } from './scenarios.js';

/**
 * Aliases end to end over HTTP on a real cluster: the same scenarios in
 * standalone and distributed mode (issue 17). Each version of a function
 * answers its own tag, so what ran is visible in the answer as well as in
 * `x-brisk-version` and the activation record.
 */

/** A function whose version `n` answers `{ v: n }` (the code differs, so each deploy is a new version). */
const tagged = (n: number): string => `export const handler = async () => ({ v: ${n} });`;

async function deployVersions(a: Api, name: string, count: number, settings: Record<string, unknown> = {}): Promise<void> {
  for (let n = 1; n <= count; n++) {
    const d = await a.req('PUT', `/v1/functions/${name}`, { code: tagged(n), ...settings });
    expect(d.status, d.text).toBe(201);
    expect(d.json.version).toBe(n);
  }
}

async function publish(a: Api, topic: string): Promise<string> {
  const pub = await a.req('POST', `/v1/events/${topic}`, '{}', {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': `evt-${uniqueId()}`,
    'ce-source': '/e2e/releases',
    'ce-type': 'release.test',
  });
  expect(pub.status, pub.text).toBe(202);
  return (pub.json.events[0].deliveries as { activationId: string }[])[0]?.activationId as string;
}

export function releaseScenarios(label: string, start: () => Promise<Cluster>): void {
  describe(`aliases and traffic splitting (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);

    it('creates, lists, moves, rolls back, promotes and deletes aliases, refusing bad input with its code', async () => {
      await deployVersions(a, 'rel-crud', 3);
      const put = await a.req('PUT', '/v1/functions/rel-crud/aliases/prod', { version: 1, description: 'live' });
      expect(put.status, put.text).toBe(201);
      expect(put.json).toMatchObject({ name: 'prod', function: 'rel-crud', version: 1, routing: { '1': 1 }, description: 'live', history: [] });
      const weighted = await a.req('PUT', '/v1/functions/rel-crud/aliases/prod', { version: 1, weights: { '2': 0.1 } });
      expect(weighted.status).toBe(200);
      expect(weighted.json.routing).toEqual({ '1': 0.9, '2': 0.1 });
      expect((await a.req('PUT', '/v1/functions/rel-crud/aliases/canary', { version: 3 })).status).toBe(201);
      const list = await a.req('GET', '/v1/functions/rel-crud/aliases');
      expect(list.json.aliases.map((x: { name: string; version: number }) => `${x.name}=${x.version}`)).toEqual(['canary=3', 'prod=1']);

      const bad = async (method: string, path: string, body: unknown): Promise<[number, string]> => {
        const r = await a.req(method, path, body);
        return [r.status, r.json?.error?.code];
      };
      expect(await bad('PUT', '/v1/functions/rel-crud/aliases/prod', { version: 9 })).toEqual([404, 'VERSION_NOT_FOUND']);
      expect(await bad('PUT', '/v1/functions/rel-crud/aliases/prod', { version: 1, weights: { '2': 1.5 } })).toEqual([400, 'INVALID_WEIGHTS']);
      expect(await bad('PUT', '/v1/functions/rel-crud/aliases/prod', { version: 1, weights: { '2': 0.5, '3': 0.5 } })).toEqual([400, 'INVALID_WEIGHTS']);
      expect(await bad('PUT', '/v1/functions/rel-crud/aliases/prod', { version: '1' })).toEqual([400, 'INVALID_BODY']);
      expect(await bad('PUT', '/v1/functions/rel-crud/aliases/prod', { version: 1, extra: true })).toEqual([400, 'INVALID_BODY']);
      expect(await bad('PUT', '/v1/functions/rel-crud/aliases/42', { version: 1 })).toEqual([400, 'INVALID_ALIAS']);
      expect(await bad('PUT', '/v1/functions/nope/aliases/prod', { version: 1 })).toEqual([404, 'FUNCTION_NOT_FOUND']);
      expect(await bad('GET', '/v1/functions/rel-crud/aliases/staging', undefined)).toEqual([404, 'ALIAS_NOT_FOUND']);
      expect(await bad('POST', '/v1/functions/rel-crud/invoke?alias=prod&version=1', undefined)).toEqual([400, 'INVALID_ALIAS']);
      expect(await bad('POST', '/v1/functions/rel-crud/invoke?alias=staging', undefined)).toEqual([404, 'ALIAS_NOT_FOUND']);

      // Rollback: back to v1 without weights, then nothing earlier.
      const back = await a.req('POST', '/v1/functions/rel-crud/aliases/prod/rollback');
      expect(back.status, back.text).toBe(200);
      expect(back.json).toMatchObject({ version: 1, routing: { '1': 1 }, history: [] });
      expect(await bad('POST', '/v1/functions/rel-crud/aliases/prod/rollback', undefined)).toEqual([409, 'NO_ROLLBACK_TARGET']);
      // Promote canary to prod; the move is history, so it can be rolled back.
      const promoted = await a.req('POST', '/v1/functions/rel-crud/aliases/canary/promote', { to: 'prod' });
      expect([promoted.status, promoted.json.version]).toEqual([200, 3]);
      expect((await a.req('POST', '/v1/functions/rel-crud/aliases/prod/rollback')).json.version).toBe(1);

      expect((await a.req('DELETE', '/v1/functions/rel-crud/aliases/canary')).status).toBe(204);
      expect(await bad('DELETE', '/v1/functions/rel-crud/aliases/canary', undefined)).toEqual([404, 'ALIAS_NOT_FOUND']);
      // Deleting the function deletes its aliases: a redeploy numbered from 1 again starts with none.
      expect((await a.req('DELETE', '/v1/functions/rel-crud')).status).toBe(204);
      await deployVersions(a, 'rel-crud', 1);
      expect((await a.req('GET', '/v1/functions/rel-crud/aliases')).json.aliases).toEqual([]);
    });

    it('invokes an alias every way a function is called, and the record says alias and version', async () => {
      await deployVersions(a, 'rel-call', 2, { public: true });
      expect((await a.req('PUT', '/v1/functions/rel-call/aliases/prod', { version: 1 })).status).toBe(201);
      const viaQuery = await a.req('POST', '/v1/functions/rel-call/invoke?alias=prod', {});
      expect([viaQuery.status, viaQuery.json, viaQuery.headers.get('x-brisk-version')]).toEqual([200, { v: 1 }, '1']);
      const viaName = await a.req('POST', '/v1/functions/rel-call:prod/invoke', {});
      expect(viaName.json).toEqual({ v: 1 });
      const latest = await a.req('POST', '/v1/functions/rel-call/invoke', {});
      expect([latest.json, latest.headers.get('x-brisk-version')]).toEqual([{ v: 2 }, '2']);
      const web = await fetch(`${cluster.url}/fn/rel-call@prod/any/path`);
      expect([web.status, await web.json()]).toEqual([200, { v: 1 }]);
      const record = await waitForActivation(a, viaQuery.headers.get('x-brisk-activation-id') as string);
      expect(record).toMatchObject({ function: 'rel-call', alias: 'prod', version: 1, status: 'success' });
      const plain = await waitForActivation(a, latest.headers.get('x-brisk-activation-id') as string);
      expect(plain.alias).toBeUndefined();
      // An http trigger naming the alias answers from the alias's version.
      const route = `/rel-${uniqueId()}`;
      expect((await a.req('PUT', '/v1/triggers/rel-call-http', { type: 'http', function: 'rel-call:prod', method: 'GET', path: route, public: true })).status).toBe(201);
      const viaTrigger = await fetch(`${cluster.url}/http${route}`);
      expect([viaTrigger.status, await viaTrigger.json(), viaTrigger.headers.get('x-brisk-activation-id') !== null]).toEqual([200, { v: 1 }, true]);
      // `public` belongs to the version: an alias routed to a private version needs a key, like the version itself.
      await a.req('PUT', '/v1/functions/rel-call', { code: tagged(3) });
      expect((await a.req('PUT', '/v1/functions/rel-call/aliases/private', { version: 3 })).status).toBe(201);
      expect((await fetch(`${cluster.url}/fn/rel-call@private`)).status).toBe(401);
      expect((await fetch(`${cluster.url}/fn/rel-call@nope`)).status).toBe(401);
      expect((await a.req('GET', '/fn/rel-call@private')).json).toEqual({ v: 3 });
      expect((await a.req('GET', '/fn/rel-call@nope')).json.error.code).toBe('ALIAS_NOT_FOUND');
      const queued = await a.req('POST', '/v1/functions/rel-call/invoke?alias=prod&async=true', {});
      expect(queued.status).toBe(202);
      expect(await waitForActivation(a, queued.json.activationId)).toMatchObject({ alias: 'prod', version: 1, result: { v: 1 } });
    });

    it('splits traffic per invocation by the alias weights', async () => {
      await deployVersions(a, 'rel-split', 2);
      expect((await a.req('PUT', '/v1/functions/rel-split/aliases/prod', { version: 1, weights: { '2': 0.5 } })).status).toBe(201);
      const N = 200;
      const seen = { 1: 0, 2: 0 } as Record<number, number>;
      for (let i = 0; i < N; i++) {
        const r = await a.req('POST', '/v1/functions/rel-split/invoke?alias=prod', {});
        expect(r.status, r.text).toBe(200);
        // The answer and the header agree on what ran.
        expect(Number(r.headers.get('x-brisk-version'))).toBe(r.json.v);
        seen[r.json.v as number] = (seen[r.json.v as number] ?? 0) + 1;
      }
      // 200 calls at 50/50: 0.35–0.65 is over four standard deviations each way (the 10,000-call ±2 % check is in releases-contract.ts).
      expect((seen[1] ?? 0) + (seen[2] ?? 0)).toBe(N);
      expect((seen[2] ?? 0) / N).toBeGreaterThan(0.35);
      expect((seen[2] ?? 0) / N).toBeLessThan(0.65);
    });

    it('a trigger naming an alias follows it when it moves', async () => {
      await deployVersions(a, 'rel-trig', 2);
      expect((await a.req('PUT', '/v1/functions/rel-trig/aliases/live', { version: 1 })).status).toBe(201);
      const topic = `rel-${uniqueId()}`;
      const bad = await a.req('PUT', '/v1/triggers/rel-trig-missing', { type: 'topic', function: 'rel-trig:nope', topic });
      expect([bad.status, bad.json.error.code]).toEqual([404, 'ALIAS_NOT_FOUND']);
      const t = await a.req('PUT', '/v1/triggers/rel-trig-sub', { type: 'topic', function: 'rel-trig:live', topic });
      expect(t.status, t.text).toBe(201);
      const first = await waitForActivation(a, await publish(a, topic));
      expect(first).toMatchObject({ alias: 'live', version: 1, result: { v: 1 }, trigger: 'topic:rel-trig-sub' });
      expect((await a.req('PUT', '/v1/functions/rel-trig/aliases/live', { version: 2 })).status).toBe(200);
      // Processes that were not told re-read an alias within a second: publish until the move shows.
      const moved = await waitForValue(async () => {
        const act = await waitForActivation(a, await publish(a, topic));
        return act.version === 2 ? act : undefined;
      }, 15_000, 'a trigger fire on version 2', 200);
      expect(moved).toMatchObject({ alias: 'live', result: { v: 2 } });
    });

    it('an on-failure target named name:alias receives the dead letter on the alias\'s version', async () => {
      await deployVersions(a, 'rel-sink', 2);
      expect((await a.req('PUT', '/v1/functions/rel-sink/aliases/stable', { version: 1 })).status).toBe(201);
      const boom = await a.req('PUT', '/v1/functions/rel-boom', { code: 'export const handler = async () => { throw new Error("boom"); };', retries: 0, onFailure: 'rel-sink:stable' });
      expect(boom.status, boom.text).toBe(201);
      expect(boom.json.onFailure).toBe('rel-sink:stable');
      const badTarget = await a.req('PUT', '/v1/functions/rel-boom', { code: 'export const handler = async () => 1;', onFailure: 'rel-sink:1' });
      expect([badTarget.status, badTarget.json.error.code]).toEqual([400, 'INVALID_SETTINGS']);
      const q = await a.req('POST', '/v1/functions/rel-boom/invoke?async=true', {});
      expect(q.status).toBe(202);
      const notified = await waitForValue(async () => {
        const list = await a.req('GET', '/v1/activations?function=rel-sink&limit=10');
        return (list.json.activations as Array<Record<string, unknown>>).find((x) => x['trigger'] === 'on-failure:rel-boom' && x['status'] === 'success');
      }, 30_000, 'the on-failure activation', 100);
      expect(notified).toMatchObject({ alias: 'stable', version: 1, result: { v: 1 } });
    });
  });
}
