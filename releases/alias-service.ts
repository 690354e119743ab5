import { BriskError, NotFoundError } from '../core/errors.js';
import type { MetadataStore } from '../storage/types.js';
import type { Alias, AliasChange, AliasStore } from './alias-store.js';
import { assertAliasName } from './function-target.js';
import { routingProblem, type AliasRouting } from './weighted-routing.js';

/**
 * Creating, moving, rolling back, promoting and deleting aliases, checked
 * against the function's versions. Every change is told to `onChange` (the
 * gateway drops its cached routing and tells the other gateways).
 */
export class AliasService {
  constructor(
    private readonly deps: {
      store: Pick<MetadataStore, 'getFunction'>;
      aliases: AliasStore;
      onChange?: (namespace: string, fn: string) => void;
    },
  ) {}

  async list(namespace: string, fn: string): Promise<Alias[]> {
    await this.versionsOf(namespace, fn);
    return this.deps.aliases.list(namespace, fn);
  }

  async get(namespace: string, fn: string, alias: string): Promise<Alias> {
    assertAliasName(alias);
    await this.versionsOf(namespace, fn);
    const a = await this.deps.aliases.get(namespace, fn, alias);
    if (a === undefined) throw new NotFoundError('alias', `${fn}:${alias}`);
    return a;
  }

  /** Create or move an alias; its routing must name versions the function has. */
  async put(namespace: string, fn: string, alias: string, change: AliasChange): Promise<{ alias: Alias; created: boolean }> {
    assertAliasName(alias);
    this.check(fn, change, await this.versionsOf(namespace, fn));
    const result = await this.deps.aliases.put(namespace, fn, alias, change);
    this.deps.onChange?.(namespace, fn);
    return result;
  }

  /** Back to the routing before the alias's last change. */
  async rollback(namespace: string, fn: string, alias: string): Promise<Alias> {
    assertAliasName(alias);
    await this.versionsOf(namespace, fn);
    const result = await this.deps.aliases.rollback(namespace, fn, alias, async (target) => {
      // Versions are only deleted with their function, but read again under the lock to be sure.
      this.check(fn, target, await this.versionsOf(namespace, fn));
    });
    this.deps.onChange?.(namespace, fn);
    return result;
  }

  /**
   * Point `to` at the version `from` points at (weights dropped: a promotion
   * sends all of `to`'s traffic there); `to` is created if it does not exist.
   */
  async promote(namespace: string, fn: string, from: string, to: string): Promise<{ alias: Alias; created: boolean }> {
    const source = await this.get(namespace, fn, from);
    assertAliasName(to);
    return this.put(namespace, fn, to, { version: source.version });
  }

  async delete(namespace: string, fn: string, alias: string): Promise<void> {
    assertAliasName(alias);
    await this.versionsOf(namespace, fn);
    if (!(await this.deps.aliases.delete(namespace, fn, alias))) throw new NotFoundError('alias', `${fn}:${alias}`);
    this.deps.onChange?.(namespace, fn);
  }

  private check(fn: string, routing: AliasRouting, versions: ReadonlySet<number>): void {
    const problem = routingProblem(routing, versions);
    if (problem === undefined) return;
    const status = problem.code === 'VERSION_NOT_FOUND' ? 404 : 400;
    throw new BriskError(problem.code, `${fn}: ${problem.message}`, {
      status,
      data: { function: fn, ...(problem.version !== undefined ? { version: problem.version } : {}) },
    });
  }

  private async versionsOf(namespace: string, fn: string): Promise<ReadonlySet<number>> {
    const rec = await this.deps.store.getFunction(namespace, fn);
    if (!rec) throw new NotFoundError('function', fn);
    return new Set(rec.versions);
  }
}
