import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.js';
import { S3ObjectStore } from '../../storage/s3-object-store.js';
import { codeKey } from '../../storage/types.js';
import { objectStoreContract } from '../contracts/store-contract.js';
import { s3Test } from '../helpers/fixtures.js';
import { freePort, requireService, s3Available, uniqueId, type S3Handle } from '../helpers/services.js';

const available = requireService('s3 (s3rver)', await s3Available());

describe.skipIf(!available)('S3ObjectStore (s3rver)', () => {
  /** The file's s3rver (the fixture stops it after the last test). */
  let server: S3Handle;
  s3Test.beforeAll(({ s3Server }) => {
    server = s3Server;
  });

  function makeStore(bucket = `brisk-${uniqueId()}`, opts: { deleteBatch?: number; probeMs?: number } = {}, s3: S3Handle = server): S3ObjectStore {
    return new S3ObjectStore({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket, region: s3.region, ...opts });
  }

  // Batches of 100 so the contract's purge of 250 objects takes several rounds. (s3rver cannot
  // list past 1000 keys on Node 20: its continuation tokens use DES, which OpenSSL 3 refuses.)
  objectStoreContract('S3ObjectStore', () => makeStore(undefined, { deleteBatch: 100 }));

  s3Test('creates the bucket once; a second store on the same bucket sees the same objects', async ({ s3 }) => {
    const a = makeStore(s3.bucket, {}, s3);
    const b = makeStore(s3.bucket, {}, s3);
    await Promise.all([a.waitUntilReady(), b.waitUntilReady()]);
    const key = codeKey('f'.repeat(64));
    await a.put(key, Buffer.from('export default 1'));
    expect((await b.get(key))?.toString()).toBe('export default 1');
    expect(await b.list('code/')).toEqual([key]);
  });

  it('an unreachable endpoint is ServiceUnavailableError', async () => {
    const port = await freePort();
    const store = new S3ObjectStore({
      endpoint: `http://127.0.0.1:${port}`,
      accessKey: 'x',
      secretKey: 'y',
      bucket: 'nope',
      region: 'us-east-1',
    });
    const t0 = Date.now();
    await expect(store.waitUntilReady()).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  s3Test('wrong credentials are a non-retryable error, not an outage', async ({ s3 }) => {
    // s3rver checks the access key id (not SigV4 signatures), so use an unknown key.
    const store = new S3ObjectStore({
      endpoint: s3.endpoint,
      accessKey: 'NOT-A-KEY',
      secretKey: s3.secretKey,
      bucket: s3.bucket,
      region: s3.region,
    });
    const err = await store.waitUntilReady().then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(err).not.toBeInstanceOf(ServiceUnavailableError);
    expect((err as { retryable: boolean }).retryable).toBe(false);
  });
});
