import type { Topology } from '../bus/topology.js';
import type { Bus, Subscription } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import { parseHeartbeat } from '../core/schemas.js';
import { ExecutorRegistry, type ExecutorView } from '../placement/executor-registry.js';

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
 * A read-only view of the executors, for a gateway's `GET /v1/executors` and
 * the web console (the composition root hands it to the gateway's route). It
 * listens to the heartbeat topic like a scheduler does and applies the same
 * health rules (an {@link ExecutorRegistry}), but never places work: a
 * gateway may run without a scheduler in the same process, and the
 * heartbeats already carry everything worth showing (capacity, pool, warm
 * instances, health).
 */
export class ExecutorMonitor {
  private readonly registry: ExecutorRegistry;
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
