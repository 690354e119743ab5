import express from 'express';
import { z } from 'zod';
import type { AliasService } from '../../releases/alias-service.js';
import type { Alias } from '../../releases/alias-store.js';
import { primaryShare, weightedVersions } from '../../releases/weighted-routing.js';
import { assertName } from '../function-service.js';
import { limitedBody, namespaceOf, param, parseWith, requireWrite } from '../../web/http.js';

/** `PUT /v1/functions/{name}/aliases/{alias}`: where the alias points. */
const aliasBody = z.strictObject({
  version: z.number().int().positive(),
  /** `{ "8": 0.1 }`: one call in ten runs version 8 (checked against the function's versions by the service). */
  weights: z.record(z.string(), z.number()).optional(),
  description: z.string().max(256).optional(),
});

const promoteBody = z.strictObject({
  /** The alias that takes the version of the alias in the path. */
  to: z.string().min(1),
});

/**
 * Aliases: `GET /v1/functions/{name}/aliases`, `PUT/GET/DELETE
 * /v1/functions/{name}/aliases/{alias}`, `POST …/{alias}/rollback` (back to
 * the routing before the last change) and `POST …/{alias}/promote` `{ to }`
 * (`to` takes this alias's version).
 */
export function aliasRoutes(deps: { aliases: AliasService }): express.Router {
  const r = express.Router();
  const jsonBody = limitedBody(16 * 1024, (limit) => express.json({ limit, strict: false }));
  const fnName = (req: express.Request): string => {
    const name = param(req, 'name');
    assertName(name);
    return name;
  };

  r.get('/v1/functions/:name/aliases', async (req, res) => {
    const list = await deps.aliases.list(namespaceOf(res), fnName(req));
    res.json({ aliases: list.map(describeAlias) });
  });

  r.get('/v1/functions/:name/aliases/:alias', async (req, res) => {
    res.json(describeAlias(await deps.aliases.get(namespaceOf(res), fnName(req), param(req, 'alias'))));
  });

  r.put('/v1/functions/:name/aliases/:alias', jsonBody, async (req, res) => {
    requireWrite(res);
    const name = fnName(req);
    const body = parseWith(aliasBody, req.body);
    const { alias, created } = await deps.aliases.put(namespaceOf(res), name, param(req, 'alias'), {
      version: body.version,
      ...(body.weights !== undefined ? { weights: body.weights } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
    });
    res.status(created ? 201 : 200).json(describeAlias(alias));
  });

  r.delete('/v1/functions/:name/aliases/:alias', async (req, res) => {
    requireWrite(res);
    await deps.aliases.delete(namespaceOf(res), fnName(req), param(req, 'alias'));
    res.status(204).end();
  });

  r.post('/v1/functions/:name/aliases/:alias/rollback', async (req, res) => {
    requireWrite(res);
    res.json(describeAlias(await deps.aliases.rollback(namespaceOf(res), fnName(req), param(req, 'alias'))));
  });

  r.post('/v1/functions/:name/aliases/:alias/promote', jsonBody, async (req, res) => {
    requireWrite(res);
    const body = parseWith(promoteBody, req.body);
    const { alias, created } = await deps.aliases.promote(namespaceOf(res), fnName(req), param(req, 'alias'), body.to);
    res.status(created ? 201 : 200).json(describeAlias(alias));
  });

  return r;
}

/** What the API shows of an alias: its routing, each version's share of calls, and its history. */
export function describeAlias(a: Alias) {
  const shares: Record<string, number> = { [String(a.version)]: round(primaryShare(a)) };
  for (const [v, w] of weightedVersions(a)) shares[String(v)] = w;
  return {
    name: a.name,
    function: a.function,
    version: a.version,
    ...(a.weights !== undefined ? { weights: a.weights } : {}),
    /** Every version the alias routes to, with its share of calls (the alias's version takes what the weights leave). */
    routing: shares,
    ...(a.description !== undefined ? { description: a.description } : {}),
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
    history: a.history,
  };
}

/** 1 - 0.1 is 0.9 here, not 0.8999999999999999. */
function round(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}
