import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bus, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import type { BriskConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { parseControl } from '../core/schemas.js';
import type { FunctionChangedNotice, KeysRevokedNotice } from '../core/types.js';
import type { BundleStore } from '../storage/bundles.js';
import type { KeyValueStore, MetadataStore, ObjectStore } from '../storage/types.js';
import type { Router } from 'express';
import type { Metrics } from '../core/metrics.js';
import { SecretBox } from '../core/secret-box.js';
import { FunctionSecrets } from '../tenancy/function-secrets.js';
import { defaultQuotas, InvocationAdmission } from '../tenancy/quotas.js';
import { TenancyService } from '../tenancy/tenancy-service.js';
import { NamespacePurge, type NamespacePurgeDeps } from '../tenancy/namespace-purge.js';
import { DeadLetterStore } from '../invocations/dead-letters.js';
import { AliasService } from '../releases/alias-service.js';
import { AliasStore } from '../releases/alias-store.js';
import { FunctionRouter } from '../releases/function-router.js';
import { RetryPolicy } from '../invocations/retry-policy.js';
import { Submitter } from '../invocations/submit.js';
import { createGatewayListener } from './app.js';
import { Authenticator } from './auth.js';
import { namespaceRoutes } from './routes/namespaces.js';
import { usageRoutes } from './routes/usage.js';
import { Bundler } from './deploy/bundler.js';
import { PythonBuilder } from './deploy/python-build.js';
import { RuntimeCatalog } from './runtimes.js';
import type { ProvisionHost } from '../placement/provisioning.js';
import { ProvisionedPlanner } from '../releases/provisioned-plan.js';
import { ProvisionedService } from '../releases/provisioned-service.js';
import { ProvisionedStore } from '../releases/provisioned-store.js';
import { FunctionService } from './function-service.js';
import { Invoker } from './invoker.js';
import type { WarmDispatcher } from './warm-dispatcher.js';

export interface GatewayServerDeps {
  config: BriskConfig;
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  objects: ObjectStore;
  /** Where deploys put bundles (see {@link BundleStore}). */
  bundles: BundleStore;
  kv: KeyValueStore;
  logger: Logger;
  metrics?: Metrics;
  /** Feature routers mounted behind /v1 authentication (triggers, objects, dead letters …). */
  apiRouters?: (ctx: GatewayContext) => Router[];
  /** Feature routers outside /v1 (http trigger routes …). */
  publicRouters?: (ctx: GatewayContext) => Router[];
  /** A namespace's triggers, removed when the namespace is deleted (the trigger feature's part of the purge). */
  namespaceTriggers: Pick<NamespacePurgeDeps, 'triggers' | 'triggersChanged' | 'userQueues'>;
  /** The direct path for warm sync calls (distributed mode, `BRISK_DIRECT_SYNC`); without it every call goes through a scheduler. */
  direct?: WarmDispatcher;
  /**
   * The executors that can hold provisioned instances now, as this gateway
   * hears their heartbeats: what a provisioned config is checked against.
   * Absent: none (every config is refused as not fitting).
   */
  provisionHosts?: () => ProvisionHost[];
}

/** What feature routers get to work with. */
export interface GatewayContext {
  functions: FunctionService;
  /** Sync invocations: submits them and waits for their replies. */
  invoker: Invoker;
  /** Async invocations: records them `queued` and submits them. */
  submitter: Submitter;
  /** Who is calling (for public routers that take keys, like http triggers). */
  auth: Authenticator;
  /** Namespace rate and payload quotas for one invocation; throws when over. */
  admit: (namespace: string, payloadBytes: number, mode: 'sync' | 'async') => Promise<void>;
  tenancy: TenancyService;
}

/** The gateway role: HTTP server + invoker, on whatever bus and stores it is handed. */
export class GatewayServer {
  readonly invoker: Invoker;
  readonly submitter: Submitter;
  private readonly tenancy: TenancyService;
  private control: Subscription | undefined;
  private server: http.Server | undefined;

  constructor(private readonly deps: GatewayServerDeps) {
    // A key revoked here is forgotten here at once; the other gateways hear it on the control topic.
    this.tenancy = new TenancyService(deps.kv, defaultQuotas(deps.config), {
      // Awaited, so a revocation answers once the other gateways' notice is on the bus; a lost one is bounded by KEY_CACHE_MS.
      onKeysRevoked: async (keyIds) => {
        const notice: KeysRevokedNotice = { kind: 'keys-revoked', keyIds };
        await deps.bus.publish(deps.topology.controlTopic, notice).catch((err: unknown) => deps.logger.warn({ err }, 'key revocation notice not sent'));
      },
    });
    this.submitter = new Submitter({
      bus: deps.bus,
      store: deps.store,
      topology: deps.topology,
      retry: RetryPolicy.fromConfig(deps.config),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      namespaceConcurrency: async (ns) => (await this.tenancy.quotas(ns)).maxConcurrency,
    });
    this.invoker = new Invoker({
      bus: deps.bus,
      topology: deps.topology,
      submitter: this.submitter,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.direct ? { direct: deps.direct } : {}),
    });
  }

  /** Start listening; resolves with the bound port (BRISK_PORT=0 picks a free one). */
  async start(): Promise<number> {
    const { config: c, logger } = this.deps;
    await this.invoker.start();
    const tenancy = this.tenancy;
    const secretBox = c.BRISK_SECRET_KEY !== undefined ? new SecretBox(c.BRISK_SECRET_KEY) : undefined;
    const secrets = new FunctionSecrets(this.deps.kv, secretBox);
    const runtimes = new RuntimeCatalog({ python: c.BRISK_PYTHON, allowImages: c.BRISK_ALLOW_IMAGES });
    const aliasStore = new AliasStore(this.deps.kv);
    const provisionedStore = new ProvisionedStore(this.deps.kv);
    const functions = new FunctionService({
      aliases: aliasStore,
      provisioned: provisionedStore,
      router: new FunctionRouter({ store: this.deps.store, aliases: aliasStore }),
      store: this.deps.store,
      bundles: this.deps.bundles,
      bundler: (limits) => new Bundler({ maxUnpackedBytes: limits.maxUnpackedBytes, maxFiles: c.BRISK_MAX_ARCHIVE_FILES }),
      pythonBuilder: (limits) => new PythonBuilder({ python: c.BRISK_PYTHON, maxUnpackedBytes: limits.maxUnpackedBytes, maxFiles: c.BRISK_MAX_ARCHIVE_FILES }),
      runtimes,
      secrets,
      quotas: (ns) => tenancy.quotas(ns),
      defaults: { memoryMb: c.BRISK_DEFAULT_MEMORY_MB, timeoutMs: c.BRISK_DEFAULT_TIMEOUT_MS },
      onChange: (namespace, name) => {
        const notice: FunctionChangedNotice = { kind: 'function-changed', namespace, name };
        this.deps.bus.publish(this.deps.topology.controlTopic, notice).catch((err: unknown) => logger.warn({ err }, 'change notice not sent'));
      },
    });
    const aliases = new AliasService({ store: this.deps.store, aliases: aliasStore, onChange: (ns, name) => functions.changed(ns, name) });
    const provisioned = new ProvisionedService({
      store: this.deps.store,
      aliases: aliasStore,
      configs: provisionedStore,
      planner: new ProvisionedPlanner({ store: this.deps.store, aliases: aliasStore }),
      hosts: this.deps.provisionHosts ?? (() => []),
      share: c.BRISK_PROVISIONED_SHARE,
      quotas: (ns) => tenancy.quotas(ns),
    });
    // Other gateways' deploys, deletes and alias moves: drop what this one caches of those functions; their key revocations: forget the keys.
    this.control = await this.deps.bus.subscribe(this.deps.topology.controlTopic, (raw) => {
      const n = parseControl(raw, logger);
      if (n?.kind === 'function-changed') functions.forget(n.namespace, n.name);
      else if (n?.kind === 'keys-revoked') tenancy.forgetKeys(n.keyIds);
    });
    const purge = new NamespacePurge({
      tenancy,
      functions,
      ...this.deps.namespaceTriggers,
      deadLetters: new DeadLetterStore(this.deps.kv),
      secrets,
      store: this.deps.store,
      objects: this.deps.objects,
      kv: this.deps.kv,
      logger: logger.child({ component: 'namespace-purge' }),
    });
    const auth = new Authenticator(c.BRISK_ADMIN_KEY, tenancy);
    const admission = new InvocationAdmission(this.deps.kv);
    const admit = async (ns: string, bytes: number, mode: 'sync' | 'async'): Promise<void> =>
      admission.admit(ns, await tenancy.quotas(ns), bytes, mode);
    const ctx: GatewayContext = { functions, invoker: this.invoker, submitter: this.submitter, auth, admit, tenancy };
    const listener = createGatewayListener({
      functions,
      runtimes,
      aliases,
      provisioned,
      invoker: this.invoker,
      submitter: this.submitter,
      store: this.deps.store,
      logger,
      limits: {
        defaultMemoryMb: c.BRISK_DEFAULT_MEMORY_MB,
        maxMemoryMb: c.BRISK_MAX_MEMORY_MB,
        defaultTimeoutMs: c.BRISK_DEFAULT_TIMEOUT_MS,
        maxTimeoutMs: c.BRISK_MAX_TIMEOUT_MS,
        maxPayloadBytes: c.BRISK_MAX_PAYLOAD_BYTES,
        maxCodeBytes: c.BRISK_MAX_CODE_BYTES,
      },
      auth,
      admit,
      adminRouter: namespaceRoutes({ tenancy, purge }),
      ...(this.deps.metrics ? { metrics: this.deps.metrics } : {}),
      health: () => ({
        bus: this.deps.bus.status,
        store: this.deps.store.status,
        objects: this.deps.objects.status,
        kv: this.deps.kv.status,
      }),
      apiRouters: [usageRoutes({ kv: this.deps.kv }), ...(this.deps.apiRouters?.(ctx) ?? [])],
      publicRouters: this.deps.publicRouters?.(ctx) ?? [],
    });
    const server = http.createServer(listener);
    // Longer than common load balancers' idle timeout, so they close first.
    server.keepAliveTimeout = 65_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(c.BRISK_PORT, c.BRISK_HOST, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    logger.info({ port, host: c.BRISK_HOST, gatewayId: this.invoker.gatewayId }, 'gateway listening');
    // A namespace delete this (or another) gateway did not finish: finish it, in the background.
    void purge.resumeInterrupted();
    return port;
  }

  /** Stop taking requests, let in-flight ones finish (bounded), release waiters. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(timer);
    }
    await this.invoker.stop();
    await this.control?.cancel();
  }
}
