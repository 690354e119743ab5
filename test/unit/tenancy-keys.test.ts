import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { KEY_CACHE_MS, TenancyService } from '../../tenancy/tenancy-service.js';
import type { NamespaceQuotas } from '../../tenancy/types.js';

const QUOTAS: NamespaceQuotas = {
  maxConcurrency: 10,
  invocationsPerSecond: 100,
  maxFunctions: 10,
  maxCodeBytes: 1e6,
  maxUnpackedBytes: 1e6,
  maxSyncPayloadBytes: 1000,
  maxAsyncPayloadBytes: 1000,
  maxTimeoutMs: 1000,
  maxMemoryMb: 256,
  maxProvisionedMb: 0,
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A file key-value store that counts its key-record reads. */
async function countingKv(): Promise<{ kv: FileKeyValueStore; reads: () => number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-keys-'));
  dirs.push(dir);
  const kv = new FileKeyValueStore(dir);
  await kv.waitUntilReady();
  let reads = 0;
  const hget = kv.hget.bind(kv);
  kv.hget = async (collection, field) => {
    if (collection === 'apikeys') reads++;
    return hget(collection, field);
  };
  return { kv, reads: () => reads };
}

describe('TenancyService key cache', () => {
  it('reads a key once per cache period, forgets it at once on a revocation here, and tells the others', async () => {
    const { kv, reads } = await countingKv();
    let now = 1_000_000;
    const notices: string[][] = [];
    const t = new TenancyService(kv, QUOTAS, { now: () => now, onKeysRevoked: async (ids) => void notices.push(ids) });
    await t.createNamespace('team');
    const { key, record } = await t.issueKey('team');
    for (let i = 0; i < 5; i++) expect(await t.verifyKey(key)).toMatchObject({ keyId: record.id, namespace: 'team' });
    expect(reads()).toBe(1);
    // A wrong secret for a cached id is still refused: the hash is compared every time.
    expect(await t.verifyKey(`${key.slice(0, -4)}AAAA`)).toBeUndefined();
    now += KEY_CACHE_MS;
    expect(await t.verifyKey(key)).toBeDefined();
    expect(reads()).toBe(2);
    await t.revokeKey('team', record.id);
    expect(await t.verifyKey(key)).toBeUndefined();
    expect(notices).toEqual([[record.id]]);
    await kv.close();
  });

  it('forgets keys revoked on another gateway when told, and revokes a deleted namespace\'s keys', async () => {
    const { kv } = await countingKv();
    const notices: string[][] = [];
    const here = new TenancyService(kv, QUOTAS, { onKeysRevoked: async (ids) => void notices.push(ids) });
    const there = new TenancyService(kv, QUOTAS);
    await here.createNamespace('team');
    const a = await here.issueKey('team');
    const b = await here.issueKey('team');
    expect(await there.verifyKey(a.key)).toBeDefined();
    expect(await there.verifyKey(b.key)).toBeDefined();
    await here.revokeKey('team', a.record.id);
    // Cached on the other gateway until the notice arrives…
    expect(await there.verifyKey(a.key)).toBeDefined();
    there.forgetKeys(notices.at(-1)!);
    expect(await there.verifyKey(a.key)).toBeUndefined();
    expect(await there.verifyKey(b.key)).toBeDefined();
    await here.beginDelete('team');
    expect(notices.at(-1)).toEqual([b.record.id]);
    there.forgetKeys(notices.at(-1)!);
    expect(await there.verifyKey(b.key)).toBeUndefined();
    await kv.close();
  });

  it('does not cache a read that a revocation overtook', async () => {
    const { kv, reads } = await countingKv();
    const t = new TenancyService(kv, QUOTAS);
    await t.createNamespace('team');
    const { key, record } = await t.issueKey('team');
    const hget = kv.hget.bind(kv);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // The first read is held until the revocation has been heard.
    kv.hget = async (collection, field) => {
      const v = await hget(collection, field);
      await gate;
      return v;
    };
    const slow = t.verifyKey(key);
    t.forgetKeys([record.id]);
    release();
    expect(await slow).toBeDefined();
    kv.hget = hget;
    await kv.hdel('apikeys', record.id);
    expect(await t.verifyKey(key)).toBeUndefined();
    expect(reads()).toBeGreaterThanOrEqual(2);
    await kv.close();
  });
});
