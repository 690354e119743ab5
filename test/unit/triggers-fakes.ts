import type { KeyValueStore, StoreStatus } from '../../storage/types.js';

/** The part of the store triggers use (leases and collections). */
export type TriggerKv = Pick<KeyValueStore, 'status' | 'get' | 'set' | 'delete' | 'incr' | 'hget' | 'hset' | 'hdel' | 'hgetall' | 'deleteCollection'>;

/** An in-memory KeyValueStore subset for the trigger unit tests (TTL honoured on read). */
export class MemoryKv implements TriggerKv {
  readonly status: StoreStatus = 'ready';
  private readonly keys = new Map<string, { value: string; expiresAt?: number }>();
  private readonly collections = new Map<string, Map<string, string>>();

  async get(key: string): Promise<string | undefined> {
    return this.read(key);
  }
  /** Synchronous, so set-if-absent is atomic like the real stores. */
  private read(key: string): string | undefined {
    const e = this.keys.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.keys.delete(key);
      return undefined;
    }
    return e.value;
  }
  async set(key: string, value: string, opts: { ttlMs?: number; ifAbsent?: boolean } = {}): Promise<boolean> {
    if (opts.ifAbsent && this.read(key) !== undefined) return false;
    this.keys.set(key, { value, ...(opts.ttlMs !== undefined ? { expiresAt: Date.now() + opts.ttlMs } : {}) });
    return true;
  }
  async delete(key: string): Promise<boolean> {
    return this.keys.delete(key);
  }
  async incr(key: string, by = 1): Promise<number> {
    const n = Number(this.read(key) ?? '0') + by;
    this.keys.set(key, { value: String(n) });
    return n;
  }
  async hget(c: string, f: string): Promise<string | undefined> {
    return this.collections.get(c)?.get(f);
  }
  async hset(c: string, f: string, v: string): Promise<void> {
    if (!this.collections.has(c)) this.collections.set(c, new Map());
    this.collections.get(c)?.set(f, v);
  }
  async hdel(c: string, f: string): Promise<boolean> {
    return this.collections.get(c)?.delete(f) ?? false;
  }
  async hgetall(c: string): Promise<Record<string, string>> {
    return Object.fromEntries(this.collections.get(c) ?? []);
  }
  async deleteCollection(c: string): Promise<boolean> {
    return this.collections.delete(c);
  }
}
