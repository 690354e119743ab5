import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvocationAdmission } from '../../tenancy/quotas.js';
import type { NamespaceQuotas } from '../../tenancy/types.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';

const quotas = (invocationsPerSecond: number): NamespaceQuotas => ({
  maxConcurrency: 10,
  invocationsPerSecond,
  maxFunctions: 10,
  maxCodeBytes: 1e6,
  maxUnpackedBytes: 1e6,
  maxSyncPayloadBytes: 100,
  maxAsyncPayloadBytes: 10,
  maxTimeoutMs: 1000,
  maxMemoryMb: 256,
});

async function kvStore(): Promise<FileKeyValueStore> {
  const kv = new FileKeyValueStore(fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-admit-')));
  await kv.waitUntilReady();
  return kv;
}

describe('InvocationAdmission', () => {
  it('is exact at low rates: the burst (2× the rate), then QUOTA_RATE with Retry-After', async () => {
    const admission = new InvocationAdmission(await kvStore());
    const q = quotas(2);
    for (let i = 0; i < 4; i++) await admission.admit('ns', q, 1, 'sync');
    await expect(admission.admit('ns', q, 1, 'sync')).rejects.toMatchObject({ code: 'QUOTA_RATE', status: 429, retryAfterSeconds: 1 });
    await admission.admit('other', q, 1, 'sync');
  });

  it('leases tokens in batches at high rates: one store call per 20 invocations at 1000/s', async () => {
    const kv = await kvStore();
    let calls = 0;
    const take = kv.takeTokens.bind(kv);
    kv.takeTokens = async (...args) => {
      calls++;
      return take(...args);
    };
    const admission = new InvocationAdmission(kv);
    for (let i = 0; i < 100; i++) await admission.admit('ns', quotas(1000), 1, 'sync');
    expect(calls).toBe(5);
  });

  it('checks the payload against the sync and async limits', async () => {
    const admission = new InvocationAdmission(await kvStore());
    await expect(admission.admit('ns', quotas(10), 50, 'async')).rejects.toMatchObject({ code: 'QUOTA_PAYLOAD', status: 413 });
    await admission.admit('ns', quotas(10), 50, 'sync');
    await expect(admission.admit('ns', quotas(10), 101, 'sync')).rejects.toMatchObject({ code: 'QUOTA_PAYLOAD' });
  });
});
