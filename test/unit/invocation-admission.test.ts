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
  maxProvisionedMb: 0,
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

  it('a burst of concurrent callers takes one batch, not one each', async () => {
    const kv = await kvStore();
    let calls = 0;
    let tokens = 0;
    const take = kv.takeTokens.bind(kv);
    kv.takeTokens = async (key, rate, burst, n = 1) => {
      calls++;
      tokens += n;
      return take(key, rate, burst, n);
    };
    const admission = new InvocationAdmission(kv);
    // 5000/s: a batch of 100; a burst of 64 callers with an empty lease: one takes the batch, the others a token each.
    await Promise.all(Array.from({ length: 64 }, () => admission.admit('ns', quotas(5000), 1, 'sync')));
    expect(tokens).toBe(100 + 63);
    // More waves of 64 are served from the lease while it lasts: the bucket (burst 10,000) is never drained.
    const before = calls;
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all(Array.from({ length: 64 }, () => admission.admit('ns', quotas(5000), 1, 'sync')));
    }
    expect(tokens).toBeLessThanOrEqual(163 + 4 * 64 + 200);
    expect(calls - before).toBeLessThan(4 * 64);
  });

  it('near the limit a burst still gets exactly the tokens left, then QUOTA_RATE', async () => {
    const admission = new InvocationAdmission(await kvStore());
    // 100/s: batches of 2, burst 200. 250 concurrent callers: the 200 tokens are used (one may wait in the lease), the rest refused.
    const results = await Promise.allSettled(Array.from({ length: 250 }, () => admission.admit('ns', quotas(100), 1, 'sync')));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.length - refused.length).toBeGreaterThanOrEqual(199);
    expect(results.length - refused.length).toBeLessThanOrEqual(200);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'QUOTA_RATE', status: 429 });
  });

  it('checks the payload against the sync and async limits', async () => {
    const admission = new InvocationAdmission(await kvStore());
    await expect(admission.admit('ns', quotas(10), 50, 'async')).rejects.toMatchObject({ code: 'QUOTA_PAYLOAD', status: 413 });
    await admission.admit('ns', quotas(10), 50, 'sync');
    await expect(admission.admit('ns', quotas(10), 101, 'sync')).rejects.toMatchObject({ code: 'QUOTA_PAYLOAD' });
  });
});
