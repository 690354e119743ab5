import express from 'express';
import { ValidationError } from '../../core/errors.js';
import { readUsage } from '../../metering/usage-meter.js';
import type { KeyValueStore } from '../../storage/types.js';
import { namespaceOf } from '../../web/http.js';

/** `GET /v1/usage?from=&to=` (ISO times; default: the last 24 hours) for the caller's namespace. */
export function usageRoutes(deps: { kv: KeyValueStore }): express.Router {
  const r = express.Router();
  r.get('/v1/usage', async (req, res) => {
    const to = parseTime(req.query['to'], Date.now(), 'to');
    const from = parseTime(req.query['from'], to - 24 * 3600_000, 'from');
    if (from >= to) throw new ValidationError('INVALID_RANGE', '`from` must be before `to`');
    const functions = await readUsage(deps.kv, namespaceOf(res), from, to);
    const total = functions.reduce(
      (t, f) => ({
        invocations: t.invocations + f.invocations,
        errors: t.errors + f.errors,
        coldStarts: t.coldStarts + f.coldStarts,
        gbSeconds: Math.round((t.gbSeconds + f.gbSeconds) * 1e6) / 1e6,
      }),
      { invocations: 0, errors: 0, coldStarts: 0, gbSeconds: 0 },
    );
    res.json({ namespace: namespaceOf(res), from: new Date(from).toISOString(), to: new Date(to).toISOString(), granularity: 'hour', total, functions });
  });
  return r;
}

function parseTime(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new ValidationError('INVALID_RANGE', `\`${name}\` must be an ISO date-time`);
  return t;
}
