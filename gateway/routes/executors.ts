import express from 'express';
import type { WarmInstanceInfo } from '../../core/types.js';
import { principalOf, type Principal } from '../../web/http.js';

/**
 * What this route needs of each executor it lists: the warm instances it
 * filters per namespace. The views come from the composition root (the
 * scheduler's `ExecutorMonitor`), which keeps the health rules in one place;
 * every other field is passed through as it is.
 */
export interface ExecutorListing {
  readonly warm: readonly WarmInstanceInfo[];
  /** Idle warm instances per `<namespace>/<name>@<version>`. */
  readonly idleWarm: Readonly<Record<string, number>>;
  /** Provisioned instances held, same keys. */
  readonly provisioned: Readonly<Record<string, number>>;
}

/**
 * `GET /v1/executors`: `{ executors: [...] }` as this gateway last
 * heard them. The admin key sees everything; a namespace key sees every
 * executor's health and capacity (the console's Executors and Metrics pages
 * need them, and they name no tenant) but only its own namespace's warm
 * instances: the others' would tell which functions other tenants run.
 */
export function executorRoutes(deps: { executors: { states(): ExecutorListing[] } }): express.Router {
  const r = express.Router();
  r.get('/v1/executors', (_req, res) => {
    const who = principalOf(res);
    const all = deps.executors.states();
    res.json({ executors: who.admin ? all : all.map((e) => visibleTo(who, e)) });
  });
  return r;
}

/** An executor as a namespace key may see it: warm instances of that namespace only. */
export function visibleTo<E extends ExecutorListing>(who: Pick<Principal, 'namespace'>, e: E): E {
  // `idleWarm` is keyed by functionVersionKey: `<namespace>/<name>@<version>` (namespaces hold no `/`).
  const own = `${who.namespace}/`;
  return {
    ...e,
    warm: e.warm.filter((w) => w.namespace === who.namespace),
    idleWarm: Object.fromEntries(Object.entries(e.idleWarm).filter(([key]) => key.startsWith(own))),
    provisioned: Object.fromEntries(Object.entries(e.provisioned).filter(([key]) => key.startsWith(own))),
  };
}
