import express from 'express';
import type { Topology } from '../../bus/topology.js';
import type { Bus, Subscription } from '../../bus/types.js';
import type { Logger } from '../../core/logger.js';
import { parseHeartbeat } from '../../core/schemas.js';
import { ExecutorRegistry, type ExecutorView } from '../../scheduler/executor-registry.js';
import { principalOf, type Principal } from '../http.js';

export interface ExecutorMonitorDeps {
  bus: Bus;
  topology: Topology;
  logger: Logger;
  /** Where heartbeats are kept; default a fresh registry at `heartbeatMs`. */
  registry?: ExecutorRegistry;
  /** The executors' heartbeat interval (`BRISK_HEARTBEAT_MS`), to tell when one is offline. */
  heartbeatMs?: number;
}

/**
 * The gateway's own view of the executors, for `GET /v1/executors` and the web
 * console. It listens to the heartbeat topic like a scheduler does but never
 * places work: a gateway may run without a scheduler in the same process, and
 * the heartbeats already carry everything worth showing (capacity, pool, warm
 * instances, health).
 */
export class ExecutorMonitor {
  readonly registry: ExecutorRegistry;
  private subscription: Subscription | undefined;
  private malformed = 0;

  constructor(private readonly deps: ExecutorMonitorDeps) {
    this.registry = deps.registry ?? new ExecutorRegistry({ ...(deps.heartbeatMs !== undefined ? { heartbeatMs: deps.heartbeatMs } : {}) });
  }

  /** Subscribe to the heartbeat topic. Idempotent. */
  async start(): Promise<void> {
    if (this.subscription) return;
    this.subscription = await this.deps.bus.subscribe<unknown>(this.deps.topology.heartbeatTopic, (raw) => this.onHeartbeat(raw));
  }

  /** Stop listening. Safe to call twice. */
  async stop(): Promise<void> {
    const sub = this.subscription;
    this.subscription = undefined;
    await sub?.cancel();
  }

  /** Every executor heard from (any state), sorted by id. */
  states(): ExecutorView[] {
    return this.registry.states();
  }

  private onHeartbeat(raw: unknown): void {
    let hb;
    try {
      hb = parseHeartbeat(raw);
    } catch (err) {
      // Topics are fire-and-forget: drop it, but say so once in a while (not per message).
      if (this.malformed++ % 100 === 0) this.deps.logger.warn({ err, dropped: this.malformed }, 'malformed heartbeat dropped');
      return;
    }
    this.registry.observe(hb);
  }
}

/**
 * `GET /v1/executors`: `{ executors: ExecutorView[] }` as this gateway last
 * heard them. The admin key sees everything; a namespace key sees every
 * executor's health and capacity (the console's Executors and Metrics pages
 * need them, and they name no tenant) but only its own namespace's warm
 * instances: the others' would tell which functions other tenants run.
 */
export function executorRoutes(deps: { executors: Pick<ExecutorMonitor, 'states'> }): express.Router {
  const r = express.Router();
  r.get('/v1/executors', (_req, res) => {
    const who = principalOf(res);
    const all = deps.executors.states();
    res.json({ executors: who.admin ? all : all.map((e) => visibleTo(who, e)) });
  });
  return r;
}

/** An executor as a namespace key may see it: warm instances of that namespace only. */
export function visibleTo(who: Pick<Principal, 'namespace'>, e: ExecutorView): ExecutorView {
  // `idleWarm` is keyed by functionVersionKey: `<namespace>/<name>@<version>` (namespaces hold no `/`).
  const own = `${who.namespace}/`;
  return {
    ...e,
    warm: e.warm.filter((w) => w.namespace === who.namespace),
    idleWarm: Object.fromEntries(Object.entries(e.idleWarm).filter(([key]) => key.startsWith(own))),
  };
}
