/**
 * The behaviour every {@link MetadataStore} and {@link ObjectStore} must
 * show, written against the interfaces only. Each implementation's test file
 * calls e.g. `metadataStoreContract('FileStore', async () => new FileStore(dir, …))`.
 *
 * The factories must return a fresh, empty store each time (a new directory,
 * a new key prefix, a new bucket); the contract calls `waitUntilReady()` and
 * closes every store after each test.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Activation, FunctionVersion } from '../../core/types.js';
import type { MetadataStore, ObjectStore } from '../../storage/types.js';

export type MakeMetadataStore = () => MetadataStore | Promise<MetadataStore>;
export type MakeObjectStore = () => ObjectStore | Promise<ObjectStore>;

type Draft = Omit<FunctionVersion, 'version' | 'createdAt'>;

function draft(name: string, overrides: Partial<Draft> = {}): Draft {
  return {
    namespace: 'default',
    name,
    codeHash: 'a'.repeat(64),
    codeSize: 123,
    exportName: 'handler',
    handler: 'index.handler',
    memoryMb: 256,
    timeoutMs: 30_000,
    env: { A: '1', B: '2' },
    maxConcurrency: 0,
    retries: 0,
    allowEgress: true,
    ...overrides,
  };
}

let seq = 0;
function activation(overrides: Partial<Activation> = {}): Activation {
  seq++;
  return {
    activationId: `act-${randomBytes(6).toString('hex')}`,
    namespace: 'default',
    function: 'hello',
    version: 1,
    status: 'queued',
    mode: 'async',
    logs: [],
    coldStart: false,
    attempts: 0,
    // Distinct, increasing queue times: "most recent first" is unambiguous.
    queuedAt: new Date(Date.UTC(2030, 0, 1) + seq * 1000).toISOString(),
    ...overrides,
  };
}

export function metadataStoreContract(name: string, makeStore: MakeMetadataStore): void {
  describe(`MetadataStore contract: ${name}`, () => {
    const open: MetadataStore[] = [];
    async function fresh(): Promise<MetadataStore> {
      const s = await makeStore();
      open.push(s);
      await s.waitUntilReady();
      return s;
    }
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((s) => s.close()));
    });

    it('is ready, and close is idempotent', async () => {
      const s = await fresh();
      expect(s.status).toBe('ready');
      await s.close();
      await s.close();
      expect(s.status).toBe('closed');
    });

    it('numbers versions 1, 2, 3 and keeps every one', async () => {
      const s = await fresh();
      const v1 = await s.putFunctionVersion(draft('hello'));
      const v2 = await s.putFunctionVersion(draft('hello', { codeHash: 'b'.repeat(64) }));
      const v3 = await s.putFunctionVersion(draft('hello', { memoryMb: 512 }));
      expect([v1, v2, v3].map((r) => [r.version.version, r.created])).toEqual([
        [1, true],
        [2, true],
        [3, true],
      ]);
      expect(v1.version).toMatchObject({ ...draft('hello'), version: 1 });
      expect(Number.isNaN(Date.parse(v1.version.createdAt))).toBe(false);
      const rec = await s.getFunction('default', 'hello');
      expect(rec?.latest.version).toBe(3);
      expect(rec?.latest.memoryMb).toBe(512);
      expect(rec?.versions).toEqual([1, 2, 3]);
      expect(rec?.namespace).toBe('default');
      expect(rec?.name).toBe('hello');
      expect((await s.getFunctionVersion('default', 'hello', 2))?.codeHash).toBe('b'.repeat(64));
      expect(await s.getFunctionVersion('default', 'hello', 9)).toBeUndefined();
    });

    it('an identical redeploy is not a new version; any changed setting is', async () => {
      const s = await fresh();
      const first = await s.putFunctionVersion(draft('same'));
      const again = await s.putFunctionVersion(draft('same', { env: { B: '2', A: '1' } }));
      expect(again.created).toBe(false);
      expect(again.version).toEqual(first.version);
      const changes: Partial<Draft>[] = [
        { env: { A: '1', B: '3' } },
        { timeoutMs: 1000 },
        { retries: 2 },
        { maxConcurrency: 4 },
        { allowEgress: false },
        { handler: 'main.run', exportName: 'run' },
      ];
      let expected = 1;
      for (const change of changes) {
        const r = await s.putFunctionVersion(draft('same', change));
        expected++;
        expect(r.created).toBe(true);
        expect(r.version.version).toBe(expected);
      }
      // Going back to the first settings is a change relative to the latest.
      expect((await s.putFunctionVersion(draft('same'))).version.version).toBe(expected + 1);
    });

    it('lists functions of a namespace by name and deletes them', async () => {
      const s = await fresh();
      await s.putFunctionVersion(draft('beta'));
      await s.putFunctionVersion(draft('alpha'));
      await s.putFunctionVersion(draft('alpha', { retries: 1 }));
      await s.putFunctionVersion(draft('other', { namespace: 'team-b' }));
      const list = await s.listFunctions('default');
      expect(list.map((r) => [r.name, r.latest.version])).toEqual([
        ['alpha', 2],
        ['beta', 1],
      ]);
      expect((await s.listFunctions('team-b')).map((r) => r.name)).toEqual(['other']);
      expect(await s.listFunctions('nobody')).toEqual([]);

      expect(await s.deleteFunction('default', 'alpha')).toBe(true);
      expect(await s.deleteFunction('default', 'alpha')).toBe(false);
      expect(await s.getFunction('default', 'alpha')).toBeUndefined();
      expect(await s.getFunctionVersion('default', 'alpha', 1)).toBeUndefined();
      expect((await s.listFunctions('default')).map((r) => r.name)).toEqual(['beta']);
      // A new deploy after delete starts a fresh function.
      const again = await s.putFunctionVersion(draft('alpha'));
      expect(again.created).toBe(true);
      expect(again.version.version).toBe(1);
    });

    it('missing functions are undefined', async () => {
      const s = await fresh();
      expect(await s.getFunction('default', 'ghost')).toBeUndefined();
      expect(await s.deleteFunction('default', 'ghost')).toBe(false);
    });

    it('stores, overwrites and reads activations', async () => {
      const s = await fresh();
      const a = activation();
      await s.putActivation(a);
      expect(await s.getActivation('default', a.activationId)).toEqual(a);
      const running: Activation = { ...a, status: 'running', startedAt: new Date().toISOString(), executor: 'e1' };
      await s.putActivation(running);
      expect(await s.getActivation('default', a.activationId)).toEqual(running);
      expect(await s.getActivation('other-ns', a.activationId)).toBeUndefined();
      expect(await s.getActivation('default', 'nope')).toBeUndefined();
    });

    it('lists activations most recent first, per namespace and per function, up to the limit', async () => {
      const s = await fresh();
      const a1 = activation({ function: 'f' });
      const a2 = activation({ function: 'g' });
      const a3 = activation({ function: 'f' });
      const a4 = activation({ function: 'f', namespace: 'elsewhere' });
      for (const a of [a1, a2, a3, a4]) await s.putActivation(a);
      const ids = (list: Activation[]): string[] => list.map((a) => a.activationId);
      expect(ids(await s.listActivations('default', { limit: 10 }))).toEqual([a3, a2, a1].map((a) => a.activationId));
      expect(ids(await s.listActivations('default', { limit: 2 }))).toEqual([a3, a2].map((a) => a.activationId));
      expect(ids(await s.listActivations('default', { limit: 10, function: 'f' }))).toEqual([a3, a1].map((a) => a.activationId));
      expect(ids(await s.listActivations('elsewhere', { limit: 10 }))).toEqual([a4.activationId]);
      expect(await s.listActivations('default', { limit: 10, function: 'none' })).toEqual([]);
    });

    it('finishActivation writes the final record exactly once', async () => {
      const s = await fresh();
      const a = activation({ status: 'running' });
      await s.putActivation(a);
      const done: Activation = { ...a, status: 'success', result: { ok: 1 }, endedAt: new Date().toISOString(), durationMs: 5 };
      expect(await s.finishActivation(done)).toBe(true);
      expect(await s.finishActivation({ ...done, status: 'error', result: undefined })).toBe(false);
      // A late non-final write does not clobber the result either.
      await s.putActivation({ ...a, status: 'running' });
      expect(await s.getActivation('default', a.activationId)).toEqual(done);
    });

    it('finishActivation works without a prior put and is exactly once under concurrency', async () => {
      const s = await fresh();
      const a = activation({ status: 'timeout' });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => s.finishActivation({ ...a, durationMs: i })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await s.getActivation('default', a.activationId))?.durationMs).toBe(winner);
      expect((await s.listActivations('default', { limit: 5 })).map((x) => x.activationId)).toEqual([a.activationId]);
    });

    it('deletes every activation of a namespace, and only of that one', async () => {
      const s = await fresh();
      const gone = [activation({ namespace: 'tmp', function: 'f' }), activation({ namespace: 'tmp', function: 'g', status: 'success' })];
      const kept = [activation({ namespace: 'tmp2', function: 'f' }), activation({ namespace: 'default', function: 'f' })];
      for (const a of [...gone, ...kept]) await s.putActivation(a);
      expect(await s.deleteActivations('tmp')).toBe(2);
      for (const a of gone) expect(await s.getActivation('tmp', a.activationId)).toBeUndefined();
      expect(await s.listActivations('tmp', { limit: 10 })).toEqual([]);
      expect(await s.listActivations('tmp', { limit: 10, function: 'f' })).toEqual([]);
      for (const a of kept) expect(await s.getActivation(a.namespace, a.activationId)).toEqual(a);
      expect(await s.deleteActivations('tmp')).toBe(0);
      // The namespace can be used again from scratch.
      const fresh1 = activation({ namespace: 'tmp', function: 'f' });
      await s.putActivation(fresh1);
      expect((await s.listActivations('tmp', { limit: 10 })).map((a) => a.activationId)).toEqual([fresh1.activationId]);
    });
  });
}

export function objectStoreContract(name: string, makeStore: MakeObjectStore): void {
  describe(`ObjectStore contract: ${name}`, () => {
    const open: ObjectStore[] = [];
    async function fresh(): Promise<ObjectStore> {
      const s = await makeStore();
      open.push(s);
      await s.waitUntilReady();
      return s;
    }
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((s) => s.close()));
    });

    it('puts, gets, checks and deletes objects', async () => {
      const s = await fresh();
      expect(s.status).toBe('ready');
      await s.put('code/abc.mjs', Buffer.from('export const handler = () => 1;'));
      expect(await s.has('code/abc.mjs')).toBe(true);
      expect((await s.get('code/abc.mjs'))?.toString()).toBe('export const handler = () => 1;');
      await s.put('code/abc.mjs', Buffer.from('v2'));
      expect((await s.get('code/abc.mjs'))?.toString()).toBe('v2');
      await s.delete('code/abc.mjs');
      expect(await s.has('code/abc.mjs')).toBe(false);
      expect(await s.get('code/abc.mjs')).toBeUndefined();
      // Deleting a missing key is not an error.
      await s.delete('code/abc.mjs');
    });

    it('a missing key is undefined, not an error', async () => {
      const s = await fresh();
      expect(await s.get('nope/nothing')).toBeUndefined();
      expect(await s.has('nope/nothing')).toBe(false);
    });

    it('is binary safe, including empty and large objects', async () => {
      const s = await fresh();
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = randomBytes(3 * 1024 * 1024);
      await s.put('bin/all-bytes', bytes);
      await s.put('bin/empty', Buffer.alloc(0));
      await s.put('bin/big', big);
      expect((await s.get('bin/all-bytes'))?.equals(bytes)).toBe(true);
      expect((await s.get('bin/empty'))?.length).toBe(0);
      expect(await s.has('bin/empty')).toBe(true);
      expect((await s.get('bin/big'))?.equals(big)).toBe(true);
    });

    it('lists keys under a prefix, sorted', async () => {
      const s = await fresh();
      for (const k of ['code/b.mjs', 'code/a.mjs', 'code/c/d.mjs', 'other/x', 'codex']) await s.put(k, Buffer.from(k));
      expect(await s.list('code/')).toEqual(['code/a.mjs', 'code/b.mjs', 'code/c/d.mjs']);
      expect(await s.list('code')).toEqual(['code/a.mjs', 'code/b.mjs', 'code/c/d.mjs', 'codex']);
      expect(await s.list('none/')).toEqual([]);
      expect(await s.list('')).toEqual(['code/a.mjs', 'code/b.mjs', 'code/c/d.mjs', 'codex', 'other/x']);
    });

    it('deletes every object under a prefix, and nothing else', async () => {
      const s = await fresh();
      const gone = ['objects/ns/b1/a', 'objects/ns/b1/dir/x', 'objects/ns/b2/y'];
      const kept = ['objects/ns2/b1/a', 'objects/nsx', 'code/abc.mjs'];
      for (const k of [...gone, ...kept]) await s.put(k, Buffer.from(k));
      expect(await s.deleteByPrefix('objects/ns/')).toBe(3);
      expect(await s.list('objects/ns/')).toEqual([]);
      for (const k of gone) expect(await s.has(k)).toBe(false);
      for (const k of kept) expect((await s.get(k))?.toString()).toBe(k);
      expect(await s.deleteByPrefix('objects/ns/')).toBe(0);
      // Nothing of the old layout is in the way: `dir` may now be an object itself.
      await s.put('objects/ns/b1/dir', Buffer.from('a file now'));
      expect((await s.get('objects/ns/b1/dir'))?.toString()).toBe('a file now');
    });

    it('deletes more objects under a prefix than one batch holds', async () => {
      // Factories of batching stores hand in a batch size below this count (see s3-object-store.test.ts).
      const s = await fresh();
      const n = 250;
      for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => s.put(`objects/big/k${i + j}`, Buffer.from('x'))));
      expect(await s.deleteByPrefix('objects/big/')).toBe(n);
      expect(await s.list('objects/big/')).toEqual([]);
    });

    it('close is idempotent', async () => {
      const s = await fresh();
      await s.close();
      await s.close();
      expect(s.status).toBe('closed');
    });
  });
}
