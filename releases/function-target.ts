import { ValidationError } from '../core/errors.js';
import { ALIAS_PATTERN, FUNCTION_TARGET_PATTERN, NAME_PATTERN } from '../core/schemas.js';

/**
 * A function as a caller names it: by name (its latest version), by name and
 * alias (`name:alias`, the alias's routing picks the version), or by name and
 * an exact version (`?version=N`, the API only).
 */
export interface FunctionTarget {
  name: string;
  alias?: string;
  version?: number;
}

/** `name` or `name:alias`, as written in triggers, on-failure targets and the CLI. */
export function parseFunctionTarget(text: string): FunctionTarget {
  if (!FUNCTION_TARGET_PATTERN.test(text)) {
    throw new ValidationError('INVALID_NAME', `invalid function '${text.slice(0, 80)}': use name or name:alias`);
  }
  const [name = '', alias] = text.split(':');
  return alias === undefined ? { name } : { name, alias };
}

/** The inverse of {@link parseFunctionTarget}. */
export function formatFunctionTarget(t: Pick<FunctionTarget, 'name' | 'alias'>): string {
  return t.alias === undefined ? t.name : `${t.name}:${t.alias}`;
}

/** Aliases start with a letter, so `7` is never read as an alias and `prod` never as a version. */
export function assertAliasName(alias: string): void {
  if (!ALIAS_PATTERN.test(alias)) {
    throw new ValidationError('INVALID_ALIAS', `invalid alias '${alias.slice(0, 80)}': use [a-z][a-z0-9-_]{0,62}`);
  }
}

/** The function-name half of a target, checked like any function name. */
export function isFunctionName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/**
 * The target of an invoke request: the path's `name` or `name:alias`, and
 * the query's `version` or `alias` (one of the two at most). The one parser
 * every invoke route uses, so they all read a request alike.
 */
export function invokeTarget(pathName: string, query: { version?: unknown; alias?: unknown }): FunctionTarget {
  const target = parseFunctionTarget(pathName);
  const { version, alias } = query;
  if (version !== undefined) {
    const v = typeof version === 'string' && /^[1-9][0-9]{0,15}$/.test(version) ? Number(version) : NaN;
    if (!Number.isSafeInteger(v)) throw new ValidationError('INVALID_VERSION', 'version must be a positive integer');
    target.version = v;
  }
  if (alias !== undefined) {
    if (typeof alias !== 'string') throw new ValidationError('INVALID_ALIAS', 'alias must be given once');
    assertAliasName(alias);
    if (target.alias !== undefined && target.alias !== alias) {
      throw new ValidationError('INVALID_ALIAS', `the path names alias '${target.alias}' and the query '${alias.slice(0, 80)}'`);
    }
    target.alias = alias;
  }
  if (target.version !== undefined && target.alias !== undefined) {
    throw new ValidationError('INVALID_ALIAS', 'name a version or an alias, not both');
  }
  return target;
}
