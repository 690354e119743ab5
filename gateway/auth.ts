import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AuthError } from '../core/errors.js';
import { DEFAULT_NAMESPACE } from '../core/types.js';
import { assertNamespaceName, type TenancyService } from '../tenancy/tenancy-service.js';
import type { Principal } from '../web/http.js';

/** Header the operator uses to act inside a namespace with the admin key. */
export const NAMESPACE_HEADER = 'x-brisk-namespace';

/**
 * Who is calling: the admin key (acts in the namespace named by
 * `x-brisk-namespace`, default `default`), a namespace key (acts in its own
 * namespace only; asking for another is 403), or nobody (undefined).
 * Without an admin key configured (unit tests only: every real mode has one)
 * an anonymous caller is the admin.
 */
export class Authenticator {
  private readonly adminHash: Buffer | undefined;

  constructor(
    adminKey: string | undefined,
    private readonly tenancy: TenancyService,
  ) {
    this.adminHash = adminKey === undefined ? undefined : sha256(adminKey);
  }

  async principal(req: Request): Promise<Principal | undefined> {
    const token = bearerToken(req);
    const wanted = namespaceHeader(req);
    if (token === undefined) {
      return this.adminHash === undefined ? { namespace: wanted ?? DEFAULT_NAMESPACE, admin: true, readOnly: false } : undefined;
    }
    if (this.adminHash !== undefined && timingSafeEqual(sha256(token), this.adminHash)) {
      // A namespace being deleted takes nothing new, not even from the operator (409).
      if (wanted !== undefined) await this.tenancy.usableNamespace(wanted);
      return { namespace: wanted ?? DEFAULT_NAMESPACE, admin: true, readOnly: false };
    }
    const id = await this.tenancy.verifyKey(token);
    if (!id) return undefined;
    if (wanted !== undefined && wanted !== id.namespace) {
      throw new AuthError('FORBIDDEN', `this key belongs to namespace '${id.namespace}', not '${wanted}'`);
    }
    return { namespace: id.namespace, admin: false, readOnly: id.readOnly, keyId: id.keyId };
  }

  /** Express middleware for /v1: sets `res.locals.principal` or answers 401. */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      this.principal(req).then(
        (p) => {
          if (!p) return next(new AuthError('UNAUTHORIZED', 'missing or invalid API key (Authorization: Bearer <key>)'));
          res.locals['principal'] = p;
          next();
        },
        (err: unknown) => next(err),
      );
    };
  }
}

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  return token.length > 0 ? token : undefined;
}

function namespaceHeader(req: Request): string | undefined {
  const v = req.headers[NAMESPACE_HEADER];
  if (typeof v !== 'string' || v.length === 0) return undefined;
  assertNamespaceName(v);
  return v;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
