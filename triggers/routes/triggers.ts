import express from 'express';
import { ValidationError } from '../../core/errors.js';
import { assertJsonDepth } from '../../core/json-depth.js';
import type { TriggerService } from '../trigger-service.js';
import { triggerSpecSchema, type Trigger } from '../types.js';
import { limitedBody, namespaceOf, param, parseWith, requireWrite } from '../../web/http.js';

const TYPES = new Set(['schedule', 'topic', 'queue', 'storage', 'http']);

/**
 * Triggers: `PUT/GET/DELETE /v1/triggers/{name}` and `GET /v1/triggers`
 * (`?type=` and `?function=` filter the list).
 */
export function triggerRoutes(deps: { triggers: TriggerService }): express.Router {
  const r = express.Router();
  const jsonBody = limitedBody(256 * 1024, (limit) => express.json({ limit, strict: false }));

  r.put('/v1/triggers/:name', jsonBody, async (req, res) => {
    requireWrite(res);
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ValidationError('INVALID_TRIGGER', 'expected a JSON object { type, function, … }');
    }
    // A schedule's `data` is stored and sent with every tick, serialised recursively each time.
    assertJsonDepth(body, 'the trigger');
    const spec = parseWith(triggerSpecSchema, body, 'INVALID_TRIGGER');
    const { trigger, created } = await deps.triggers.put(namespaceOf(res), param(req, 'name'), spec);
    res.status(created ? 201 : 200).json(describe(trigger));
  });

  r.get('/v1/triggers', async (req, res) => {
    const type = req.query['type'];
    const fn = req.query['function'];
    if (type !== undefined && (typeof type !== 'string' || !TYPES.has(type))) {
      throw new ValidationError('INVALID_TRIGGER_TYPE', 'type must be one of schedule, topic, queue, storage, http');
    }
    const list = (await deps.triggers.list(namespaceOf(res))).filter(
      (t) => (type === undefined || t.type === type) && (typeof fn !== 'string' || t.function === fn),
    );
    res.json({ triggers: list.map(describe) });
  });

  r.get('/v1/triggers/:name', async (req, res) => {
    res.json(describe(await deps.triggers.get(namespaceOf(res), param(req, 'name'))));
  });

  r.delete('/v1/triggers/:name', async (req, res) => {
    requireWrite(res);
    await deps.triggers.delete(namespaceOf(res), param(req, 'name'));
    res.status(204).end();
  });

  return r;
}

/** The trigger as the API shows it (http triggers also say where they are served). */
function describe(t: Trigger): Record<string, unknown> {
  return t.type === 'http' ? { ...t, url: `/http${t.path === '/' ? '' : t.path}` } : { ...t };
}
