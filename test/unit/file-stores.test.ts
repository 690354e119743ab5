import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { FileStore } from '../../storage/file-store.js';
import { metadataStoreContract, objectStoreContract } from '../contracts/store-contract.js';
import { keyValueStoreContract } from '../contracts/kv-contract.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import type { Activation } from '../../core/types.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-fs-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

metadataStoreContract('FileStore', () => new FileStore(tmpDir(), { activationTtlS: 3600 }));
objectStoreContract('FileObjectStore', () => new FileObjectStore(tmpDir()));

describe('FileStore persistence', () => {
  const draft = {
    namespace: 'default', name: 'f', codeHash: 'a'.repeat(64), codeSize: 1, exportName: 'handler', handler: 'index.handler',
    memoryMb: 128, timeoutMs: 1000, env: {}, maxConcurrency: 0, retries: 0, allowEgress: false,
  };
  const act = (id: string, status: Activation['status']): Activation => ({
    activationId: id, namespace: 'default', function: 'f', version: 1, status, mode: 'async', logs: [], coldStart: false,
    attempts: 1, queuedAt: new Date().toISOString(),
  });

  it('keeps functions, deletions and activations across a reopen, and a torn last line is ignored', async () => {
    const dir = tmpDir();
    const a = new FileStore(dir, { activationTtlS: 3600 });
    await a.waitUntilReady();
    await a.putFunctionVersion(draft);
    await a.putFunctionVersion({ ...draft, name: 'g' });
    await a.deleteFunction('default', 'g');
    await a.putActivation(act('x1', 'queued'));
    await a.finishActivation(act('x1', 'success'));
    await a.close();
    fs.appendFileSync(path.join(dir, 'activations.jsonl'), '{"activationId":"torn');
    const b = new FileStore(dir, { activationTtlS: 3600 });
    await b.waitUntilReady();
    expect((await b.getFunction('default', 'f'))?.latest.version).toBe(1);
    expect(await b.getFunction('default', 'g')).toBeUndefined();
    expect((await b.getActivation('default', 'x1'))?.status).toBe('success');
    expect(await b.finishActivation(act('x1', 'error'))).toBe(false);
    await b.close();
  });

  it('drops activations beyond the per-namespace cap at compaction', async () => {
    const dir = tmpDir();
    const a = new FileStore(dir, { activationTtlS: 3600, maxActivations: 5 });
    await a.waitUntilReady();
    for (let i = 0; i < 12; i++) await a.finishActivation(act(`a${i}`, 'success'));
    await a.close();
    const b = new FileStore(dir, { activationTtlS: 3600, maxActivations: 5 });
    await b.waitUntilReady();
    const list = await b.listActivations('default', { limit: 100 });
    expect(list.map((x) => x.activationId)).toEqual(['a11', 'a10', 'a9', 'a8', 'a7']);
    await b.close();
  });

  it('a namespace whose activations were deleted stays empty after a reopen, and later records survive', async () => {
    const dir = tmpDir();
    const a = new FileStore(dir, { activationTtlS: 3600 });
    await a.waitUntilReady();
    await a.finishActivation({ ...act('old1', 'success'), namespace: 'tmp' });
    await a.finishActivation(act('kept', 'success'));
    expect(await a.deleteActivations('tmp')).toBe(1);
    await a.finishActivation({ ...act('new1', 'success'), namespace: 'tmp' });
    await a.close();
    const b = new FileStore(dir, { activationTtlS: 3600 });
    await b.waitUntilReady();
    expect((await b.listActivations('tmp', { limit: 10 })).map((x) => x.activationId)).toEqual(['new1']);
    expect((await b.getActivation('default', 'kept'))?.status).toBe('success');
    await b.close();
  });
});

keyValueStoreContract('FileKeyValueStore', () => new FileKeyValueStore(tmpDir()));

describe('FileKeyValueStore persistence', () => {
  it('keeps keys and collections across a reopen, without expired keys', async () => {
    const dir = tmpDir();
    const a = new FileKeyValueStore(dir);
    await a.waitUntilReady();
    await a.set('k', 'v');
    await a.set('gone', 'v', { ttlMs: 1 });
    await a.incr('n', 3);
    await a.hset('c', 'f', 'x');
    await a.close();
    // Reopened a second later: the 1 ms key has expired.
    const b = new FileKeyValueStore(dir, () => Date.now() + 1000);
    await b.waitUntilReady();
    expect(await b.get('k')).toBe('v');
    expect(await b.get('gone')).toBeUndefined();
    expect(await b.get('n')).toBe('3');
    expect(await b.hgetall('c')).toEqual({ f: 'x' });
    await b.close();
  });

  it('keeps prefix and collection deletions across a reopen', async () => {
    const dir = tmpDir();
    const a = new FileKeyValueStore(dir);
    await a.waitUntilReady();
    await a.set('state:tmp:a', '1');
    await a.hset('secrets:tmp:f', 'd', 'sealed');
    await a.hset('deadletters:tmp', 'x', '{}');
    await a.set('state:other:a', 'kept');
    expect(await a.deleteByPrefix('state:tmp:')).toBe(1);
    expect(await a.deleteByPrefix('secrets:tmp:')).toBe(1);
    expect(await a.deleteCollection('deadletters:tmp')).toBe(true);
    await a.set('state:tmp:b', 'written after');
    await a.close();
    const b = new FileKeyValueStore(dir);
    await b.waitUntilReady();
    expect(await b.get('state:tmp:a')).toBeUndefined();
    expect(await b.get('state:tmp:b')).toBe('written after');
    expect(await b.hgetall('secrets:tmp:f')).toEqual({});
    expect(await b.hgetall('deadletters:tmp')).toEqual({});
    expect(await b.get('state:other:a')).toBe('kept');
    await b.close();
  });
});
