import { Cron } from 'croner';
import type { FunctionVersion } from '../core/types.js';
import type { MetadataStore } from '../storage/types.js';
import type { AliasStore } from './alias-store.js';
import { provisionedField, type ProvisionedConfig, type ProvisionedWindow } from './provisioned-store.js';
import { primaryShare, weightedVersions, type AliasRouting } from './weighted-routing.js';

/** Instances of one exact version that one config wants now. */
export interface VersionWant {
  fn: FunctionVersion;
  instances: number;
}

/** One config resolved at a moment: the versions it wants instances of, or why it wants none. */
export interface ResolvedConfig {
  field: string;
  config: ProvisionedConfig;
  wants: VersionWant[];
  problem?: 'ALIAS_NOT_FOUND' | 'VERSION_NOT_FOUND';
}

/** The instances a config wants at `now`: its own count, or the largest of its windows open now. */
export function instancesAt(config: Pick<ProvisionedConfig, 'instances' | 'windows'>, now: Date): number {
  let n = config.instances;
  for (const w of config.windows) if (w.instances > n && windowOpen(w, now)) n = w.instances;
  return n;
}

/** Whether `now` is within `durationMinutes` of the last time the window's cron fired. */
export function windowOpen(w: ProvisionedWindow, now: Date): boolean {
  const last = new Cron(w.cron, { timezone: w.timezone, paused: true }).previousRuns(1, now)[0];
  return last !== undefined && now.getTime() - last.getTime() < w.durationMinutes * 60_000;
}

/**
 * Split `n` instances over an alias's versions by their weights: each
 * weighted version gets its rounded share, the alias's own version the rest
 * (so a canary at 10 % of 10 instances gets 1, and the total is exactly n).
 */
export function splitByWeights(routing: AliasRouting, n: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let given = 0;
  for (const [version, weight] of weightedVersions(routing)) {
    const k = Math.min(n - given, Math.round(n * weight));
    if (k > 0) out.push([version, k]);
    given += k;
  }
  if (n - given > 0 && primaryShare(routing) > 0) out.unshift([routing.version, n - given]);
  return out;
}

/**
 * Resolves provisioned configs into exact versions: a version qualifier is
 * itself, an alias is where it routes now (split by its weights), and the
 * count is the one in force now (windows). What the provisioner assigns each
 * round and what a gateway checks a new config against.
 */
export class ProvisionedPlanner {
  constructor(private readonly deps: { store: Pick<MetadataStore, 'getFunctionVersion'>; aliases: Pick<AliasStore, 'get'> }) {}

  async resolve(configs: readonly ProvisionedConfig[], now = new Date()): Promise<ResolvedConfig[]> {
    const versions = new Map<string, Promise<FunctionVersion | undefined>>();
    const version = (ns: string, fn: string, v: number): Promise<FunctionVersion | undefined> => {
      const key = `${ns}/${fn}@${v}`;
      const known = versions.get(key);
      if (known !== undefined) return known;
      const read = this.deps.store.getFunctionVersion(ns, fn, v);
      versions.set(key, read);
      return read;
    };
    const out: ResolvedConfig[] = [];
    for (const config of configs) {
      const field = provisionedField(config.namespace, config.function, config.qualifier);
      const n = instancesAt(config, now);
      let split: Array<[number, number]>;
      if (/^\d+$/.test(config.qualifier)) {
        split = [[Number(config.qualifier), n]];
      } else {
        const alias = await this.deps.aliases.get(config.namespace, config.function, config.qualifier);
        if (alias === undefined) {
          out.push({ field, config, wants: [], problem: 'ALIAS_NOT_FOUND' });
          continue;
        }
        split = splitByWeights(alias, n);
      }
      const wants: VersionWant[] = [];
      let missing = false;
      for (const [v, instances] of split) {
        const fn = await version(config.namespace, config.function, v);
        if (fn === undefined) missing = true;
        else if (instances > 0) wants.push({ fn, instances });
      }
      out.push({ field, config, wants, ...(missing ? { problem: 'VERSION_NOT_FOUND' as const } : {}) });
    }
    return out;
  }
}
