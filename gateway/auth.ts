import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AuthError } from '../core/errors.js';
import { DEFAULT_NAMESPACE } from '../core/types.js';
import type { Principal } from './http.js';

/**
 * Resolves the caller of a /v1 request into a {@link Principal} on
 * `res.locals.principal`. Without BRISK_ADMIN_KEY everything is open and acts
 * in the default namespace; with it, `Authorization: Bearer <key>` must match.
 */
export function authenticate(adminKey: string | undefined) {
  const expected = adminKey === undefined ? undefined : sha256(adminKey);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) {
      res.locals['principal'] = { namespace: DEFAULT_NAMESPACE, admin: true, readOnly: false } satisfies Principal;
      return next();
    }
    const token = bearerToken(req);
    if (token === undefined || !timingSafeEqual(sha256(token), expected)) {
      return next(new AuthError('UNAUTHORIZED', 'missing or invalid API key (Authorization: Bearer <key>)'));
    }
    res.locals['principal'] = { namespace: DEFAULT_NAMESPACE, admin: true, readOnly: false } satisfies Principal;
    next();
  };
}

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  return token.length > 0 ? token : undefined;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
