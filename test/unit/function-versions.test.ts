import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.js';
import type { FunctionVersion } from '../../core/types.js';
import { FunctionVersions } from '../../executor/function-versions.js';

const hash = (c: string): string => c.repeat(64);

function version(over: Partial<FunctionVersion> = {}): FunctionVersion {
  return {
    namespace: 'ns-b',
    name: 'victim',
    version: 1,
    codeHash: hash('b'),
    codeSize: 10,
    exportName: 'handler',
    handler: 'index.handler',
    memoryMb: 128,
    timeoutMs: 1000,
    env: { MODE: 'prod' },
    maxConcurrency: 0,
    retries: 0,
    allowEgress: false,
    secretNames: ['MYSECRET'],
    secretsDigest: 'digest-of-b',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

/** A metadata store holding some versions, counting reads; `down` makes it fail like Redis in an outage. */
class Store {
  reads = 0;
  down = false;
  readonly versions = new Map<string, FunctionVersion>();
  put(v: FunctionVersion): void {
    this.versions.set(`${v.namespace}/${v.name}@${v.version}`, v);
  }
  async getFunctionVersion(namespace: string, name: string, v: number): Promise<FunctionVersion | undefined> {
    this.reads++;
    await new Promise((r) => setImmediate(r));
    if (this.down) throw new ServiceUnavailableError('redis', 'down');
    return structuredClone(this.versions.get(`${namespace}/${name}@${v}`));
  }
}

describe('FunctionVersions: an executor runs the stored version, not the message', () => {
  it('returns the stored record, whatever settings the message carries', async () => {
    const store = new Store();
    store.put(version());
    const versions = new FunctionVersions(store);
    const got = await versions.resolve(version({ env: { MODE: 'evil' }, memoryMb: 4096, handler: 'other.handler' }));
    expect(got).toEqual(version());
  });

  it.each([
    ['another function’s code (the probe’s forged request)', { codeHash: hash('a') }, 'codeHash'],
    ['another function’s secrets digest (the probe’s stolen digest)', { secretsDigest: 'digest-of-a' }, 'secretsDigest'],
    ['no secrets where the version has some', { secretsDigest: undefined }, 'secretsDigest'],
  ] as const)('refuses a message that names the version with %s', async (_label, over, field) => {
    const store = new Store();
    store.put(version());
    const versions = new FunctionVersions(store);
    const err = await versions.resolve(version(over)).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'FUNCTION_VERSION_MISMATCH', retryable: false, data: { differs: [field] } });
  });

  it('refuses a version that does not exist (never deployed, or deleted)', async () => {
    const store = new Store();
    const versions = new FunctionVersions(store);
    await expect(versions.resolve(version())).rejects.toMatchObject({ code: 'FUNCTION_VERSION_NOT_FOUND', retryable: false });
  });

  it('reads each version once, sharing concurrent first reads, and keeps at most maxEntries', async () => {
    const store = new Store();
    for (let v = 1; v <= 3; v++) store.put(version({ version: v }));
    const versions = new FunctionVersions(store, 2);
    await Promise.all(Array.from({ length: 50 }, () => versions.resolve(version())));
    for (let i = 0; i < 100; i++) await versions.resolve(version());
    expect(store.reads).toBe(1);
    await versions.resolve(version({ version: 2 }));
    await versions.resolve(version({ version: 3 })); // evicts v1, the least recently used
    expect(store.reads).toBe(3);
    await versions.resolve(version({ version: 3 }));
    expect(store.reads).toBe(3);
    await versions.resolve(version());
    expect(store.reads).toBe(4);
  });

  it('reads afresh a version number reused after the function was deleted and deployed again', async () => {
    const store = new Store();
    store.put(version());
    const versions = new FunctionVersions(store);
    await versions.resolve(version());
    store.put(version({ codeHash: hash('c'), secretsDigest: undefined, secretNames: undefined }));
    const fresh = await versions.resolve(version({ codeHash: hash('c'), secretsDigest: undefined, secretNames: undefined }));
    expect(fresh.codeHash).toBe(hash('c'));
    // The old description no longer matches the store.
    await expect(versions.resolve(version({ codeHash: hash('d') }))).rejects.toMatchObject({ code: 'FUNCTION_VERSION_MISMATCH' });
  });

  it('lets a store outage through as it is (retryable) and remembers nothing of it', async () => {
    const store = new Store();
    store.put(version());
    store.down = true;
    const versions = new FunctionVersions(store);
    await expect(versions.resolve(version())).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
    store.down = false;
    await expect(versions.resolve(version())).resolves.toEqual(version());
  });
});
