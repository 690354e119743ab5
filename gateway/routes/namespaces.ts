import express, { type Response } from 'express';
import { z } from 'zod';
import { AuthError } from '../../core/errors.js';
import type { NamespacePurge } from '../../tenancy/namespace-purge.js';
import type { TenancyService } from '../../tenancy/tenancy-service.js';
import { limitedBody, param, parseWith, principalOf } from '../../web/http.js';

const quotasSchema = z
  .object({
    maxConcurrency: z.number().int().positive(),
    invocationsPerSecond: z.number().positive(),
    maxFunctions: z.number().int().positive(),
    maxCodeBytes: z.number().int().positive(),
    maxUnpackedBytes: z.number().int().positive(),
    maxSyncPayloadBytes: z.number().int().positive(),
    maxAsyncPayloadBytes: z.number().int().positive(),
    maxTimeoutMs: z.number().int().positive(),
    maxMemoryMb: z.number().int().positive(),
    maxProvisionedMb: z.number().int().nonnegative(),
  })
  .partial()
  .strict();

const createSchema = z.object({ quotas: quotasSchema.optional() }).strict();
const keySchema = z.object({ readOnly: z.boolean().optional(), description: z.string().max(200).optional() }).strict();

function requireAdmin(res: Response): void {
  if (!principalOf(res).admin) throw new AuthError('FORBIDDEN', 'only the admin key manages namespaces and keys');
}

/**
 * The operator's routes: namespaces, their quotas and their API keys
 * (`/v1/namespaces…`). Admin key only. A new key is shown once, in the answer
 * to its creation.
 */
export function namespaceRoutes(deps: { tenancy: TenancyService; purge: Pick<NamespacePurge, 'deleteNamespace'> }): express.Router {
  const r = express.Router();
  const json = limitedBody(64 * 1024, (limit) => express.json({ limit }));
  const { tenancy } = deps;

  r.get('/v1/namespaces', async (_req, res) => {
    requireAdmin(res);
    res.json({ namespaces: await tenancy.listNamespaces() });
  });

  r.put('/v1/namespaces/:ns', json, async (req, res) => {
    requireAdmin(res);
    const body = parseWith(createSchema, req.body ?? {});
    res.status(201).json(await tenancy.createNamespace(param(req, 'ns'), body.quotas ?? {}));
  });

  r.get('/v1/namespaces/:ns', async (req, res) => {
    requireAdmin(res);
    const ns = param(req, 'ns');
    res.json({ ...(await tenancy.getNamespace(ns)), effectiveQuotas: await tenancy.quotas(ns) });
  });

  r.patch('/v1/namespaces/:ns/quotas', json, async (req, res) => {
    requireAdmin(res);
    res.json(await tenancy.setQuotas(param(req, 'ns'), parseWith(quotasSchema, req.body ?? {})));
  });

  // Answers once everything the namespace owned is gone (see NamespacePurge); a
  // delete that fails midway leaves it marked, and the same call again finishes it.
  r.delete('/v1/namespaces/:ns', async (req, res) => {
    requireAdmin(res);
    await deps.purge.deleteNamespace(param(req, 'ns'));
    res.status(204).end();
  });

  r.post('/v1/namespaces/:ns/keys', json, async (req, res) => {
    requireAdmin(res);
    const body = parseWith(keySchema, req.body ?? {});
    const issued = await tenancy.issueKey(param(req, 'ns'), body);
    res.status(201).json({ ...issued.record, key: issued.key });
  });

  r.get('/v1/namespaces/:ns/keys', async (req, res) => {
    requireAdmin(res);
    res.json({ keys: await tenancy.listKeys(param(req, 'ns')) });
  });

  r.delete('/v1/namespaces/:ns/keys/:id', async (req, res) => {
    requireAdmin(res);
    await tenancy.revokeKey(param(req, 'ns'), param(req, 'id'));
    res.status(204).end();
  });

  return r;
}
