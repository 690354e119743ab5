import type { Activation, FunctionRecord, FunctionVersion } from '../core/types.js';

/**
 * Where Brisk keeps its state (the lecture's storage sub-system: "states" and
 * "persistent data").
 *
 * - {@link MetadataStore}: function registry, versions, activation records.
 *   `file-store.ts` (standalone, under BRISK_DATA_DIR) and `redis-store.ts`.
 * - {@link ObjectStore}: code bundles and large blobs, by key.
 *   `file-object-store.ts` and `s3-object-store.ts` (MinIO / S3).
 *
 * Both are chosen once, in the composition root of each process. Domain code
 * never touches a Redis, S3 or file handle directly. A store that cannot reach
 * its backend throws `ServiceUnavailableError` (→ 503), never hangs.
 */

/**
 * `unavailable`: the store was ready but its backend stopped answering (a
 * request failed for want of it); it turns `ready` again on the next success.
 * `/healthz` answers 503 while any store is not `ready`.
 */
export type StoreStatus = 'connecting' | 'ready' | 'unavailable' | 'closed';

/** Outcome of {@link MetadataStore.putFunctionVersion}. */
export interface PutVersionResult {
  version: FunctionVersion;
  /** False when identical code and settings were already the latest version. */
  created: boolean;
}

export interface ListActivationsQuery {
  function?: string;
  limit: number;
}

export interface MetadataStore {
  readonly status: StoreStatus;
  waitUntilReady(): Promise<void>;
  /** Idempotent; never closes a client it was handed. */
  close(): Promise<void>;

  /**
   * Record a new version of a function, numbered latest+1, unless the latest
   * version already has the same codeHash and settings (then it is returned
   * with `created: false`). Atomic with respect to concurrent deploys.
   * `draft` has every FunctionVersion field except `version` and `createdAt`.
   */
  putFunctionVersion(draft: Omit<FunctionVersion, 'version' | 'createdAt'>): Promise<PutVersionResult>;
  getFunction(namespace: string, name: string): Promise<FunctionRecord | undefined>;
  getFunctionVersion(namespace: string, name: string, version: number): Promise<FunctionVersion | undefined>;
  listFunctions(namespace: string): Promise<FunctionRecord[]>;
  /** Removes the function and all its versions. Returns false if it did not exist. */
  deleteFunction(namespace: string, name: string): Promise<boolean>;

  /** Create or overwrite a non-final activation record (queued, running). */
  putActivation(activation: Activation): Promise<void>;
  /**
   * Write the final record of an activation exactly once. Returns false (and
   * changes nothing) if a final record already exists, e.g. when a message
   * was delivered twice.
   */
  finishActivation(activation: Activation): Promise<boolean>;
  getActivation(namespace: string, activationId: string): Promise<Activation | undefined>;
  /** Most recent first. */
  listActivations(namespace: string, query: ListActivationsQuery): Promise<Activation[]>;
  /**
   * Remove every activation record of a namespace (it is being deleted).
   * Works in bounded batches, so a big namespace never blocks the store or
   * the event loop for long; idempotent, so an interrupted call is finished
   * by calling it again. Returns how many records were removed.
   */
  deleteActivations(namespace: string): Promise<number>;
}

export interface ObjectStore {
  readonly status: StoreStatus;
  waitUntilReady(): Promise<void>;
  close(): Promise<void>;

  put(key: string, data: Buffer): Promise<void>;
  /** Undefined when the key does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  /**
   * Remove every object whose key starts with `prefix` (a deleted namespace's
   * objects), in bounded batches; idempotent. Returns how many were removed.
   */
  deleteByPrefix(prefix: string): Promise<number>;
}

/** Object key of a code bundle. */
export function codeKey(codeHash: string): string {
  return `code/${codeHash}.mjs`;
}

/**
 * KeyValueStore key of a function state entry (`context.state`): namespaces
 * never share one. Written by the executor's platform API, purged with the
 * namespace (tenancy).
 */
export function stateKey(namespace: string, key: string): string {
  return `state:${namespace}:${key}`;
}

/** Object key of a package's files (a gzipped tar), by the sha256 of its bytes. */
export function filesKey(filesHash: string): string {
  return `code/${filesHash}.files.tgz`;
}

/**
 * What makes two deploys "the same" (then no new version is made): code,
 * export and every setting, env order ignored. Both metadata stores compare
 * these strings.
 */
export function deploymentSignature(d: Omit<FunctionVersion, 'version' | 'createdAt'>): string {
  const env = Object.entries(d.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    d.codeHash,
    d.exportName,
    d.handler,
    d.memoryMb,
    d.timeoutMs,
    d.maxConcurrency,
    d.retries,
    d.allowEgress,
    env,
    d.onFailure ?? '',
    d.public ?? false,
    d.secretsDigest ?? '',
    // Last and only when set, so versions deployed before package files keep their signature.
    ...(d.filesHash !== undefined ? [d.filesHash] : []),
    // Likewise: only above 1 (see functionSettingsSchema).
    ...(d.concurrency !== undefined ? [`concurrency=${d.concurrency}`] : []),
  ]);
}

/** Whether a deploy draft changes nothing relative to an existing version. */
export function sameDeployment(
  a: Omit<FunctionVersion, 'version' | 'createdAt'>,
  b: Omit<FunctionVersion, 'version' | 'createdAt'>,
): boolean {
  return deploymentSignature(a) === deploymentSignature(b);
}

/**
 * Small keyed state beside the metadata: function state (`context.state`),
 * triggers, dead letters, API keys, rate-limit buckets, leases, usage counters.
 * `file-kv-store.ts` (standalone) and `redis-kv-store.ts`.
 *
 * Two shapes:
 * - plain keys with optional TTL and atomic counters (`get/set/delete/incr`);
 * - collections: listable maps of field → value without TTL (`hget/hset/hdel/hgetall`),
 *   for small sets a user lists (triggers of a namespace, its dead letters, its keys).
 */
export interface KeyValueStore {
  readonly status: StoreStatus;
  waitUntilReady(): Promise<void>;
  close(): Promise<void>;

  get(key: string): Promise<string | undefined>;
  /**
   * Set a value. With `ifAbsent`, only when the key does not exist (a lock or
   * lease); returns whether it was written.
   */
  set(key: string, value: string, opts?: { ttlMs?: number; ifAbsent?: boolean }): Promise<boolean>;
  /** Returns whether the key existed. */
  delete(key: string): Promise<boolean>;
  /** Atomically add `by` (default 1) and return the new value; `ttlMs` is set when the key is created. */
  incr(key: string, by?: number, opts?: { ttlMs?: number }): Promise<number>;

  /**
   * Take `cost` tokens from the token bucket at `key` (refilled at
   * `ratePerSecond`, holding at most `burst`). Atomic across processes.
   * `retryAfterMs` says when enough tokens will be there again.
   */
  takeTokens(key: string, ratePerSecond: number, burst: number, cost?: number): Promise<{ allowed: boolean; retryAfterMs: number }>;

  hget(collection: string, field: string): Promise<string | undefined>;
  hset(collection: string, field: string, value: string): Promise<void>;
  /** Returns whether the field existed. */
  hdel(collection: string, field: string): Promise<boolean>;
  hgetall(collection: string): Promise<Record<string, string>>;
  /** Remove a whole collection. Returns whether it existed. */
  deleteCollection(collection: string): Promise<boolean>;

  /**
   * Remove every plain key and every collection whose name starts with
   * `prefix` (e.g. `state:<ns>:`, a deleted namespace's state). End the
   * prefix with a separator: `state:ns` would also match `state:ns2:…`.
   * Works in bounded batches (never one long blocking command); idempotent,
   * so an interrupted purge is finished by calling it again. Keys written
   * under the prefix while it runs may survive. Returns how many keys and
   * collections were removed.
   */
  deleteByPrefix(prefix: string): Promise<number>;
}
