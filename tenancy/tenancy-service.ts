import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BriskError, NotFoundError, ValidationError } from '../core/errors.js';
import { NAME_PATTERN } from '../core/schemas.js';
import { DEFAULT_NAMESPACE } from '../core/types.js';
import type { KeyValueStore } from '../storage/types.js';
import type { ApiKeyRecord, NamespaceQuotas, NamespaceRecord } from './types.js';

const NAMESPACES = 'namespaces';
const KEYS = 'apikeys';
/** `bk_<id>_<secret>`: the id finds the record in one lookup, the secret proves possession. */
const KEY_PATTERN = /^bk_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

/** How long a gateway reuses a namespace's quotas before reading them again. */
export const QUOTA_CACHE_MS = 2000;

/**
 * How long a gateway reuses a verified key's record before reading it again.
 * Revocations are pushed (see {@link TenancyService.forgetKeys}); this only
 * bounds how long a key whose revocation notice was lost keeps working.
 */
export const KEY_CACHE_MS = 10_000;
/** Keys a gateway keeps verified at once (the oldest go first). */
const KEY_CACHE_MAX = 10_000;

/** A verified API key. */
export interface KeyIdentity {
  keyId: string;
  namespace: string;
  readOnly: boolean;
}

/**
 * Namespaces, their API keys and their quotas, kept in the KeyValueStore.
 *
 * A verified key's record is reused for {@link KEY_CACHE_MS}, instead of a
 * store read on every request.
 * A revocation (a key revoked, a namespace's keys revoked by its delete) is
 * forgotten here at once and told to `onKeysRevoked`, which the gateway
 * publishes on the control topic so every other gateway forgets the keys too
 * ({@link forgetKeys}); the cache's bound only matters when such a notice is
 * lost.
 */
export class TenancyService {
  private readonly quotaCache = new Map<string, { quotas: NamespaceQuotas; until: number }>();
  /** Verified key records by key id, until when they may be reused. */
  private readonly keyCache = new Map<string, { rec: ApiKeyRecord; until: number }>();
  /** Counts revocations heard: a read that a revocation overtook is not cached (it may be the revoked record). */
  private revocations = 0;

  constructor(
    private readonly kv: KeyValueStore,
    private readonly defaults: NamespaceQuotas,
    private readonly opts: { onKeysRevoked?: (keyIds: string[]) => Promise<void>; now?: () => number } = {},
  ) {}

  /** Drop what is cached of these keys (revoked here or, per a control notice, on another gateway). */
  forgetKeys(keyIds: readonly string[]): void {
    this.revocations++;
    for (const id of keyIds) this.keyCache.delete(id);
  }

  /** Forget revoked keys here and tell the others (resolves once the notice is sent). */
  private async revoked(keyIds: string[]): Promise<void> {
    if (keyIds.length === 0) return;
    this.forgetKeys(keyIds);
    await this.opts.onKeysRevoked?.(keyIds);
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  async createNamespace(name: string, quotas: Partial<NamespaceQuotas> = {}): Promise<NamespaceRecord> {
    assertNamespaceName(name);
    const existing = await this.kv.hget(NAMESPACES, name);
    if (existing !== undefined && (JSON.parse(existing) as NamespaceRecord).deletingSince !== undefined) throw deletingError(name);
    if (name === DEFAULT_NAMESPACE || existing !== undefined) {
      throw new BriskError('NAMESPACE_EXISTS', `namespace '${name}' already exists`, { status: 409 });
    }
    const rec: NamespaceRecord = { name, createdAt: new Date().toISOString(), quotas };
    await this.kv.hset(NAMESPACES, name, JSON.stringify(rec));
    return rec;
  }

  async getNamespace(name: string): Promise<NamespaceRecord> {
    if (name === DEFAULT_NAMESPACE) {
      const stored = await this.kv.hget(NAMESPACES, name);
      return stored ? (JSON.parse(stored) as NamespaceRecord) : { name, createdAt: new Date(0).toISOString(), quotas: {} };
    }
    const raw = await this.kv.hget(NAMESPACES, name);
    if (raw === undefined) throw new NotFoundError('namespace', name);
    return JSON.parse(raw) as NamespaceRecord;
  }

  /** The namespace, if it exists and is not being deleted (409 `NAMESPACE_DELETING`): for anything that acts in it. */
  async usableNamespace(name: string): Promise<NamespaceRecord> {
    const rec = await this.getNamespace(name);
    if (rec.deletingSince !== undefined) throw deletingError(name);
    return rec;
  }

  async listNamespaces(): Promise<NamespaceRecord[]> {
    const all = Object.values(await this.kv.hgetall(NAMESPACES)).map((v) => JSON.parse(v) as NamespaceRecord);
    if (!all.some((n) => n.name === DEFAULT_NAMESPACE)) all.push(await this.getNamespace(DEFAULT_NAMESPACE));
    return all.sort((a, b) => a.name.localeCompare(b.name));
  }

  async setQuotas(name: string, quotas: Partial<NamespaceQuotas>): Promise<NamespaceRecord> {
    const rec = await this.usableNamespace(name);
    const next = { ...rec, quotas: { ...rec.quotas, ...quotas } };
    await this.kv.hset(NAMESPACES, name, JSON.stringify(next));
    this.quotaCache.delete(name);
    return next;
  }

  /**
   * First step of a delete: mark the namespace as being deleted (a create of
   * the same name is refused from now on) and revoke its keys, so its tenant
   * can no longer add data while it is purged. Idempotent: a delete that was
   * interrupted starts here again. Returns the marked record.
   */
  async beginDelete(name: string): Promise<NamespaceRecord> {
    if (name === DEFAULT_NAMESPACE) throw new ValidationError('NAMESPACE_PROTECTED', 'the default namespace cannot be deleted');
    const rec = await this.getNamespace(name);
    const marked = rec.deletingSince !== undefined ? rec : { ...rec, deletingSince: new Date().toISOString() };
    if (marked !== rec) await this.kv.hset(NAMESPACES, name, JSON.stringify(marked));
    const keys = await this.listKeys(name);
    for (const k of keys) await this.kv.hdel(KEYS, k.id);
    await this.revoked(keys.map((k) => k.id));
    this.quotaCache.delete(name);
    return marked;
  }

  /** Last step of a delete, once its data is purged: the name is free again. */
  async finishDelete(name: string): Promise<void> {
    const raw = await this.kv.hget(NAMESPACES, name);
    // Only a namespace still marked: never remove one created anew meanwhile.
    if (raw === undefined || (JSON.parse(raw) as NamespaceRecord).deletingSince === undefined) return;
    await this.kv.hdel(NAMESPACES, name);
    this.quotaCache.delete(name);
  }

  /** Namespaces whose delete began but did not finish (the process stopped mid-purge). */
  async interruptedDeletes(): Promise<string[]> {
    return (await this.listNamespaces()).filter((n) => n.deletingSince !== undefined).map((n) => n.name);
  }

  /**
   * Effective quotas of a namespace. Read on every invocation, so cached for
   * {@link QUOTA_CACHE_MS}: a quota change takes effect within that time on
   * every gateway (key revocation, in contrast, is never cached).
   */
  async quotas(namespace: string): Promise<NamespaceQuotas> {
    const hit = this.quotaCache.get(namespace);
    if (hit && hit.until > Date.now()) return hit.quotas;
    const rec = await this.getNamespace(namespace).catch(() => undefined);
    const quotas = { ...this.defaults, ...rec?.quotas };
    this.quotaCache.set(namespace, { quotas, until: Date.now() + QUOTA_CACHE_MS });
    return quotas;
  }

  /** Issue a key. The key itself is returned once and never stored. */
  async issueKey(namespace: string, opts: { readOnly?: boolean; description?: string } = {}): Promise<{ key: string; record: Omit<ApiKeyRecord, 'hash'> }> {
    await this.usableNamespace(namespace);
    const id = randomBytes(8).toString('hex');
    const key = `bk_${id}_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id,
      namespace,
      readOnly: opts.readOnly ?? false,
      hash: sha256hex(key),
      ...(opts.description !== undefined ? { description: opts.description } : {}),
      createdAt: new Date().toISOString(),
    };
    await this.kv.hset(KEYS, id, JSON.stringify(record));
    const { hash: _hash, ...visible } = record;
    return { key, record: visible };
  }

  async listKeys(namespace: string): Promise<Omit<ApiKeyRecord, 'hash'>[]> {
    const all = Object.values(await this.kv.hgetall(KEYS)).map((v) => JSON.parse(v) as ApiKeyRecord);
    return all
      .filter((k) => k.namespace === namespace)
      .map(({ hash: _hash, ...rest }) => rest)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async revokeKey(namespace: string, keyId: string): Promise<void> {
    const raw = await this.kv.hget(KEYS, keyId);
    if (raw === undefined || (JSON.parse(raw) as ApiKeyRecord).namespace !== namespace) throw new NotFoundError('key', keyId);
    await this.kv.hdel(KEYS, keyId);
    await this.revoked([keyId]);
  }

  /** The identity behind a presented key, or undefined when it is unknown or revoked. */
  async verifyKey(key: string): Promise<KeyIdentity | undefined> {
    const m = KEY_PATTERN.exec(key);
    if (!m) return undefined;
    const id = m[1] as string;
    const rec = await this.keyRecord(id);
    if (rec === undefined) return undefined;
    const presented = Buffer.from(sha256hex(key), 'hex');
    const stored = Buffer.from(rec.hash, 'hex');
    if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) return undefined;
    return { keyId: rec.id, namespace: rec.namespace, readOnly: rec.readOnly };
  }

  /** A key's record: cached while fresh, else read (and cached when it exists; an unknown id is read every time). */
  private async keyRecord(id: string): Promise<ApiKeyRecord | undefined> {
    const hit = this.keyCache.get(id);
    if (hit !== undefined && hit.until > this.now()) return hit.rec;
    const seen = this.revocations;
    const raw = await this.kv.hget(KEYS, id);
    if (raw === undefined) {
      this.keyCache.delete(id);
      return undefined;
    }
    const rec = JSON.parse(raw) as ApiKeyRecord;
    this.keyCache.delete(id);
    if (seen !== this.revocations) return rec;
    if (this.keyCache.size >= KEY_CACHE_MAX) this.keyCache.delete(this.keyCache.keys().next().value as string);
    this.keyCache.set(id, { rec, until: this.now() + KEY_CACHE_MS });
    return rec;
  }
}

function deletingError(name: string): BriskError {
  return new BriskError('NAMESPACE_DELETING', `namespace '${name}' is being deleted; try again once the delete has finished`, {
    status: 409,
    retryable: true,
    data: { namespace: name },
  });
}

export function assertNamespaceName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError('INVALID_NAMESPACE', `invalid namespace '${name.slice(0, 80)}': use [a-z0-9][a-z0-9-_]{0,62}`);
  }
}

function sha256hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
