import express from 'express';
import { z } from 'zod';
import type { ProvisionedService } from '../../releases/provisioned-service.js';
import { limitedBody, namespaceOf, param, parseWith, requireWrite } from '../../web/http.js';
import { assertName } from '../function-service.js';

/** `PUT /v1/functions/{name}/provisioned/{version|alias}`: instances kept loaded (ranges checked by the service). */
const provisionedBody = z.strictObject({
  instances: z.number().int(),
  /** Peaks: from each time `cron` fires, for `durationMinutes`, `instances` (when more). */
  windows: z
    .array(
      z.strictObject({
        cron: z.string().min(1).max(128),
        timezone: z.string().min(1).max(64).optional(),
        durationMinutes: z.number().int(),
        instances: z.number().int(),
      }),
    )
    .optional(),
});

/**
 * Provisioned instances: `GET /v1/functions/{name}/provisioned` (every config
 * of the function with its status), `PUT/GET/DELETE
 * /v1/functions/{name}/provisioned/{qualifier}` where the qualifier is a
 * version number or an alias name.
 */
export function provisionedRoutes(deps: { provisioned: ProvisionedService }): express.Router {
  const r = express.Router();
  const jsonBody = limitedBody(16 * 1024, (limit) => express.json({ limit, strict: false }));
  const fnName = (req: express.Request): string => {
    const name = param(req, 'name');
    assertName(name);
    return name;
  };

  r.get('/v1/functions/:name/provisioned', async (req, res) => {
    res.json({ provisioned: await deps.provisioned.list(namespaceOf(res), fnName(req)) });
  });

  r.get('/v1/functions/:name/provisioned/:qualifier', async (req, res) => {
    res.json(await deps.provisioned.get(namespaceOf(res), fnName(req), param(req, 'qualifier')));
  });

  r.put('/v1/functions/:name/provisioned/:qualifier', jsonBody, async (req, res) => {
    requireWrite(res);
    const name = fnName(req);
    const body = parseWith(provisionedBody, req.body);
    const { config, created } = await deps.provisioned.put(namespaceOf(res), name, param(req, 'qualifier'), {
      instances: body.instances,
      ...(body.windows !== undefined
        ? {
            windows: body.windows.map((w) => ({
              cron: w.cron,
              durationMinutes: w.durationMinutes,
              instances: w.instances,
              ...(w.timezone !== undefined ? { timezone: w.timezone } : {}),
            })),
          }
        : {}),
    });
    res.status(created ? 201 : 200).json(config);
  });

  r.delete('/v1/functions/:name/provisioned/:qualifier', async (req, res) => {
    requireWrite(res);
    await deps.provisioned.delete(namespaceOf(res), fnName(req), param(req, 'qualifier'));
    res.status(204).end();
  });

  return r;
}
