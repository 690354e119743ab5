import type { Router } from 'express';
import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import type { GatewayContext } from '../gateway/gateway-server.js';
import { eventRoutes } from '../gateway/routes/events.js';
import { triggerRoutes } from '../gateway/routes/triggers.js';
import type { KeyValueStore, MetadataStore } from '../storage/types.js';
import { AmqpUserQueues } from './amqp-user-queues.js';
import { BusUserQueues } from './bus-user-queues.js';
import { httpTriggerRouter } from './http-router.js';
import { TopicDispatcher } from './topic-dispatcher.js';
import { TriggerInvoker } from './trigger-invoker.js';
import { TriggerRunners } from './trigger-runners.js';
import { TriggerService } from './trigger-service.js';
import { TriggerStore } from './trigger-store.js';
import type { UserQueues } from './user-queues.js';

/**
 * How the trigger feature plugs into each role, so the composition root only
 * adds a line per slot.
 */

export interface TriggerInfrastructure {
  /** Standalone has no RabbitMQ: user queues live on the in-process bus there. */
  mode: 'standalone' | 'distributed';
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  kv: KeyValueStore;
}

/**
 * The users' queues: the in-process bus in standalone mode (no RabbitMQ
 * there), else a connection of their own to RabbitMQ. Either way each queue
 * is scoped to its namespace under `<prefix>.userq.`.
 */
export function createUserQueues(infra: Pick<TriggerInfrastructure, 'mode' | 'bus' | 'topology' | 'kv'>, rabbitUrl: string, logger: Logger): UserQueues {
  if (infra.mode === 'standalone') return new BusUserQueues({ bus: infra.bus, prefix: infra.topology.prefix });
  return new AmqpUserQueues({ url: rabbitUrl, prefix: infra.topology.prefix, kv: infra.kv, logger: logger.child({ component: 'user-queues' }) });
}

/** The gateway's trigger routers: `/v1/triggers`, `/v1/events`, `/v1/queues` (behind auth) and `/http/…` (public). */
export function triggerGatewayRouters(
  infra: TriggerInfrastructure,
  opts: { queues: UserQueues; logger: Logger; maxPayloadBytes: number },
): { api: (ctx: GatewayContext) => Router[]; public: (ctx: GatewayContext) => Router[] } {
  const triggers = new TriggerStore(infra.kv);
  const log = opts.logger.child({ component: 'triggers' });
  const service = new TriggerService({ triggers, functions: infra.store, bus: infra.bus, topology: infra.topology, logger: log });
  return {
    api: (ctx) => {
      const firer = new TriggerInvoker({ invoker: ctx.invoker, store: infra.store });
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
  };
}

/** Start the scheduler-role runners (schedules, queue consumers, storage listener). */
export async function startTriggerRunners(
  infra: TriggerInfrastructure,
  opts: { rabbitUrl: string; logger: Logger },
): Promise<{ stop(): Promise<void> }> {
  const queues = createUserQueues(infra, opts.rabbitUrl, opts.logger);
  const runners = new TriggerRunners({ ...infra, queues, logger: opts.logger });
  try {
    await runners.start();
  } catch (err) {
    await runners.stop().catch(() => undefined);
    await queues.close();
    throw err;
  }
  return {
    stop: async () => {
      await runners.stop();
      await queues.close();
    },
  };
}
