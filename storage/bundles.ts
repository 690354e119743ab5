import type { KeyValueStore, ObjectStore } from './types.js';

/**
 * Bundles at most this big also get a hot copy in the key-value store. A
 * function's own code is rarely larger (a handler bundled with a few small
 * dependencies); a bundle that carries big libraries is read from the object
 * store as before. OpenWhisk inlines action code under a threshold into its
 * database document for the same reason: one store read instead of two.
 */
export const HOT_COPY_MAX_BYTES = 64 * 1024;

/**
 * How long a hot copy lives. It serves the first calls after a deploy (the
 * executors that run a version keep its code in memory after the first); a
 * version first called later is read from the object store.
 */
export const HOT_COPY_TTL_MS = 24 * 60 * 60 * 1000;

export interface BundleStoreOptions {
  /** Where every bundle lives, for good. */
  objects: ObjectStore;
  /** Where small ones also live for a while (distributed mode: Redis); none: the object store only. */
  kv?: KeyValueStore;
  hotMaxBytes?: number;
  hotTtlMs?: number;
}

/**
 * Content-addressed bundles (code, package files) by object key: written once
 * at deploy, read by executors before a version's first run. In distributed
 * mode the object store (S3) is a round trip of several milliseconds on the
 * first call of every new version, where the key-value store (Redis), already
 * read on that path, answers in a fraction of one; so a small bundle is
 * written to both, and read from the hot copy while it lasts.
 *
 * The hot copy is a cache, never the only copy: a missing, expired or
 * unreadable one, or one that fails the caller's check (the content hash),
 * falls back to the object store.
 */
export class BundleStore {
  private readonly hotMaxBytes: number;
  private readonly hotTtlMs: number;

  constructor(private readonly o: BundleStoreOptions) {
    this.hotMaxBytes = o.hotMaxBytes ?? HOT_COPY_MAX_BYTES;
    this.hotTtlMs = o.hotTtlMs ?? HOT_COPY_TTL_MS;
  }

  /** Store a bundle under its content-addressed key (the object once; the hot copy refreshed). */
  async put(key: string, data: Buffer): Promise<void> {
    if (!(await this.o.objects.has(key))) await this.o.objects.put(key, data);
    if (this.o.kv !== undefined && data.length <= this.hotMaxBytes) {
      await this.o.kv.set(hotKey(key), data.toString('base64'), { ttlMs: this.hotTtlMs });
    }
  }

  /**
   * A bundle by key, undefined when it does not exist. `size` (the version's
   * record of it) says whether a hot copy can exist; `check` tells a good copy
   * from a bad one (a bad hot copy is dropped and the object store read).
   */
  async get(key: string, opts: { size?: number; check?: (data: Buffer) => boolean } = {}): Promise<Buffer | undefined> {
    const { kv } = this.o;
    if (kv !== undefined && opts.size !== undefined && opts.size <= this.hotMaxBytes) {
      const hot = await kv.get(hotKey(key)).catch(() => undefined);
      if (hot !== undefined) {
        const data = Buffer.from(hot, 'base64');
        if (opts.check === undefined || opts.check(data)) return data;
        await kv.delete(hotKey(key)).catch(() => undefined);
      }
    }
    return this.o.objects.get(key);
  }
}

/** Key-value key of a bundle's hot copy. */
export function hotKey(objectKey: string): string {
  return `bundle:${objectKey}`;
}
