import { NotFoundError } from '../core/errors.js';
import type { FunctionVersion } from '../core/types.js';
import type { MetadataStore } from '../storage/types.js';
import type { Alias, AliasStore } from './alias-store.js';
import type { FunctionTarget } from './function-target.js';
import { routeVersion } from './weighted-routing.js';

/** What a call runs: the version, and the alias that chose it when the caller named one. */
export interface RoutedFunction {
  fn: FunctionVersion;
  alias?: string;
}

/**
 * How long a process routes by an alias without reading it again. A change
 * through a gateway drops the entry there at once (and tells the other
 * gateways); the time bound covers the other processes (schedulers firing
 * triggers, executors sending on-failure calls) and a lost notice.
 */
export const ALIAS_CACHE_MS = 1000;
const ALIAS_CACHE_MAX = 10_000;

interface CachedAlias {
  alias: Alias;
  /** Versions this alias has routed to, read once each while the entry lives. */
  versions: Map<number, FunctionVersion>;
  until: number;
}

/**
 * Turns a {@link FunctionTarget} into the version one call runs: an exact
 * version, the latest, or, for an alias, a version drawn per call by the
 * alias's weights. The one resolution every way in uses (invoke, web
 * routes, triggers, on-failure calls).
 */
export class FunctionRouter {
  private readonly cache = new Map<string, CachedAlias>();
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      store: Pick<MetadataStore, 'getFunction' | 'getFunctionVersion'>;
      aliases: Pick<AliasStore, 'get'>;
      /** Uniform in [0, 1): one draw per aliased call. */
      random?: () => number;
      clock?: () => number;
      cacheMs?: number;
    },
  ) {
    this.random = deps.random ?? Math.random;
    this.now = deps.clock ?? Date.now;
  }

  async resolve(namespace: string, target: FunctionTarget): Promise<RoutedFunction> {
    if (target.alias !== undefined) return this.viaAlias(namespace, target.name, target.alias);
    if (target.version !== undefined) return { fn: await this.version(namespace, target.name, target.version) };
    const rec = await this.deps.store.getFunction(namespace, target.name);
    if (!rec) throw new NotFoundError('function', target.name);
    return { fn: rec.latest };
  }

  /** Drop what is cached of a function's aliases (they or the function changed). */
  forget(namespace: string, name: string): void {
    const prefix = `${namespace}/${name}:`;
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  private async viaAlias(namespace: string, name: string, aliasName: string): Promise<RoutedFunction> {
    const entry = await this.aliasEntry(namespace, name, aliasName);
    const version = routeVersion(entry.alias, this.random());
    let fn = entry.versions.get(version);
    if (fn === undefined) {
      fn = await this.version(namespace, name, version);
      entry.versions.set(version, fn);
    }
    return { fn, alias: aliasName };
  }

  private async aliasEntry(namespace: string, name: string, aliasName: string): Promise<CachedAlias> {
    const key = `${namespace}/${name}:${aliasName}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > this.now()) return hit;
    const alias = await this.deps.aliases.get(namespace, name, aliasName);
    if (alias === undefined) {
      // Say which is missing: the function or only its alias.
      if ((await this.deps.store.getFunction(namespace, name)) === undefined) throw new NotFoundError('function', name);
      throw new NotFoundError('alias', `${name}:${aliasName}`);
    }
    if (this.cache.size >= ALIAS_CACHE_MAX) this.cache.clear();
    const entry: CachedAlias = { alias, versions: new Map(), until: this.now() + (this.deps.cacheMs ?? ALIAS_CACHE_MS) };
    this.cache.set(key, entry);
    return entry;
  }

  private async version(namespace: string, name: string, version: number): Promise<FunctionVersion> {
    const v = await this.deps.store.getFunctionVersion(namespace, name, version);
    if (!v) throw new NotFoundError('function', `${name}@${version}`);
    return v;
  }
}
