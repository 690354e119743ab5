import { z } from 'zod';
import type { KeyValueStore } from '../storage/types.js';

/**
 * A daily (or any cron) peak: from each time `cron` fires, for
 * `durationMinutes`, the target holds `instances` (when that is more than
 * the config's own).
 */
export interface ProvisionedWindow {
  cron: string;
  /** IANA time zone the cron is read in (default UTC). */
  timezone: string;
  durationMinutes: number;
  instances: number;
}

/**
 * Provisioned instances of one version or alias of a function: `instances`
 * kept loaded at all times across the executors (more during a window).
 */
export interface ProvisionedConfig {
  namespace: string;
  function: string;
  /** What the instances are loaded with: a version number (as text) or an alias name (they follow the alias when it moves). */
  qualifier: string;
  instances: number;
  windows: ProvisionedWindow[];
  createdAt: string;
  updatedAt: string;
}

/** What the provisioner last did for one config (written every round). */
export interface ProvisionedStatus {
  /** Instances wanted now (windows included), over every version the qualifier routes to. */
  wanted: number;
  /** Instances loaded and pinned now, as the executors' heartbeats said. */
  ready: number;
  /** Per version: wanted, ready and the memory of one instance. */
  versions: Record<string, { wanted: number; ready: number; memoryMb: number }>;
  /** Why fewer are wanted or placed than asked: `ALIAS_NOT_FOUND`, `VERSION_NOT_FOUND`, `INSUFFICIENT_CAPACITY`. */
  problem?: string;
  at: string;
}

const windowSchema = z.object({
  cron: z.string(),
  timezone: z.string(),
  durationMinutes: z.number().int().positive(),
  instances: z.number().int().nonnegative(),
});
const storedConfig = z.object({
  namespace: z.string(),
  function: z.string(),
  qualifier: z.string(),
  instances: z.number().int().nonnegative(),
  windows: z.array(windowSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const storedStatus = z.object({
  wanted: z.number(),
  ready: z.number(),
  versions: z.record(z.string(), z.object({ wanted: z.number(), ready: z.number(), memoryMb: z.number() })),
  problem: z.string().optional(),
  at: z.string(),
});

/** Every config of the installation (the provisioner reads them all each round): field = {@link provisionedField}. */
const CONFIGS = 'provisioned:configs';
/** The provisioner's last status per config, same fields. */
const STATUS = 'provisioned:status';

/** `<namespace>/<function>:<qualifier>`: names never hold `/` or `:`, so the field splits back unambiguously. */
export function provisionedField(namespace: string, fn: string, qualifier: string): string {
  return `${namespace}/${fn}:${qualifier}`;
}

type ProvisionedKv = Pick<KeyValueStore, 'hget' | 'hset' | 'hdel' | 'hgetall'>;

/**
 * Provisioned-instance configs and their status on the {@link KeyValueStore}:
 * one collection for the whole installation (configs are few, one per
 * version or alias a team keeps warm), so the provisioner lists them with
 * one read.
 */
export class ProvisionedStore {
  constructor(private readonly kv: ProvisionedKv) {}

  async get(namespace: string, fn: string, qualifier: string): Promise<ProvisionedConfig | undefined> {
    const raw = await this.kv.hget(CONFIGS, provisionedField(namespace, fn, qualifier));
    return raw === undefined ? undefined : decode(storedConfig, raw);
  }

  /** Every config, sorted by field (namespace, function, qualifier). */
  async all(): Promise<ProvisionedConfig[]> {
    const all = await this.kv.hgetall(CONFIGS);
    return Object.keys(all)
      .sort()
      .map((k) => decode(storedConfig, all[k]!))
      .filter((c): c is ProvisionedConfig => c !== undefined);
  }

  /** A function's configs. */
  async ofFunction(namespace: string, fn: string): Promise<ProvisionedConfig[]> {
    return (await this.all()).filter((c) => c.namespace === namespace && c.function === fn);
  }

  async put(config: ProvisionedConfig): Promise<void> {
    await this.kv.hset(CONFIGS, provisionedField(config.namespace, config.function, config.qualifier), JSON.stringify(config));
  }

  /** Returns whether it existed. */
  async delete(namespace: string, fn: string, qualifier: string): Promise<boolean> {
    const field = provisionedField(namespace, fn, qualifier);
    await this.kv.hdel(STATUS, field);
    return this.kv.hdel(CONFIGS, field);
  }

  /** Every config of a function (it is being deleted), or of a namespace (`fn` undefined). */
  async deleteWhere(namespace: string, fn?: string): Promise<number> {
    const gone = (await this.all()).filter((c) => c.namespace === namespace && (fn === undefined || c.function === fn));
    for (const c of gone) await this.delete(c.namespace, c.function, c.qualifier);
    return gone.length;
  }

  async status(namespace: string, fn: string, qualifier: string): Promise<ProvisionedStatus | undefined> {
    const raw = await this.kv.hget(STATUS, provisionedField(namespace, fn, qualifier));
    return raw === undefined ? undefined : decode(storedStatus, raw);
  }

  /** The provisioner's round: one status per config (configs deleted since are not written back). */
  async writeStatus(statuses: ReadonlyMap<string, ProvisionedStatus>): Promise<void> {
    const live = await this.kv.hgetall(CONFIGS);
    for (const [field, status] of statuses) if (live[field] !== undefined) await this.kv.hset(STATUS, field, JSON.stringify(status));
  }
}

function decode<T>(schema: z.ZodType<T>, raw: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
