import { BriskError, NotFoundError, ValidationError } from '../core/errors.js';
import { functionVersionKey } from '../placement/executor-registry.js';
import { capacityFor, type ProvisionDemand, type ProvisionHost } from '../placement/provisioning.js';
import type { MetadataStore } from '../storage/types.js';
import { assertCron } from '../core/cron.js';
import type { AliasStore } from './alias-store.js';
import { assertAliasName } from './function-target.js';
import type { ProvisionedPlanner, ResolvedConfig } from './provisioned-plan.js';
import { provisionedField, type ProvisionedConfig, type ProvisionedStatus, type ProvisionedStore, type ProvisionedWindow } from './provisioned-store.js';

/** Most provisioned instances one config may ask for (windows included). */
export const MAX_PROVISIONED_INSTANCES = 100;
/** Most windows one config may have. */
export const MAX_PROVISIONED_WINDOWS = 8;

/** What a write of a config asks for. */
export interface ProvisionedChange {
  instances: number;
  windows?: Array<{ cron: string; timezone?: string; durationMinutes: number; instances: number }>;
}

/** A config as the API shows it: what was asked and what the provisioner last reported. */
export interface ProvisionedView extends ProvisionedConfig {
  status: ProvisionedStatus | { wanted: number; ready: number; versions: Record<string, never>; at?: undefined };
}

/**
 * Provisioned instances of a function's versions and aliases: checked against
 * the function (the version or alias must exist), the namespace's
 * `maxProvisionedMb` and what the cluster can hold beside every other config
 * (both at their peak, windows included). A refusal is 409
 * `INSUFFICIENT_CAPACITY` with the counter-offer `available`: how many
 * instances would fit.
 */
export class ProvisionedService {
  constructor(
    private readonly deps: {
      store: Pick<MetadataStore, 'getFunction'>;
      aliases: Pick<AliasStore, 'get'>;
      configs: ProvisionedStore;
      planner: ProvisionedPlanner;
      /** The executors that can hold provisioned instances now (healthy, not draining). */
      hosts: () => ProvisionHost[];
      share: number;
      /** The namespace's `maxProvisionedMb` quota (tenancy's). */
      quotas: (namespace: string) => Promise<{ maxProvisionedMb: number }>;
    },
  ) {}

  async list(namespace: string, fn: string): Promise<ProvisionedView[]> {
    await this.function(namespace, fn);
    const configs = await this.deps.configs.ofFunction(namespace, fn);
    return Promise.all(configs.map((c) => this.view(c)));
  }

  async get(namespace: string, fn: string, qualifier: string): Promise<ProvisionedView> {
    await this.function(namespace, fn);
    const c = await this.deps.configs.get(namespace, fn, checkQualifier(qualifier));
    if (c === undefined) throw new NotFoundError('provisioned', `${fn}:${qualifier}`);
    return this.view(c);
  }

  /** Create or change a config; refused (409) when its peak does not fit the quota or the cluster. */
  async put(namespace: string, fn: string, qualifier: string, change: ProvisionedChange, now = new Date()): Promise<{ config: ProvisionedView; created: boolean }> {
    const rec = await this.function(namespace, fn);
    checkQualifier(qualifier);
    if (/^\d+$/.test(qualifier)) {
      if (!rec.versions.includes(Number(qualifier))) throw new NotFoundError('version', `${fn}@${qualifier}`);
    } else if ((await this.deps.aliases.get(namespace, fn, qualifier)) === undefined) {
      throw new NotFoundError('alias', `${fn}:${qualifier}`);
    }
    const windows = checkWindows(change.windows ?? []);
    checkCount('instances', change.instances);
    const current = await this.deps.configs.get(namespace, fn, qualifier);
    const at = now.toISOString();
    const config: ProvisionedConfig = {
      namespace,
      function: fn,
      qualifier,
      instances: change.instances,
      windows,
      createdAt: current?.createdAt ?? at,
      updatedAt: at,
    };
    await this.checkRoom(config);
    await this.deps.configs.put(config);
    return { config: await this.view(config), created: current === undefined };
  }

  async delete(namespace: string, fn: string, qualifier: string): Promise<void> {
    await this.function(namespace, fn);
    if (!(await this.deps.configs.delete(namespace, fn, checkQualifier(qualifier)))) throw new NotFoundError('provisioned', `${fn}:${qualifier}`);
  }

  /** What `GET /v1/functions/{name}` shows: ready and wanted over all of the function's configs. */
  async summary(namespace: string, fn: string): Promise<{ wanted: number; ready: number; configs: ProvisionedView[] } | undefined> {
    const configs = await this.deps.configs.ofFunction(namespace, fn);
    if (configs.length === 0) return undefined;
    const views = await Promise.all(configs.map((c) => this.view(c)));
    return { wanted: sum(views.map((v) => v.status.wanted)), ready: sum(views.map((v) => v.status.ready)), configs: views };
  }

  private async view(c: ProvisionedConfig): Promise<ProvisionedView> {
    const status = await this.deps.configs.status(c.namespace, c.function, c.qualifier);
    // Not looked at by the provisioner yet: nothing ready, the count asked for wanted.
    return { ...c, status: status ?? { wanted: c.instances, ready: 0, versions: {} } };
  }

  /**
   * The config at its peak must fit the namespace's quota beside the
   * namespace's other configs (at theirs), and the cluster's provisioned
   * budget beside every other config.
   */
  private async checkRoom(config: ProvisionedConfig): Promise<void> {
    const field = provisionedField(config.namespace, config.function, config.qualifier);
    const others = (await this.deps.configs.all()).filter((c) => provisionedField(c.namespace, c.function, c.qualifier) !== field);
    const [mine, rest] = await Promise.all([this.deps.planner.resolve([atPeak(config)]), this.deps.planner.resolve(others.map(atPeak))]);
    const wanted = demandsOf(mine);
    const peak = sum(wanted.map((d) => d.instances));
    if (peak === 0) return;
    // One instance's memory: the largest of the versions it routes to, so the counter-offer fits any split.
    const instanceMb = Math.max(...wanted.map((d) => d.memoryMb));
    const quota = (await this.deps.quotas(config.namespace)).maxProvisionedMb;
    const usedMb = sum(demandsOf(rest.filter((r) => r.config.namespace === config.namespace)).map((d) => d.instances * d.memoryMb));
    const byQuota = Math.max(0, Math.floor((quota - usedMb) / instanceMb));
    const byCluster = capacityFor(instanceMb, demandsOf(rest), this.deps.hosts(), this.deps.share);
    if (peak <= byQuota && peak <= byCluster) return;
    const limitedBy = byQuota <= byCluster ? 'quota' : 'cluster';
    const available = Math.min(byQuota, byCluster);
    const why =
      limitedBy === 'quota'
        ? `the namespace's provisioned memory quota (${quota} MB, ${usedMb} MB held by its other configs) holds ${available} instances of ${instanceMb} MB`
        : `the executors' provisioned budget holds ${available} more instances of ${instanceMb} MB`;
    throw new BriskError('INSUFFICIENT_CAPACITY', `${peak} provisioned instances of '${config.function}:${config.qualifier}' do not fit: ${why}`, {
      status: 409,
      data: { requested: peak, available, limitedBy, memoryMb: instanceMb },
    });
  }

  private async function(namespace: string, fn: string): Promise<{ versions: number[] }> {
    const rec = await this.deps.store.getFunction(namespace, fn);
    if (!rec) throw new NotFoundError('function', fn);
    return rec;
  }
}

/** A config at the most instances it ever wants. */
function atPeak(c: ProvisionedConfig): ProvisionedConfig {
  return { ...c, instances: Math.max(c.instances, ...c.windows.map((w) => w.instances)), windows: [] };
}

function demandsOf(resolved: readonly ResolvedConfig[]): ProvisionDemand[] {
  return resolved.flatMap((r) =>
    r.wants.map((w) => ({ key: functionVersionKey(w.fn.namespace, w.fn.name, w.fn.version), memoryMb: w.fn.memoryMb, instances: w.instances })),
  );
}

/** A version number or an alias name. */
function checkQualifier(q: string): string {
  if (/^[1-9]\d{0,9}$/.test(q)) return q;
  if (/^\d+$/.test(q)) throw new ValidationError('INVALID_VERSION', `'${q.slice(0, 20)}' is not a version number`);
  assertAliasName(q);
  return q;
}

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PROVISIONED_INSTANCES) {
    throw new ValidationError('INVALID_BODY', `${what} must be an integer from 0 to ${MAX_PROVISIONED_INSTANCES}`);
  }
}

function checkWindows(windows: NonNullable<ProvisionedChange['windows']>): ProvisionedWindow[] {
  if (windows.length > MAX_PROVISIONED_WINDOWS) throw new ValidationError('INVALID_BODY', `at most ${MAX_PROVISIONED_WINDOWS} windows`);
  return windows.map((w) => {
    const timezone = w.timezone ?? 'UTC';
    assertCron(w.cron, timezone);
    checkCount('a window\'s instances', w.instances);
    if (!Number.isInteger(w.durationMinutes) || w.durationMinutes < 1 || w.durationMinutes > 7 * 24 * 60) {
      throw new ValidationError('INVALID_BODY', 'a window\'s durationMinutes must be an integer from 1 to 10080 (a week)');
    }
    return { cron: w.cron, timezone, durationMinutes: w.durationMinutes, instances: w.instances };
  });
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
