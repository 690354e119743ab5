import { Client } from 'minio';
import { PlatformError, ServiceUnavailableError } from '../core/errors.js';
import { errMessage } from '../core/util.js';
import type { ObjectStore, StoreStatus } from './types.js';

export interface S3ObjectStoreOptions {
  /** Endpoint URL, e.g. http://127.0.0.1:9000 (scheme decides TLS; port defaults to 80/443). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** An already configured client (tests, custom transports). */
  client?: Client;
  /**
   * How often S3 is probed (a HEAD of the bucket) while it is unavailable, and
   * while ready but idle for this long (so an outage shows in `/healthz` even
   * when no request meets it). Default {@link DEFAULT_PROBE_MS}.
   */
  probeMs?: number;
  /** Objects listed and removed per round of {@link S3ObjectStore.deleteByPrefix}; default and most 1000. */
  deleteBatch?: number;
}

/**
 * Health probe interval: an outage or a recovery shows in `/healthz` within
 * this, for the cost of one HEAD request per interval on an idle store (a
 * busy store is never probed: its own requests tell).
 */
export const DEFAULT_PROBE_MS = 5000;
/** Objects removed per S3 DeleteObjects call (the API's own maximum). */
const MAX_DELETE_BATCH = 1000;

/** S3 error codes that mean "there is no such object". */
const MISSING = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);
/** Bucket-creation races between processes are harmless. */
const BUCKET_EXISTS = new Set(['BucketAlreadyOwnedByYou', 'BucketAlreadyExists']);

/**
 * {@link ObjectStore} on S3 / MinIO with the `minio` client, path-style
 * addressing (MinIO and local S3 fakes do not do virtual-host buckets).
 * `waitUntilReady()` creates the bucket when it is missing.
 */
export class S3ObjectStore implements ObjectStore {
  private readonly client: Client;
  private readonly bucket: string;
  private readonly region: string;
  private state: StoreStatus = 'connecting';
  private readonly probeMs: number;
  private readonly deleteBatch: number;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** When a request last got an answer from S3 (epoch ms). */
  private lastAnswerAt = 0;

  constructor(opts: S3ObjectStoreOptions) {
    this.bucket = opts.bucket;
    this.region = opts.region;
    this.client = opts.client ?? new Client(clientOptions(opts));
    this.probeMs = opts.probeMs ?? DEFAULT_PROBE_MS;
    this.deleteBatch = Math.min(MAX_DELETE_BATCH, Math.max(1, opts.deleteBatch ?? MAX_DELETE_BATCH));
  }

  get status(): StoreStatus {
    return this.state;
  }

  async waitUntilReady(): Promise<void> {
    if (this.state === 'ready' || this.state === 'unavailable') return;
    if (this.state === 'closed') throw new ServiceUnavailableError('s3', 'store is closed');
    await this.call(async () => {
      if (await this.client.bucketExists(this.bucket)) return;
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (err) {
        if (!BUCKET_EXISTS.has(s3Code(err) ?? '')) throw err;
      }
    });
    this.state = 'ready';
    this.probeTimer = setInterval(() => void this.probe(), this.probeMs);
    this.probeTimer.unref();
  }

  async close(): Promise<void> {
    // The minio client holds no connection of its own beyond the HTTP agent's keep-alive sockets.
    this.state = 'closed';
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  /**
   * One HEAD of the bucket, when nothing else said recently whether S3 is
   * there: while unavailable (to notice the recovery) or after an idle
   * `probeMs` (to notice an outage no request met). `call` updates the state.
   */
  private async probe(): Promise<void> {
    if (this.probing || this.state === 'closed') return;
    if (this.state === 'ready' && Date.now() - this.lastAnswerAt < this.probeMs) return;
    this.probing = true;
    try {
      await this.call(() => this.client.bucketExists(this.bucket));
    } catch {
      // The state says it; the next probe tries again.
    } finally {
      this.probing = false;
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    await this.call(() => this.client.putObject(this.bucket, key, data, data.length, { 'Content-Type': 'application/octet-stream' }));
  }

  async get(key: string): Promise<Buffer | undefined> {
    return await this.call(async () => {
      try {
        const stream = await this.client.getObject(this.bucket, key);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
        return Buffer.concat(chunks);
      } catch (err) {
        if (MISSING.has(s3Code(err) ?? '')) return undefined;
        throw err;
      }
    });
  }

  async has(key: string): Promise<boolean> {
    return await this.call(async () => {
      try {
        await this.client.statObject(this.bucket, key);
        return true;
      } catch (err) {
        if (MISSING.has(s3Code(err) ?? '')) return false;
        throw err;
      }
    });
  }

  async delete(key: string): Promise<void> {
    await this.call(() => this.client.removeObject(this.bucket, key));
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    let removed = 0;
    for (;;) {
      // Listed and removed a batch at a time: memory stays bounded however many there are,
      // and a rerun after an interruption lists only what is left.
      const batch = await this.listBatch(prefix, this.deleteBatch);
      if (batch.length === 0) return removed;
      const results = await this.call(() => this.client.removeObjects(this.bucket, batch));
      const failed = results.find((r) => r?.Error !== undefined && !MISSING.has(r.Error.Code ?? ''));
      if (failed?.Error !== undefined) {
        throw new PlatformError('OBJECT_STORE_ERROR', `s3: ${failed.Error.Code ?? 'Error'}: cannot delete ${failed.Error.Key ?? 'an object'}: ${failed.Error.Message ?? ''}`, { retryable: true });
      }
      removed += batch.length;
      if (batch.length < this.deleteBatch) return removed;
    }
  }

  /** Up to `max` keys under a prefix, stopping the listing early. */
  private async listBatch(prefix: string, max: number): Promise<string[]> {
    return await this.call(async () => {
      const keys: string[] = [];
      const stream = this.client.listObjectsV2(this.bucket, prefix, true);
      try {
        for await (const item of stream) {
          const name = (item as { name?: string }).name;
          if (name !== undefined) keys.push(name);
          if (keys.length >= max) break;
        }
      } finally {
        stream.destroy();
      }
      return keys;
    });
  }

  async list(prefix: string): Promise<string[]> {
    return await this.call(async () => {
      const keys: string[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
        const name = (item as { name?: string }).name;
        if (name !== undefined) keys.push(name);
      }
      // S3 lists in UTF-8 byte order already; sort anyway so every backend agrees.
      return keys.sort();
    });
  }

  /**
   * Network trouble (refused, reset, timeout, 5xx) → ServiceUnavailableError;
   * a refusal by S3 itself (access denied, bad bucket name) → a non-retryable
   * PlatformError.
   */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state === 'closed') throw new ServiceUnavailableError('s3', 'store is closed');
    try {
      const result = await fn();
      this.answered();
      return result;
    } catch (err) {
      const code = s3Code(err);
      if (code !== undefined && !code.startsWith('E') && !/^(InternalError|ServiceUnavailable|SlowDown|RequestTimeout)$/.test(code)) {
        // S3 answered (a refusal is an answer): it is up.
        this.answered();
        throw new PlatformError('OBJECT_STORE_ERROR', `s3: ${code}: ${errMessage(err)}`, { retryable: false, cause: err });
      }
      if (this.state === 'ready') this.state = 'unavailable';
      throw new ServiceUnavailableError('s3', errMessage(err), err);
    }
  }

  /** S3 answered a request: it is there (again). */
  private answered(): void {
    this.lastAnswerAt = Date.now();
    if (this.state === 'unavailable') this.state = 'ready';
  }
}

function clientOptions(opts: S3ObjectStoreOptions): ConstructorParameters<typeof Client>[0] {
  const u = new URL(opts.endpoint);
  const useSSL = u.protocol === 'https:';
  return {
    endPoint: u.hostname,
    port: u.port ? Number(u.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region,
    pathStyle: true,
  };
}

/** The S3 error code (`NoSuchKey`, …) or Node's network code (`ECONNREFUSED`, …). */
function s3Code(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
