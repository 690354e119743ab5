import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { BriskError, PayloadTooLargeError, ValidationError } from '../../core/errors.js';
import type { ObjectEvent } from '../../core/types.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { assertBucket, assertKey, ObjectService, storeKey } from '../../storage/object-service.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-objsvc-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof BriskError ? err.code : `not a BriskError: ${String(err)}`;
  }
  return undefined;
}

describe('object name validation', () => {
  it('accepts S3-like bucket names and refuses the rest with INVALID_BUCKET', () => {
    for (const ok of ['ab', 'inputs', 'my-bucket.v2', '0data', 'a'.repeat(63)]) expect(codeOf(() => assertBucket(ok)), ok).toBeUndefined();
    for (const bad of ['', 'a', 'A-upper', '-dash', '.dot', 'has space', 'under_score', 'a'.repeat(64), 'ns/b', '..']) {
      expect(codeOf(() => assertBucket(bad)), bad).toBe('INVALID_BUCKET');
    }
  });

  it('accepts nested keys and refuses traversal, empty segments, control characters and oversize keys with INVALID_KEY', () => {
    for (const ok of ['a', 'in/put.json', 'deep/er/key with spaces', 'ünïcödé/ok', 'x'.repeat(1024), 'a..b/c']) {
      expect(codeOf(() => assertKey(ok)), ok).toBeUndefined();
    }
    const bad = ['', '/abs', '../up', 'a/../b', 'a/./b', 'a//b', 'trailing/', '.', '..', 'tab\there', 'nul\u0000', 'del\u007f', 'x'.repeat(1025), 'é'.repeat(513)];
    for (const k of bad) expect(codeOf(() => assertKey(k)), JSON.stringify(k.slice(0, 20))).toBe('INVALID_KEY');
  });
});

describe('ObjectService over FileObjectStore + MemoryBus', () => {
  let bus: MemoryBus;
  let store: FileObjectStore;
  let kv: FileKeyValueStore;
  let svc: ObjectService;
  let events: ObjectEvent[];
  const topology = new Topology('unit');
  const at = new Date('2030-01-02T03:04:05.000Z');

  beforeEach(async () => {
    bus = new MemoryBus({ prefix: 'unit' });
    await bus.waitUntilReady();
    store = new FileObjectStore(tmpDir());
    await store.waitUntilReady();
    kv = new FileKeyValueStore(tmpDir());
    await kv.waitUntilReady();
    svc = new ObjectService({ objects: store, bus, topology, kv, maxObjectBytes: 1024, now: () => at });
    events = [];
    await bus.subscribe<ObjectEvent>(topology.objectEventsTopic, (e) => {
      events.push(e);
    });
  });
  afterEach(async () => {
    await bus.close();
    await kv.close();
  });

  it('stores under objects/<namespace>/<bucket>/<key> and reads the bytes and content type back', async () => {
    const data = Buffer.from([0, 1, 2, 255]);
    expect(await svc.put('team-a', 'inputs', 'dir/blob.bin', data, { contentType: 'application/x-test' })).toEqual({ size: 4 });
    expect(await store.get(storeKey('team-a', 'inputs', 'dir/blob.bin'))).toEqual(data);
    expect(storeKey('team-a', 'inputs', 'dir/blob.bin')).toBe('objects/team-a/inputs/dir/blob.bin');
    expect(await svc.get('team-a', 'inputs', 'dir/blob.bin')).toEqual({ data, contentType: 'application/x-test' });
    // A new version without a type must not keep the old one's.
    await svc.put('team-a', 'inputs', 'dir/blob.bin', Buffer.from('x'));
    expect(await svc.get('team-a', 'inputs', 'dir/blob.bin')).toEqual({ data: Buffer.from('x') });
  });

  it('keeps namespaces apart: the same bucket and key in two namespaces are two objects', async () => {
    await svc.put('a', 'shared', 'k', Buffer.from('from a'));
    await svc.put('b', 'shared', 'k', Buffer.from('from b'));
    expect((await svc.get('a', 'shared', 'k'))?.data.toString()).toBe('from a');
    expect((await svc.get('b', 'shared', 'k'))?.data.toString()).toBe('from b');
    expect(await svc.list('a', 'shared')).toEqual(['k']);
    expect(await svc.delete('a', 'shared', 'k')).toBe(true);
    expect(await svc.get('a', 'shared', 'k')).toBeUndefined();
    expect((await svc.get('b', 'shared', 'k'))?.data.toString()).toBe('from b');
  });

  it('lists a bucket relative to it, sorted, with an optional prefix, and never another bucket', async () => {
    for (const k of ['out/2.txt', 'out/1.txt', 'in/x.txt']) await svc.put('ns', 'bkt', k, Buffer.from(k));
    await svc.put('ns', 'bkt2', 'out/other.txt', Buffer.from('.'));
    expect(await svc.list('ns', 'bkt')).toEqual(['in/x.txt', 'out/1.txt', 'out/2.txt']);
    expect(await svc.list('ns', 'bkt', 'out/')).toEqual(['out/1.txt', 'out/2.txt']);
    expect(await svc.list('ns', 'empty')).toEqual([]);
  });

  it('emits a created event per put and a deleted event only for a delete that removed something', async () => {
    await svc.put('ns', 'bkt', 'a/b.txt', Buffer.from('hello'));
    expect(await svc.delete('ns', 'bkt', 'a/b.txt')).toBe(true);
    expect(await svc.delete('ns', 'bkt', 'a/b.txt')).toBe(false);
    await flush();
    expect(events).toEqual([
      { namespace: 'ns', bucket: 'bkt', key: 'a/b.txt', size: 5, type: 'created', eventId: expect.any(String), at: at.toISOString() },
      { namespace: 'ns', bucket: 'bkt', key: 'a/b.txt', size: 0, type: 'deleted', eventId: expect.any(String), at: at.toISOString() },
    ]);
  });

  it('refuses invalid names, oversize objects and bad content types before writing anything', async () => {
    await expect(svc.put('ns', 'BAD', 'k', Buffer.from('x'))).rejects.toMatchObject({ code: 'INVALID_BUCKET', status: 400 });
    await expect(svc.put('ns', 'bkt', '../escape', Buffer.from('x'))).rejects.toBeInstanceOf(ValidationError);
    await expect(svc.get('ns', 'bkt', '/abs')).rejects.toMatchObject({ code: 'INVALID_KEY' });
    await expect(svc.list('ns', 'bkt', 'bad\nprefix')).rejects.toMatchObject({ code: 'INVALID_PREFIX' });
    const big = svc.put('ns', 'bkt', 'big', Buffer.alloc(1025));
    await expect(big).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(svc.put('ns', 'bkt', 'big', Buffer.alloc(1025))).rejects.toMatchObject({ code: 'OBJECT_TOO_LARGE', status: 413 });
    await expect(svc.put('ns', 'bkt', 'ct', Buffer.from('x'), { contentType: 'text/plain\r\nx: y' })).rejects.toMatchObject({ code: 'INVALID_CONTENT_TYPE' });
    expect(await svc.put('ns', 'bkt', 'exact', Buffer.alloc(1024))).toEqual({ size: 1024 });
    await flush();
    expect(await store.list('objects/')).toEqual(['objects/ns/bkt/exact']);
    expect(events.map((e) => e.key)).toEqual(['exact']);
  });

  it('turns a file-store key collision into a 409 instead of an internal error, and reads a directory as missing', async () => {
    await svc.put('ns', 'bkt', 'a', Buffer.from('file'));
    await expect(svc.put('ns', 'bkt', 'a/b', Buffer.from('below a file'))).rejects.toMatchObject({ code: 'OBJECT_KEY_CONFLICT', status: 409 });
    await svc.put('ns', 'bkt', 'd/e', Buffer.from('x'));
    expect(await svc.get('ns', 'bkt', 'd')).toBeUndefined();
    expect(await svc.delete('ns', 'bkt', 'd')).toBe(false);
  });

  it('fails the put when the event cannot be published (the caller retries; a put is idempotent)', async () => {
    await bus.close();
    await expect(svc.put('ns', 'bkt', 'k', Buffer.from('x'))).rejects.toMatchObject({ code: 'BUS_CLOSED', retryable: true });
  });
});
