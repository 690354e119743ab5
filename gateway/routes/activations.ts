import express from 'express';
import { BriskError, ValidationError } from '../../core/errors.js';
import type { MetadataStore } from '../../storage/types.js';
import { assertName } from '../function-service.js';
import { namespaceOf, param } from '../../web/http.js';

/** Activation records: `/v1/activations…`. */
export function activationRoutes(deps: { store: MetadataStore }): express.Router {
  const r = express.Router();

  r.get('/v1/activations/:id', async (req, res) => {
    const id = param(req, 'id');
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(id)) throw new ValidationError('INVALID_ACTIVATION_ID', 'malformed activation id');
    const a = await deps.store.getActivation(namespaceOf(res), id);
    if (!a) throw new BriskError('ACTIVATION_NOT_FOUND', `activation '${id}' not found`, { status: 404 });
    res.json(a);
  });

  r.get('/v1/activations', async (req, res) => {
    const limit = req.query['limit'] === undefined ? 50 : Number(req.query['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError('INVALID_LIMIT', 'limit must be 1..1000');
    const fnName = typeof req.query['function'] === 'string' ? req.query['function'] : undefined;
    if (fnName !== undefined) assertName(fnName);
    const list = await deps.store.listActivations(namespaceOf(res), { limit, ...(fnName !== undefined ? { function: fnName } : {}) });
    res.json({ activations: list });
  });

  return r;
}
