import path from 'node:path';
import { Journal } from './journal.js';
import type { KeyValueStore, StoreStatus } from './types.js';

type Entry =
  | { op: 'set'; k: string; v: string; exp?: number }
  | { op: 'del'; k: string }
  | { op: 'hset'; c: string; f: string; v: string }
  | { op: 'hdel'; c: string; f: string }
  /** A whole collection removed. */
  | { op: 'hdrop'; c: string }
  /** Every key and collection under a prefix removed: one line, however many it removes. */
  | { op: 'delp'; p: string };

interface Value {
  v: string;
  /** Expiry, epoch ms. */
  exp?: number;
}

/**
 * Standalone {@link KeyValueStore}: in memory, persisted to `kv.jsonl` under
 * `dir` and compacted at start and every so many writes. Expired keys are
 * dropped lazily on read and at compaction.
 */
export class FileKeyValueStore implements KeyValueStore {
  private readonly keys = new Map<string, Value>();
  private readonly collections = new Map<string, Map<string, string>>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly journal: Journal<Entry>;
  private state: StoreStatus = 'connecting';

  constructor(dir: string, private readonly now: () => number = Date.now) {
    this.journal = new Journal(path.join(dir, 'kv.jsonl'));
  }

  get status(): StoreStatus {
    return this.state;
  }

  async waitUntilReady(): Promise<void> {
    if (this.state !== 'connecting') return;
    for (const e of this.journal.open()) this.apply(e);
    this.compact();
    this.state = 'ready';
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.journal.close();
    this.state = 'closed';
  }

  async get(key: string): Promise<string | undefined> {
    return this.live(key)?.v;
  }

  async set(key: string, value: string, opts: { ttlMs?: number; ifAbsent?: boolean } = {}): Promise<boolean> {
    if (opts.ifAbsent && this.live(key) !== undefined) return false;
    this.write({ op: 'set', k: key, v: value, ...(opts.ttlMs !== undefined ? { exp: this.now() + opts.ttlMs } : {}) });
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const existed = this.live(key) !== undefined;
    if (existed) this.write({ op: 'del', k: key });
    return existed;
  }

  async incr(key: string, by = 1, opts: { ttlMs?: number } = {}): Promise<number> {
    const cur = this.live(key);
    const next = (cur === undefined ? 0 : Number(cur.v) || 0) + by;
    const exp = cur?.exp ?? (opts.ttlMs !== undefined ? this.now() + opts.ttlMs : undefined);
    this.write({ op: 'set', k: key, v: String(next), ...(exp !== undefined ? { exp } : {}) });
    return next;
  }

  async takeTokens(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<{ allowed: boolean; retryAfterMs: number }> {
    // Buckets are hot and short-lived: kept in memory only (a restart refills them).
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((cost - b.tokens) / ratePerSecond) * 1000) };
  }

  async hget(collection: string, field: string): Promise<string | undefined> {
    return this.collections.get(collection)?.get(field);
  }

  async hset(collection: string, field: string, value: string): Promise<void> {
    this.write({ op: 'hset', c: collection, f: field, v: value });
  }

  async hdel(collection: string, field: string): Promise<boolean> {
    const existed = this.collections.get(collection)?.has(field) ?? false;
    if (existed) this.write({ op: 'hdel', c: collection, f: field });
    return existed;
  }

  async hgetall(collection: string): Promise<Record<string, string>> {
    return Object.fromEntries(this.collections.get(collection) ?? []);
  }

  async deleteCollection(collection: string): Promise<boolean> {
    const existed = this.collections.has(collection);
    if (existed) this.write({ op: 'hdrop', c: collection });
    return existed;
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    // Everything is in memory: one pass over the maps (no I/O per key) and one
    // journal line, so even a big namespace costs one scan, not one write per key.
    const n = this.countPrefix(prefix);
    if (n > 0) this.write({ op: 'delp', p: prefix });
    return n;
  }

  private countPrefix(prefix: string): number {
    const now = this.now();
    let n = 0;
    for (const [k, v] of this.keys) if (k.startsWith(prefix) && (v.exp === undefined || v.exp > now)) n++;
    for (const c of this.collections.keys()) if (c.startsWith(prefix)) n++;
    return n;
  }

  private live(key: string): Value | undefined {
    const v = this.keys.get(key);
    if (v?.exp !== undefined && v.exp <= this.now()) {
      this.keys.delete(key);
      return undefined;
    }
    return v;
  }

  private write(e: Entry): void {
    this.journal.append(e);
    this.apply(e);
    if (this.journal.needsCompaction) this.compact();
  }

  private apply(e: Entry): void {
    switch (e.op) {
      case 'set':
        this.keys.set(e.k, e.exp !== undefined ? { v: e.v, exp: e.exp } : { v: e.v });
        break;
      case 'del':
        this.keys.delete(e.k);
        break;
      case 'hset': {
        let c = this.collections.get(e.c);
        if (!c) {
          c = new Map();
          this.collections.set(e.c, c);
        }
        c.set(e.f, e.v);
        break;
      }
      case 'hdel': {
        const c = this.collections.get(e.c);
        c?.delete(e.f);
        if (c?.size === 0) this.collections.delete(e.c);
        break;
      }
      case 'hdrop':
        this.collections.delete(e.c);
        break;
      case 'delp':
        // Deleting from a Map while iterating it is safe: the iterator skips removed entries.
        for (const k of this.keys.keys()) if (k.startsWith(e.p)) this.keys.delete(k);
        for (const c of this.collections.keys()) if (c.startsWith(e.p)) this.collections.delete(c);
        break;
    }
  }

  private compact(): void {
    const now = this.now();
    const keys = this.keys;
    const collections = this.collections;
    this.journal.compact(
      (function* (): Iterable<Entry> {
        for (const [k, v] of keys) {
          if (v.exp !== undefined && v.exp <= now) continue;
          yield v.exp !== undefined ? { op: 'set', k, v: v.v, exp: v.exp } : { op: 'set', k, v: v.v };
        }
        for (const [c, fields] of collections) for (const [f, v] of fields) yield { op: 'hset', c, f, v };
      })(),
    );
  }
}
