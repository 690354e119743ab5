import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { retry } from '../core/backoff.js';
import { BriskError, NotFoundError } from '../core/errors.js';
import type { KeyValueStore } from '../storage/types.js';
import type { AliasRouting } from './weighted-routing.js';

/** One earlier routing of an alias, kept so that `rollback` can return to it. */
export interface AliasHistoryEntry extends AliasRouting {
  /** When this routing was replaced. */
  replacedAt: string;
}

/** A named pointer to a version of a function, with optional weighted traffic to others. */
export interface Alias extends AliasRouting {
  namespace: string;
  function: string;
  name: string;
  description?: string;
  createdAt: string;
  updatedAt: string;
  /** Earlier routings, oldest first, at most {@link ALIAS_HISTORY_MAX}. */
  history: AliasHistoryEntry[];
}

/** How far back `rollback` can go. */
export const ALIAS_HISTORY_MAX = 20;

/** What a write of an alias asks for; unset `description` keeps the current one. */
export interface AliasChange extends AliasRouting {
  description?: string;
}

const routingShape = {
  version: z.number().int().positive(),
  weights: z.record(z.string(), z.number()).optional(),
};
const storedAlias = z.object({
  namespace: z.string(),
  function: z.string(),
  name: z.string(),
  ...routingShape,
  description: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  history: z.array(z.object({ ...routingShape, replacedAt: z.string() })),
});

/** Collection of one function's aliases: field = alias name, value = JSON. */
export function aliasesCollection(namespace: string, fn: string): string {
  return `${aliasesPrefix(namespace)}${fn}`;
}

/** Prefix of every alias collection (and alias lock) of a namespace: what its purge removes. */
export function aliasesPrefix(namespace: string): string {
  return `aliases:${namespace}:`;
}

/** The lock that orders changes of one function's aliases across gateways. */
function aliasLockKey(namespace: string, fn: string): string {
  return `${aliasesPrefix(namespace)}${fn}:lock`;
}

/**
 * A holder that dies leaves the lock for this long; a change (a read and a
 * write) takes milliseconds, so the bound only matters after a crash.
 */
const LOCK_TTL_MS = 5000;
/** A waiter gives up after the TTL plus a margin: by then a dead holder's lock has expired. */
const LOCK_WAIT_MS = LOCK_TTL_MS + 2000;

type AliasKv = Pick<KeyValueStore, 'get' | 'set' | 'delete' | 'hget' | 'hset' | 'hdel' | 'hgetall' | 'deleteCollection'>;

/**
 * Aliases on the {@link KeyValueStore}: one listable collection per function
 * (so both store drivers and their contract suite cover it). A change is a
 * read-modify-write of the alias's history, so changes of one function's
 * aliases take a short lock (`set ifAbsent` with a TTL) and never lose an
 * entry to a concurrent change on another gateway.
 */
export class AliasStore {
  constructor(private readonly kv: AliasKv) {}

  async get(namespace: string, fn: string, alias: string): Promise<Alias | undefined> {
    const raw = await this.kv.hget(aliasesCollection(namespace, fn), alias);
    return raw === undefined ? undefined : decode(raw);
  }

  /** A function's aliases, sorted by name. */
  async list(namespace: string, fn: string): Promise<Alias[]> {
    const all = await this.kv.hgetall(aliasesCollection(namespace, fn));
    return Object.values(all)
      .map(decode)
      .filter((a): a is Alias => a !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Create the alias or move it; a move pushes the routing it replaces onto
   * the history (unless nothing changed). Validation is the caller's
   * (`AliasService`): this trusts `change`.
   */
  put(namespace: string, fn: string, alias: string, change: AliasChange, now = new Date()): Promise<{ alias: Alias; created: boolean }> {
    return this.locked(namespace, fn, async () => {
      const current = await this.get(namespace, fn, alias);
      const at = now.toISOString();
      const routing = normalRouting(change);
      const description = change.description ?? current?.description;
      const next: Alias = {
        namespace,
        function: fn,
        name: alias,
        ...routing,
        ...(description !== undefined && description !== '' ? { description } : {}),
        createdAt: current?.createdAt ?? at,
        updatedAt: at,
        history: current === undefined ? [] : withHistory(current, routing, at),
      };
      await this.write(next);
      return { alias: next, created: current === undefined };
    });
  }

  /**
   * Return the alias to the routing before its last change, dropping that
   * history entry (so a second rollback goes one step further back).
   * Throws ALIAS_NOT_FOUND, or NO_ROLLBACK_TARGET when there is no history.
   * `accept` may refuse the target (a version deleted since) by throwing.
   */
  rollback(namespace: string, fn: string, alias: string, accept: (target: AliasRouting) => Promise<void> = async () => {}, now = new Date()): Promise<Alias> {
    return this.locked(namespace, fn, async () => {
      const current = await this.get(namespace, fn, alias);
      if (current === undefined) throw new NotFoundError('alias', `${fn}:${alias}`);
      const previous = current.history.at(-1);
      if (previous === undefined) {
        throw new BriskError('NO_ROLLBACK_TARGET', `alias '${fn}:${alias}' has no earlier routing to go back to`, { status: 409, data: { alias, version: current.version } });
      }
      const target = normalRouting(previous);
      await accept(target);
      const next: Alias = { ...stripRouting(current), ...target, updatedAt: now.toISOString(), history: current.history.slice(0, -1) };
      await this.write(next);
      return next;
    });
  }

  /** Returns whether it existed. */
  delete(namespace: string, fn: string, alias: string): Promise<boolean> {
    return this.kv.hdel(aliasesCollection(namespace, fn), alias);
  }

  /** Every alias of a function (it is being deleted). */
  async deleteFunction(namespace: string, fn: string): Promise<void> {
    await this.kv.deleteCollection(aliasesCollection(namespace, fn));
  }

  private async write(a: Alias): Promise<void> {
    await this.kv.hset(aliasesCollection(a.namespace, a.function), a.name, JSON.stringify(a));
  }

  private async locked<T>(namespace: string, fn: string, body: () => Promise<T>): Promise<T> {
    const key = aliasLockKey(namespace, fn);
    const token = randomUUID();
    const got = await retry(() => this.kv.set(key, token, { ttlMs: LOCK_TTL_MS, ifAbsent: true }), {
      backoff: { type: 'exponential', initialMs: 10, factor: 2, maxMs: 200, jitter: 0.2 },
      until: (ok) => ok,
      signal: AbortSignal.timeout(LOCK_WAIT_MS),
    }).catch((err: unknown) => {
      if (err instanceof DOMException && err.name === 'TimeoutError') return false;
      throw err;
    });
    if (!got) {
      throw new BriskError('ALIAS_BUSY', `the aliases of '${fn}' are being changed by another request; try again`, { status: 409, retryable: true });
    }
    try {
      return await body();
    } finally {
      // Only our own lock: after a TTL expiry another holder may have it.
      if ((await this.kv.get(key)) === token) await this.kv.delete(key);
    }
  }
}

function decode(raw: string): Alias | undefined {
  try {
    const parsed = storedAlias.safeParse(JSON.parse(raw));
    return parsed.success ? (parsed.data as Alias) : undefined;
  } catch {
    return undefined;
  }
}

/** The routing without an empty `weights`, so equal routings compare equal. */
function normalRouting(r: AliasRouting): AliasRouting {
  const weights = r.weights !== undefined && Object.keys(r.weights).length > 0 ? r.weights : undefined;
  return weights === undefined ? { version: r.version } : { version: r.version, weights };
}

function stripRouting(a: Alias): Omit<Alias, 'version' | 'weights'> {
  const { version: _v, weights: _w, ...rest } = a;
  return rest;
}

function sameRouting(a: AliasRouting, b: AliasRouting): boolean {
  return JSON.stringify(normalRouting(a)) === JSON.stringify(normalRouting(b));
}

/** The history after `current` is replaced by `next` (unchanged when the routing stays the same). */
function withHistory(current: Alias, next: AliasRouting, at: string): AliasHistoryEntry[] {
  if (sameRouting(current, next)) return current.history;
  const entry: AliasHistoryEntry = { ...normalRouting(current), replacedAt: at };
  return [...current.history, entry].slice(-ALIAS_HISTORY_MAX);
}
