import { describe, expect, it } from 'vitest';
import { BriskError } from '../../core/errors.js';
import { invokeTarget, parseFunctionTarget } from '../../releases/function-target.js';
import { primaryShare, routeVersion, routingProblem } from '../../releases/weighted-routing.js';
import { FileStore } from '../../storage/file-store.js';
import { webTarget } from '../../gateway/routes/web.js';
import { releasesContract } from '../contracts/releases-contract.js';
import { openTempKv, tempDir } from '../helpers/temp-stores.js';

releasesContract('file stores', async () => ({ store: new FileStore(tempDir('meta'), { activationTtlS: 3600 }), kv: await openTempKv() }));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof BriskError ? err.code : 'not a BriskError';
  }
}

describe('weighted routing', () => {
  it('gives each weighted version its slice of [0, 1) and the alias version the rest', () => {
    const routing = { version: 7, weights: { '9': 0.05, '8': 0.1 } };
    // Slices in version order: 8 takes [0, 0.1), 9 takes [0.1, 0.15), 7 the rest.
    expect(routeVersion(routing, 0)).toBe(8);
    expect(routeVersion(routing, 0.0999)).toBe(8);
    expect(routeVersion(routing, 0.1)).toBe(9);
    expect(routeVersion(routing, 0.1499)).toBe(9);
    expect(routeVersion(routing, 0.1501)).toBe(7);
    expect(routeVersion(routing, 0.9999)).toBe(7);
    expect(routeVersion({ version: 3 }, 0)).toBe(3);
    expect(primaryShare(routing)).toBeCloseTo(0.85, 9);
  });

  it('names the first problem of a routing', () => {
    const versions = new Set([1, 2, 3, 4, 5, 6]);
    expect(routingProblem({ version: 1 }, versions)).toBeUndefined();
    expect(routingProblem({ version: 1, weights: { '2': 0.1, '3': 0.1, '4': 0.1, '5': 0.1, '6': 0.1 } }, versions)?.code).toBe('INVALID_WEIGHTS');
    expect(routingProblem({ version: 1, weights: { '2': Number.NaN } }, versions)?.code).toBe('INVALID_WEIGHTS');
    expect(routingProblem({ version: 1, weights: { '2': -0.1 } }, versions)?.code).toBe('INVALID_WEIGHTS');
    expect(routingProblem({ version: 8 }, versions)).toMatchObject({ code: 'VERSION_NOT_FOUND', version: 8 });
  });
});

describe('function targets', () => {
  it('reads name and name:alias, and refuses anything else', () => {
    expect(parseFunctionTarget('hello')).toEqual({ name: 'hello' });
    expect(parseFunctionTarget('hello:prod')).toEqual({ name: 'hello', alias: 'prod' });
    expect(codeOf(() => parseFunctionTarget('hello:7'))).toBe('INVALID_NAME');
    expect(codeOf(() => parseFunctionTarget('hello:prod:x'))).toBe('INVALID_NAME');
    expect(codeOf(() => parseFunctionTarget('Hello'))).toBe('INVALID_NAME');
  });

  it('reads an invoke request: path name or name:alias, ?version or ?alias, never both', () => {
    expect(invokeTarget('hello', {})).toEqual({ name: 'hello' });
    expect(invokeTarget('hello', { version: '3' })).toEqual({ name: 'hello', version: 3 });
    expect(invokeTarget('hello', { alias: 'prod' })).toEqual({ name: 'hello', alias: 'prod' });
    expect(invokeTarget('hello:prod', { alias: 'prod' })).toEqual({ name: 'hello', alias: 'prod' });
    expect(codeOf(() => invokeTarget('hello', { version: '0' }))).toBe('INVALID_VERSION');
    expect(codeOf(() => invokeTarget('hello', { version: '1.5' }))).toBe('INVALID_VERSION');
    expect(codeOf(() => invokeTarget('hello', { alias: ['a', 'b'] }))).toBe('INVALID_ALIAS');
    expect(codeOf(() => invokeTarget('hello', { alias: '9' }))).toBe('INVALID_ALIAS');
    expect(codeOf(() => invokeTarget('hello', { alias: 'prod', version: '2' }))).toBe('INVALID_ALIAS');
    expect(codeOf(() => invokeTarget('hello:prod', { alias: 'canary' }))).toBe('INVALID_ALIAS');
  });

  it('reads a web route segment: name or name@alias', () => {
    expect(webTarget('site')).toEqual({ name: 'site' });
    expect(webTarget('site@beta')).toEqual({ name: 'site', alias: 'beta' });
    expect(codeOf(() => webTarget('site@'))).toBe('INVALID_ALIAS');
    expect(codeOf(() => webTarget('site@2'))).toBe('INVALID_ALIAS');
  });
});
