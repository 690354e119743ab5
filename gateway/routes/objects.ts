import express, { type Request } from 'express';
import { NotFoundError } from '../../core/errors.js';
import type { ObjectService } from '../../storage/object-service.js';
import { limitedBody, namespaceOf, param, requireWrite } from '../../web/http.js';

export interface ObjectRoutesDeps {
  objects: ObjectService;
}

/**
 * Users' objects in their namespace's buckets: put inputs in, read outputs
 * out. The same objects functions see through `context.objects`.
 *
 * - `PUT /v1/objects/:bucket/*key` — raw body of any content type (kept and
 *   served back); 200 `{ bucket, key, size }`.
 * - `GET /v1/objects/:bucket/*key` — the bytes; 404 `OBJECT_NOT_FOUND`.
 * - `DELETE /v1/objects/:bucket/*key` — 204, whether or not it existed.
 * - `GET /v1/objects/:bucket?prefix=` — `{ bucket, keys }`, sorted.
 *
 * Puts and deletes emit object events (storage triggers listen for them).
 */
export function objectRoutes(deps: ObjectRoutesDeps): express.Router {
  const r = express.Router();
  const { objects } = deps;
  const rawBody = limitedBody(objects.maxObjectBytes, (limit) => express.raw({ type: () => true, limit }));

  r.put('/v1/objects/:bucket/*key', rawBody, async (req, res) => {
    requireWrite(res);
    const bucket = param(req, 'bucket');
    const key = wildcardKey(req);
    const body: unknown = req.body;
    // No body at all (no Content-Length) is an empty object, not an error.
    const data = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
    const contentType = req.headers['content-type'];
    const { size } = await objects.put(namespaceOf(res), bucket, key, data, contentType !== undefined ? { contentType } : {});
    res.json({ bucket, key, size });
  });

  r.get('/v1/objects/:bucket/*key', async (req, res) => {
    const bucket = param(req, 'bucket');
    const key = wildcardKey(req);
    const obj = await objects.get(namespaceOf(res), bucket, key);
    if (obj === undefined) throw new NotFoundError('object', `${bucket}/${key}`);
    res.status(200);
    res.setHeader('content-type', obj.contentType ?? 'application/octet-stream');
    res.setHeader('content-length', String(obj.data.length));
    res.end(obj.data);
  });

  r.delete('/v1/objects/:bucket/*key', async (req, res) => {
    requireWrite(res);
    await objects.delete(namespaceOf(res), param(req, 'bucket'), wildcardKey(req));
    res.status(204).end();
  });

  r.get('/v1/objects/:bucket', async (req, res) => {
    const bucket = param(req, 'bucket');
    const prefix = typeof req.query['prefix'] === 'string' ? req.query['prefix'] : '';
    res.json({ bucket, keys: await objects.list(namespaceOf(res), bucket, prefix) });
  });

  return r;
}

/** Express 5 hands a `*key` wildcard over as its decoded path segments. */
function wildcardKey(req: Request): string {
  const v: unknown = req.params['key'];
  if (Array.isArray(v)) return v.map(String).join('/');
  return typeof v === 'string' ? v : '';
}
