import express from 'express';
import { BriskError, ValidationError } from '../../core/errors.js';
import { type DeadLetterStore, MAX_DEAD_LETTERS_LISTED } from '../../invocations/dead-letters.js';
import type { Submitter } from '../../invocations/submit.js';
import { assertName, type FunctionService } from '../function-service.js';
import { namespaceOf, param, requireWrite } from '../../web/http.js';
import { ACTIVATION_HEADER } from '../../web/responses.js';

export interface DeadLetterRoutesDeps {
  letters: DeadLetterStore;
  functions: FunctionService;
  submitter: Pick<Submitter, 'submitAsync'>;
}

/** Trigger recorded on an activation started by a redrive. */
export const REDRIVE_TRIGGER = 'redrive';

/**
 * Async invocations that failed for good: `/v1/dead-letters…`.
 *
 * - `GET /v1/dead-letters?function=NAME&limit=N` — most recent first.
 * - `GET /v1/dead-letters/{activationId}` — one entry, with its payload.
 * - `POST /v1/dead-letters/{activationId}/redrive` — invoke the function again,
 *   async, with the same event, as a new activation (attempt 1, the latest
 *   version unless `?version=N`); the entry is removed. 202 `{ activationId, redriveOf }`.
 * - `DELETE /v1/dead-letters/{activationId}` — 204.
 */
export function deadLetterRoutes(deps: DeadLetterRoutesDeps): express.Router {
  const r = express.Router();

  r.get('/v1/dead-letters', async (req, res) => {
    const limit = req.query['limit'] === undefined ? 100 : Number(req.query['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTERS_LISTED) {
      throw new ValidationError('INVALID_LIMIT', `limit must be 1..${MAX_DEAD_LETTERS_LISTED}`);
    }
    const fnName = typeof req.query['function'] === 'string' ? req.query['function'] : undefined;
    if (fnName !== undefined) assertName(fnName);
    const list = await deps.letters.list(namespaceOf(res), { limit, ...(fnName !== undefined ? { function: fnName } : {}) });
    res.json({ deadLetters: list });
  });

  r.get('/v1/dead-letters/:id', async (req, res) => {
    res.json(await find(deps.letters, namespaceOf(res), param(req, 'id')));
  });

  r.post('/v1/dead-letters/:id/redrive', async (req, res) => {
    requireWrite(res);
    const ns = namespaceOf(res);
    const letter = await find(deps.letters, ns, param(req, 'id'));
    const version = req.query['version'] === undefined ? undefined : Number(req.query['version']);
    if (version !== undefined && !(Number.isInteger(version) && version > 0)) {
      throw new ValidationError('INVALID_VERSION', 'version must be a positive integer');
    }
    const fn = await deps.functions.resolve(ns, letter.function, version);
    const activationId = await deps.submitter.submitAsync(fn, letter.payload, { trigger: REDRIVE_TRIGGER });
    await deps.letters.delete(ns, letter.activationId);
    res.setHeader(ACTIVATION_HEADER, activationId);
    res.status(202).json({ activationId, redriveOf: letter.activationId });
  });

  r.delete('/v1/dead-letters/:id', async (req, res) => {
    requireWrite(res);
    const ns = namespaceOf(res);
    const id = checkedId(param(req, 'id'));
    if (!(await deps.letters.delete(ns, id))) throw notFound(id);
    res.status(204).end();
  });

  return r;
}

async function find(letters: DeadLetterStore, namespace: string, rawId: string) {
  const id = checkedId(rawId);
  const letter = await letters.get(namespace, id);
  if (!letter) throw notFound(id);
  return letter;
}

function checkedId(id: string): string {
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(id)) throw new ValidationError('INVALID_ACTIVATION_ID', 'malformed activation id');
  return id;
}

function notFound(id: string): BriskError {
  return new BriskError('DEAD_LETTER_NOT_FOUND', `dead letter '${id}' not found`, { status: 404 });
}
