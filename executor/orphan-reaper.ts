import type { Bus, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import type { Logger } from '../core/logger.js';
import { parseHeartbeat } from '../core/schemas.js';

/** What the reaper needs of a backend: remove the instances of executors that are gone. */
export interface OrphanRemover {
  removeOrphans(isLive: (executorId: string) => boolean, minAgeMs: number): Promise<number>;
}

export interface OrphanReaperOptions {
  backend: OrphanRemover;
  bus: Bus;
  topology: Topology;
  /** This executor (its own heartbeats prove that the reaper hears the topic). */
  executorId: string;
  heartbeatMs: number;
  logger: Logger;
  /** Clock; injected by tests. */
  now?: () => number;
}

/**
 * Heartbeats an executor may miss before its instances count as orphaned. The
 * scheduler calls an executor offline after 3; reaping waits longer, because
 * removing a live executor's containers fails its running activations, and an
 * event loop stalled for a few seconds (a busy or swapping host) is not death.
 */
export const REAP_AFTER_HEARTBEATS = 10;
/** Heartbeats between two sweeps (one Docker list call each). */
const SWEEP_EVERY_HEARTBEATS = 5;

/**
 * Reaps the instances (containers) of dead executors: every executor runs
 * one, listens to the heartbeat topic, and from time to time asks its backend
 * to remove the containers of its installation whose executor it has not
 * heard for {@link REAP_AFTER_HEARTBEATS} heartbeats. A kill -9'd executor's
 * containers are so removed by whoever finds them: the same executor
 * restarted (at start, by id), or any other executor, including a restart
 * under a new (random) id.
 *
 * It reaps nothing until it has listened for that long itself, and nothing
 * while it does not hear its own heartbeats (a broken subscription would make
 * every executor look dead).
 */
export class OrphanReaper {
  private readonly lastHeard = new Map<string, number>();
  private readonly now: () => number;
  private readonly reapAfterMs: number;
  private listeningSince = 0;
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly o: OrphanReaperOptions) {
    this.now = o.now ?? Date.now;
    this.reapAfterMs = REAP_AFTER_HEARTBEATS * o.heartbeatMs;
  }

  async start(): Promise<void> {
    this.listeningSince = this.now();
    this.subscription = await this.o.bus.subscribe(this.o.topology.heartbeatTopic, (raw) => {
      try {
        this.heard(parseHeartbeat(raw).executorId);
      } catch {
        // Malformed heartbeats are the scheduler's to report.
      }
    });
    this.timer = setInterval(() => void this.sweep(), SWEEP_EVERY_HEARTBEATS * this.o.heartbeatMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.subscription?.cancel();
    await this.sweeping;
  }

  /** An executor's heartbeat arrived. */
  heard(executorId: string): void {
    this.lastHeard.set(executorId, this.now());
  }

  /** One pass: remove the orphans found now (skipped while one is running). Never rejects. */
  sweep(): Promise<void> {
    this.sweeping ??= this.reap()
      .catch((err: unknown) => this.o.logger.warn({ err }, 'orphan sweep failed'))
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  private async reap(): Promise<void> {
    const now = this.now();
    if (now - this.listeningSince < this.reapAfterMs) return;
    const self = this.lastHeard.get(this.o.executorId);
    // Our own heartbeats go through the topic too: not hearing them means not hearing anyone.
    if (self === undefined || now - self > 3 * this.o.heartbeatMs) return;
    for (const [id, at] of this.lastHeard) if (now - at > this.reapAfterMs) this.lastHeard.delete(id);
    await this.o.backend.removeOrphans((id) => this.lastHeard.has(id), this.reapAfterMs);
  }
}
