import { randomUUID } from 'node:crypto';
import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import { BriskError, PayloadTooLargeError, ValidationError } from '../core/errors.js';
import type { ObjectEvent } from '../core/types.js';
import type { KeyValueStore, ObjectStore } from './types.js';

/**
 * Users' objects: namespaced buckets and keys over the platform's
 * {@link ObjectStore}, shared by the gateway's `/v1/objects` routes and the
 * executor's platform API (`context.objects` inside functions), so both
 * validate the same way and both emit the same {@link ObjectEvent}s.
 *
 * Layout: object `<bucket>/<key>` of namespace `ns` lives under the store key
 * `objects/<ns>/<bucket>/<key>`; code bundles live under `code/`, so the two
 * never meet. Buckets are implicit: writing the first key creates one.
 */

/** S3-like bucket names: lowercase letters, digits, dots and dashes, 2–63 characters. */
export const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,62}$/;
/** Longest object key, in UTF-8 bytes (S3's own limit). */
export const MAX_OBJECT_KEY_BYTES = 1024;
/** Longest content type kept with an object (RFC 6838 names plus parameters fit easily). */
const MAX_CONTENT_TYPE_LENGTH = 255;
/** C0 controls and DEL: never valid in a key (they break logs, headers and some S3 clients). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's purpose.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** One stored object as read back. */
export interface StoredObject {
  data: Buffer;
  /** The content type given when it was written, if the service keeps them. */
  contentType?: string;
}

export interface ObjectServiceOptions {
  objects: ObjectStore;
  bus: Bus;
  topology: Topology;
  /** Largest object accepted, in bytes. */
  maxObjectBytes: number;
  /**
   * Where content types are kept (`objmeta:<ns>:<bucket>:<key>`). Optional: without
   * it objects are served as `application/octet-stream`.
   */
  kv?: KeyValueStore;
  /** Clock for event timestamps; injectable for tests. */
  now?: () => Date;
}

/** Throws ValidationError `INVALID_BUCKET` unless `bucket` is a valid bucket name. */
export function assertBucket(bucket: string): void {
  if (!BUCKET_PATTERN.test(bucket)) {
    throw new ValidationError('INVALID_BUCKET', `bucket name '${truncate(bucket)}' is invalid: use 2-63 lowercase letters, digits, '.' or '-', starting with a letter or digit`, {
      bucket: truncate(bucket),
    });
  }
}

/**
 * Throws ValidationError `INVALID_KEY` unless `key` is a safe object key:
 * 1–1024 bytes, no control characters, no leading `/`, and no empty, `.` or
 * `..` path segments (the file store maps keys to paths, and S3 treats `a//b`
 * and `a/b` as different keys; refusing both keeps the two stores alike).
 */
export function assertKey(key: string): void {
  const bytes = Buffer.byteLength(key, 'utf8');
  let problem: string | undefined;
  if (bytes === 0) problem = 'must not be empty';
  else if (bytes > MAX_OBJECT_KEY_BYTES) problem = `must be at most ${MAX_OBJECT_KEY_BYTES} bytes`;
  else if (CONTROL_CHARS.test(key)) problem = 'must not contain control characters';
  else if (key.startsWith('/')) problem = "must not start with '/'";
  else if (key.split('/').some((s) => s === '' || s === '.' || s === '..')) problem = "must not contain empty, '.' or '..' path segments";
  if (problem !== undefined) throw new ValidationError('INVALID_KEY', `object key ${problem}`, { key: truncate(key) });
}

/** A listing prefix: any text a key could start with (so no control characters), up to the key limit. */
function assertPrefix(prefix: string): void {
  if (Buffer.byteLength(prefix, 'utf8') > MAX_OBJECT_KEY_BYTES || CONTROL_CHARS.test(prefix)) {
    throw new ValidationError('INVALID_PREFIX', `prefix must be at most ${MAX_OBJECT_KEY_BYTES} bytes without control characters`);
  }
}

function assertContentType(contentType: string): void {
  if (contentType.length > MAX_CONTENT_TYPE_LENGTH || CONTROL_CHARS.test(contentType)) {
    throw new ValidationError('INVALID_CONTENT_TYPE', `content type must be at most ${MAX_CONTENT_TYPE_LENGTH} characters without control characters`);
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** File-store errors that mean "a key and a key below it collide" (`a` is a file, `a/b` wanted). */
function isPathConflict(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST';
}

/** Namespaced object access with validation, size limits and object events. */
export class ObjectService {
  private readonly now: () => Date;

  constructor(private readonly opts: ObjectServiceOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** Largest object accepted, in bytes. */
  get maxObjectBytes(): number {
    return this.opts.maxObjectBytes;
  }

  /**
   * Write an object (replacing any previous one) and publish a `created`
   * event. When the event cannot be published the call fails even though the
   * bytes are stored: a put is idempotent, so the caller's retry stores the
   * same bytes again and emits the event that was lost.
   */
  async put(namespace: string, bucket: string, key: string, data: Buffer, opts: { contentType?: string } = {}): Promise<{ size: number }> {
    assertBucket(bucket);
    assertKey(key);
    if (data.length > this.opts.maxObjectBytes) throw new PayloadTooLargeError(this.opts.maxObjectBytes, 'OBJECT_TOO_LARGE');
    if (opts.contentType !== undefined) assertContentType(opts.contentType);
    try {
      await this.opts.objects.put(storeKey(namespace, bucket, key), data);
    } catch (err) {
      if (isPathConflict(err)) {
        throw new BriskError('OBJECT_KEY_CONFLICT', `object key '${truncate(key)}' collides with an existing key that is a prefix of it (or has keys below it)`, {
          status: 409,
          data: { bucket, key: truncate(key) },
        });
      }
      throw err;
    }
    const kv = this.opts.kv;
    if (kv !== undefined) {
      // Always written or cleared: a new version of an object must not keep the old one's type.
      if (opts.contentType !== undefined && opts.contentType !== '') await kv.set(metaKey(namespace, bucket, key), opts.contentType);
      else await kv.delete(metaKey(namespace, bucket, key));
    }
    await this.emit({ namespace, bucket, key, size: data.length, type: 'created' });
    return { size: data.length };
  }

  /** The object, or undefined when it does not exist. */
  async get(namespace: string, bucket: string, key: string): Promise<StoredObject | undefined> {
    assertBucket(bucket);
    assertKey(key);
    const [data, contentType] = await Promise.all([
      this.opts.objects.get(storeKey(namespace, bucket, key)).catch((err: unknown) => {
        // In the file store `a` may be a directory of `a/…` keys: then `a` itself does not exist.
        if (isPathConflict(err)) return undefined;
        throw err;
      }),
      this.opts.kv?.get(metaKey(namespace, bucket, key)),
    ]);
    if (data === undefined) return undefined;
    return contentType !== undefined ? { data, contentType } : { data };
  }

  /**
   * Remove an object. Idempotent; returns whether it existed, and only then
   * publishes a `deleted` event (with `size: 0`: the size is not looked up).
   */
  async delete(namespace: string, bucket: string, key: string): Promise<boolean> {
    assertBucket(bucket);
    assertKey(key);
    const k = storeKey(namespace, bucket, key);
    const existed = await this.opts.objects.has(k).catch((err: unknown) => {
      if (isPathConflict(err)) return false;
      throw err;
    });
    if (!existed) return false;
    await this.opts.objects.delete(k);
    await this.opts.kv?.delete(metaKey(namespace, bucket, key));
    await this.emit({ namespace, bucket, key, size: 0, type: 'deleted' });
    return true;
  }

  /** Keys of a bucket (relative to the bucket), sorted, optionally only those starting with `prefix`. */
  async list(namespace: string, bucket: string, prefix = ''): Promise<string[]> {
    assertBucket(bucket);
    assertPrefix(prefix);
    const base = storeKey(namespace, bucket, '');
    const keys = await this.opts.objects.list(base + prefix);
    return keys.map((k) => k.slice(base.length));
  }

  private async emit(e: Omit<ObjectEvent, 'at'>): Promise<void> {
    // A unique id lets every listener de-duplicate the same event (several schedulers hear it).
    const event: ObjectEvent = { ...e, eventId: randomUUID(), at: this.now().toISOString() };
    await this.opts.bus.publish(this.opts.topology.objectEventsTopic, event);
  }
}

/**
 * Remove every object of a namespace and their content types (the namespace
 * is being deleted). Publishes no object events: its triggers are gone, and a
 * purge is no user's delete. Idempotent.
 */
export async function purgeNamespaceObjects(objects: ObjectStore, kv: KeyValueStore, namespace: string): Promise<number> {
  const removed = await objects.deleteByPrefix(`objects/${namespace}/`);
  await kv.deleteByPrefix(`objmeta:${namespace}:`);
  return removed;
}

/** ObjectStore key of a user object. */
export function storeKey(namespace: string, bucket: string, key: string): string {
  return `objects/${namespace}/${bucket}/${key}`;
}

function metaKey(namespace: string, bucket: string, key: string): string {
  return `objmeta:${namespace}:${bucket}:${key}`;
}
