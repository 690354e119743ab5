import type { Bus } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import type { Logger } from '../core/logger.js';
import type { FunctionVersion, ProvisionMessage } from '../core/types.js';
import { functionVersionKey, type ExecutorRegistry } from '../placement/executor-registry.js';
import { assignProvisioned, provisionHostsOf, type ProvisionDemand, type ProvisionHost } from '../placement/provisioning.js';
import type { ProvisionedPlanner } from '../releases/provisioned-plan.js';
import type { ProvisionedStatus, ProvisionedStore } from '../releases/provisioned-store.js';
import type { KeyValueStore } from '../storage/types.js';

export interface ProvisionerOptions {
  /** This scheduler's id: the provisioner's name on its messages and its leader lease. */
  id: string;
  bus: Bus;
  topology: Topology;
  registry: ExecutorRegistry;
  kv: Pick<KeyValueStore, 'get' | 'set'>;
  configs: ProvisionedStore;
  planner: ProvisionedPlanner;
  /** Part of each executor's memory provisioned instances may take (see placement/provisioning.ts). */
  share: number;
  /** How often a round runs (the heartbeat interval: a round acts on what heartbeats say). */
  intervalMs: number;
  logger: Logger;
}

/** The key of the lease that makes one scheduler the provisioner. */
const LEADER_KEY = 'provisioner:leader';

/**
 * Keeps provisioned instances loaded: every round, one scheduler (a lease in
 * the key-value store) resolves every config to exact versions (aliases
 * followed, windows applied), assigns the instances to the healthy executors
 * (`assignProvisioned`: within their provisioned budget, staying where they
 * are, spread), tells every executor its whole share in one control message,
 * and writes each config's status (wanted, ready) for the API.
 *
 * Declarative and repeated: an executor that left or drains is no candidate,
 * so its share goes to the others in the next round; a lost message, a
 * crashed instance or a new executor is set right a round later.
 */
export class Provisioner {
  private timer: NodeJS.Timeout | undefined;
  private round = 0;
  private running = false;
  /** What the last round gave each executor, so instances still loading are not moved elsewhere. */
  private last = new Map<string, Map<string, number>>();

  constructor(private readonly o: ProvisionerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round (skipped while the previous one still runs, or when another scheduler leads). */
  async tick(now = new Date()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      if (await this.lead()) await this.provision(now);
    } catch (err) {
      this.o.logger.warn({ err }, 'provisioning round failed; tried again next round');
    } finally {
      this.running = false;
    }
  }

  private async lead(): Promise<boolean> {
    const ttlMs = this.o.intervalMs * 3;
    if (await this.o.kv.set(LEADER_KEY, this.o.id, { ifAbsent: true, ttlMs })) return true;
    if ((await this.o.kv.get(LEADER_KEY)) !== this.o.id) {
      this.last.clear();
      return false;
    }
    await this.o.kv.set(LEADER_KEY, this.o.id, { ttlMs });
    return true;
  }

  private async provision(now: Date): Promise<void> {
    const configs = await this.o.configs.all();
    const views = this.o.registry.states();
    const healthy = views.filter((e) => e.state === 'healthy');
    const anyHeld = views.some((e) => Object.keys(e.provisioned).length > 0);
    // Nothing provisioned anywhere and nothing to release: no message.
    if (configs.length === 0 && !anyHeld && this.last.size === 0) return;

    const resolved = await this.o.planner.resolve(configs, now);
    const fns = new Map<string, FunctionVersion>();
    const demands: ProvisionDemand[] = [];
    for (const r of resolved) {
      for (const w of r.wants) {
        const key = functionVersionKey(w.fn.namespace, w.fn.name, w.fn.version);
        fns.set(key, w.fn);
        demands.push({ key, memoryMb: w.fn.memoryMb, instances: w.instances });
      }
    }
    // What each holds: its heartbeat's, or what the last round gave it when more (still loading).
    const hosts: ProvisionHost[] = provisionHostsOf(healthy).map((h) => {
      const held: Record<string, number> = { ...h.provisioned };
      for (const [key, n] of this.last.get(h.executorId) ?? []) held[key] = Math.max(held[key] ?? 0, n);
      return { ...h, provisioned: held };
    });
    const assignment = assignProvisioned(demands, hosts, this.o.share);

    const shares: ProvisionMessage['shares'] = {};
    for (const [executorId, byKey] of assignment.shares) {
      shares[executorId] = [...byKey].map(([key, instances]) => ({ fn: fns.get(key)!, instances }));
    }
    const msg: ProvisionMessage = { kind: 'provision', provisioner: this.o.id, round: ++this.round, shares };
    await this.o.bus.publish(this.o.topology.controlTopic, msg);
    this.last = new Map([...assignment.shares].filter(([, byKey]) => byKey.size > 0));

    // Ready = loaded and pinned on a healthy executor (a draining one's go with it), shared out in config order.
    const ready = new Map<string, number>();
    for (const e of healthy) for (const [key, n] of Object.entries(e.provisioned)) ready.set(key, (ready.get(key) ?? 0) + n);
    const at = now.toISOString();
    const statuses = new Map<string, ProvisionedStatus>();
    for (const r of resolved) {
      const versions: ProvisionedStatus['versions'] = {};
      let wanted = 0;
      let got = 0;
      let short = false;
      for (const w of r.wants) {
        const key = functionVersionKey(w.fn.namespace, w.fn.name, w.fn.version);
        const k = Math.min(w.instances, ready.get(key) ?? 0);
        ready.set(key, (ready.get(key) ?? 0) - k);
        versions[String(w.fn.version)] = { wanted: w.instances, ready: k, memoryMb: w.fn.memoryMb };
        wanted += w.instances;
        got += k;
        if ((assignment.unplaced.get(key) ?? 0) > 0) short = true;
      }
      const problem = r.problem ?? (short ? 'INSUFFICIENT_CAPACITY' : undefined);
      statuses.set(r.field, { wanted, ready: got, versions, ...(problem !== undefined ? { problem } : {}), at });
    }
    await this.o.configs.writeStatus(statuses);
  }
}
