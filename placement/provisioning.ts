/**
 * Where provisioned instances live: a pure function of what is wanted and the
 * executors that can hold them, so the provisioner calls it every round and a
 * gateway uses the same arithmetic to answer whether a new config fits.
 *
 * The rules, and why:
 *
 * 1. **Budget.** Provisioned instances may take at most `share` of an
 *    executor's memory, so on-demand calls of every other function still find
 *    room there (the rest of the budget).
 * 2. **Stay.** An instance an executor already holds stays there while the
 *    executor is a candidate and the version still wants it: moving a loaded
 *    instance is a cold start for nothing.
 * 3. **Spread.** Each further instance goes to the candidate holding the
 *    fewest of that version (ties: the one with the most provisioned budget
 *    left, then executor id), so N instances sit on min(N, executors)
 *    executors and losing one executor loses as few as possible.
 * 4. **Refuse what does not fit** (`unplaced`), never overcommit: the status
 *    says so and the instances are placed once room appears.
 *
 * Versions are assigned in key order, so every round (and every scheduler)
 * computes the same answer from the same view.
 */

import type { ExecutorView } from './executor-registry.js';

/** Instances of one exact version wanted across the cluster. */
export interface ProvisionDemand {
  /** `namespace/name@version` (the registry's `functionVersionKey`). */
  key: string;
  memoryMb: number;
  instances: number;
}

/** An executor that may hold provisioned instances (healthy, not draining). */
export interface ProvisionHost {
  executorId: string;
  memoryMb: number;
  /** What it holds now, per key (its heartbeat). */
  provisioned: Readonly<Record<string, number>>;
}

export interface ProvisionAssignment {
  /** Per executor, instances per key. */
  shares: Map<string, Map<string, number>>;
  /** Per key, instances that fit nowhere. */
  unplaced: Map<string, number>;
  /** Per executor, provisioned budget left (MB). */
  freeMb: Map<string, number>;
}

/** Default `share`: the part of each executor's memory provisioned instances may take. */
export const DEFAULT_PROVISIONED_SHARE = 0.75;

export function assignProvisioned(demands: readonly ProvisionDemand[], hosts: readonly ProvisionHost[], share: number): ProvisionAssignment {
  const byId = [...hosts].sort((a, b) => (a.executorId < b.executorId ? -1 : a.executorId > b.executorId ? 1 : 0));
  const freeMb = new Map(byId.map((h) => [h.executorId, Math.floor(h.memoryMb * share)]));
  const shares = new Map(byId.map((h) => [h.executorId, new Map<string, number>()]));
  const unplaced = new Map<string, number>();
  const merged = new Map<string, ProvisionDemand>();
  for (const d of demands) {
    const m = merged.get(d.key);
    if (m === undefined) merged.set(d.key, { ...d });
    else m.instances += d.instances;
  }
  const ordered = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const give = (id: string, d: ProvisionDemand, n: number): void => {
    const s = shares.get(id)!;
    s.set(d.key, (s.get(d.key) ?? 0) + n);
    freeMb.set(id, freeMb.get(id)! - n * d.memoryMb);
  };
  for (const d of ordered) {
    let left = d.instances;
    // Stay where they are.
    for (const h of byId) {
      if (left === 0) break;
      const held = Math.min(h.provisioned[d.key] ?? 0, left, Math.floor(Math.max(0, freeMb.get(h.executorId)!) / d.memoryMb));
      if (held > 0) {
        give(h.executorId, d, held);
        left -= held;
      }
    }
    // Spread the rest.
    for (; left > 0; left--) {
      let best: ProvisionHost | undefined;
      for (const h of byId) {
        if (freeMb.get(h.executorId)! < d.memoryMb) continue;
        if (best === undefined) {
          best = h;
          continue;
        }
        const count = shares.get(h.executorId)!.get(d.key) ?? 0;
        const bestCount = shares.get(best.executorId)!.get(d.key) ?? 0;
        if (count < bestCount || (count === bestCount && freeMb.get(h.executorId)! > freeMb.get(best.executorId)!)) best = h;
      }
      if (best === undefined) break;
      give(best.executorId, d, 1);
    }
    if (left > 0) unplaced.set(d.key, left);
  }
  return { shares, unplaced, freeMb };
}

/**
 * How many instances of `memoryMb` fit beside `demands` (what the other
 * configs want now): the counter-offer of a refused config.
 */
export function capacityFor(memoryMb: number, demands: readonly ProvisionDemand[], hosts: readonly ProvisionHost[], share: number): number {
  const { freeMb } = assignProvisioned(demands, hosts, share);
  let n = 0;
  for (const mb of freeMb.values()) n += Math.floor(Math.max(0, mb) / memoryMb);
  return n;
}

/** The executors that can take provisioned instances: the healthy ones (not draining, offline or failing), holding what their heartbeats say. */
export function provisionHostsOf(views: readonly Pick<ExecutorView, 'executorId' | 'state' | 'memoryMb' | 'provisioned'>[]): ProvisionHost[] {
  return views.filter((e) => e.state === 'healthy').map((e) => ({ executorId: e.executorId, memoryMb: e.memoryMb, provisioned: e.provisioned }));
}
