import type { Request, Router } from 'express';
import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../web/http.js';
import type { Submitter } from '../invocations/submit.js';
import { AliasStore } from '../releases/alias-store.js';
import { FunctionRouter } from '../releases/function-router.js';
import type { NamespacePurgeDeps } from '../tenancy/namespace-purge.js';
import type { KeyValueStore, MetadataStore } from '../storage/types.js';
import { httpTriggerRouter, type HttpTriggerRouterDeps } from './http-router.js';
import { eventRoutes } from './routes/events.js';
import { triggerRoutes } from './routes/triggers.js';
import { TopicDispatcher } from './topic-dispatcher.js';
import { TriggerInvoker } from './trigger-invoker.js';
import { TriggerRunners } from './trigger-runners.js';
import { TriggerService } from './trigger-service.js';
import { TriggerStore } from './trigger-store.js';
import type { UserQueues } from './user-queues.js';

/**
 * How the trigger feature plugs into each role, so the composition root only
 * adds a line per slot. The feature owns its routes (`routes/`); the gateway
 * mounts them and lends what they need through {@link TriggerGatewayContext}.
 */

export interface TriggerInfrastructure {
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  kv: KeyValueStore;
}

/** What the gateway lends the trigger routes (its `GatewayContext` is one). */
export interface TriggerGatewayContext {
  functions: HttpTriggerRouterDeps['functions'];
  /** Http triggers: sync invocations, answered on the gateway's reply queue. */
  invoker: HttpTriggerRouterDeps['invoker'];
  /** Topic triggers: async invocations. */
  submitter: Pick<Submitter, 'submitAsync'>;
  auth: { principal(req: Request): Promise<Principal | undefined> };
  admit: NonNullable<HttpTriggerRouterDeps['admit']>;
}

/**
 * The gateway's trigger routers: `/v1/triggers`, `/v1/events`, `/v1/queues`
 * (behind auth) and `/http/…` (public); and the feature's part of deleting a
 * namespace.
 */
export function triggerGatewayRouters(
  infra: TriggerInfrastructure,
  opts: { queues: UserQueues; logger: Logger; maxPayloadBytes: number },
): {
  api: (ctx: TriggerGatewayContext) => Router[];
  public: (ctx: TriggerGatewayContext) => Router[];
  namespaceTriggers: Pick<NamespacePurgeDeps, 'triggers' | 'triggersChanged' | 'userQueues'>;
} {
  const triggers = new TriggerStore(infra.kv);
  const log = opts.logger.child({ component: 'triggers' });
  const aliases = new AliasStore(infra.kv);
  const service = new TriggerService({ triggers, functions: infra.store, aliases, bus: infra.bus, topology: infra.topology, logger: log });
  return {
    api: (ctx) => {
      const firer = new TriggerInvoker({ submitter: ctx.submitter, store: infra.store, router: new FunctionRouter({ store: infra.store, aliases }) });
      const topics = new TopicDispatcher({ triggers, firer, logger: log });
      return [triggerRoutes({ triggers: service }), eventRoutes({ topics, queues: opts.queues, maxPayloadBytes: opts.maxPayloadBytes })];
    },
    public: (ctx) => [
      httpTriggerRouter({
        triggers,
        functions: ctx.functions,
        invoker: ctx.invoker,
        maxPayloadBytes: opts.maxPayloadBytes,
        caller: (req) => ctx.auth.principal(req),
        admit: ctx.admit,
      }),
    ],
    namespaceTriggers: { triggers, triggersChanged: (namespace) => service.announce(namespace), userQueues: opts.queues },
  };
}

/** Start the scheduler-role runners (schedules, queue consumers, storage listener). */
export async function startTriggerRunners(
  infra: TriggerInfrastructure,
  opts: { queues: UserQueues; submitter: Pick<Submitter, 'submitAsync'>; logger: Logger },
): Promise<{ stop(): Promise<void> }> {
  const runners = new TriggerRunners({ ...infra, ...opts });
  try {
    await runners.start();
  } catch (err) {
    await runners.stop().catch(() => undefined);
    throw err;
  }
  return { stop: () => runners.stop() };
}
