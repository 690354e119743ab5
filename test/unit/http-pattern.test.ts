import { describe, expect, it } from 'vitest';
import { compareSpecificity, compileHttpPattern } from '../../triggers/http-pattern.js';

// What the hand-written matcher did, held now that path-to-regexp matches:
// its defaults differ (case-insensitive, a wildcard needs one segment, one
// trailing slash only), so each of these is a setting or a normalisation.
describe('http trigger patterns on path-to-regexp', () => {
  it('matches case-sensitively', () => {
    expect(compileHttpPattern('/users/:id').match('/Users/7')).toBeUndefined();
    expect(compileHttpPattern('/Users/:Id').match('/Users/7')).toEqual({ Id: '7' });
  });

  it('ignores empty segments and a trailing slash', () => {
    expect(compileHttpPattern('/users/:id').match('//users///7/')).toEqual({ id: '7' });
    expect(compileHttpPattern('/users/:id').match('/users/')).toBeUndefined();
    expect(compileHttpPattern('/files/*rest').match('/files/a//b/')).toEqual({ rest: 'a/b' });
    expect(compileHttpPattern('/').match('//')).toEqual({});
  });

  it('lets a final wildcard match nothing, also at the root', () => {
    expect(compileHttpPattern('/files/*rest').match('/files/')).toEqual({ rest: '' });
    expect(compileHttpPattern('/*all').match('/')).toEqual({ all: '' });
    expect(compileHttpPattern('/*all').match('/a/b')).toEqual({ all: 'a/b' });
  });

  it('decodes parameters per segment, and keeps a malformed encoding as typed', () => {
    expect(compileHttpPattern('/files/*rest').match('/files/a%2Fb/c')).toEqual({ rest: 'a/b/c' });
    expect(compileHttpPattern('/users/:id').match('/users/a%2Fb')).toEqual({ id: 'a/b' });
    expect(compileHttpPattern('/users/:id').match('/users/%E0%A4%A')).toEqual({ id: '%E0%A4%A' });
    expect(compileHttpPattern('/users/:id').match('/users/caf%C3%A9')).toEqual({ id: 'café' });
  });

  it('compares static segments decoded (m%65 is me)', () => {
    expect(compileHttpPattern('/users/me').match('/users/m%65')).toEqual({});
    expect(compileHttpPattern('/a.b/~x-y_z').match('/a%2Eb/%7Ex%2Dy%5Fz')).toEqual({});
    expect(compileHttpPattern('/users/me').match('/users/me%2F')).toBeUndefined();
  });

  it('ranks static over :param over *rest, and erases names in the shape', () => {
    const sorted = ['/users/*rest', '/users/:id', '/users/me'].map(compileHttpPattern).sort(compareSpecificity);
    expect(sorted.map((c) => c.pattern)).toEqual(['/users/me', '/users/:id', '/users/*rest']);
    expect(compileHttpPattern('/files/*rest').shape).toBe('/files/*');
    expect(compileHttpPattern('/a/:x/b').shape).toBe(compileHttpPattern('/a/:y/b').shape);
    expect(compileHttpPattern('/').shape).toBe('/');
  });
});
