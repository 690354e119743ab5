import { randomUUID } from 'node:crypto';
import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import type { KeyValueStore, MetadataStore } from '../storage/types.js';
import type { Submitter } from '../invocations/submit.js';
import { AliasStore } from '../releases/alias-store.js';
import { FunctionRouter } from '../releases/function-router.js';
import { QueueConsumer } from './queue-consumer.js';
import { ScheduleRunner } from './schedule-runner.js';
import { StorageListener } from './storage-listener.js';
import { TriggerCatalog } from './trigger-catalog.js';
import { TriggerInvoker } from './trigger-invoker.js';
import { TriggerStore } from './trigger-store.js';
import type { UserQueues } from './user-queues.js';

export interface TriggerRunnersDeps {
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  kv: KeyValueStore;
  /** The users' queues `queue` triggers consume (RabbitMQ, or the memory bus in standalone). */
  queues: UserQueues;
  /** Submits the async invocations triggers make. */
  submitter: Pick<Submitter, 'submitAsync'>;
  logger: Logger;
  /** Safety-net reload of the trigger list (default 5 s). */
  refreshMs?: number;
}

/**
 * The trigger runners of the scheduler role: schedules, queue consumers and
 * the storage listener, fed by one {@link TriggerCatalog}. (Topic and http
 * triggers are request-driven and live in the gateway.) Any number of
 * schedulers may run them at once: ticks and object events are leased, queue
 * consumers compete.
 */
export class TriggerRunners {
  readonly id = `trg-${randomUUID().slice(0, 8)}`;
  readonly schedules: ScheduleRunner;
  readonly queueConsumer: QueueConsumer;
  readonly storage: StorageListener;
  private readonly catalog: TriggerCatalog;

  constructor(private readonly deps: TriggerRunnersDeps) {
    const triggers = new TriggerStore(deps.kv);
    const router = new FunctionRouter({ store: deps.store, aliases: new AliasStore(deps.kv) });
    const firer = new TriggerInvoker({ submitter: deps.submitter, store: deps.store, router });
    const log = deps.logger.child({ component: 'triggers' });
    this.schedules = new ScheduleRunner({ firer, kv: deps.kv, logger: log, ownerId: this.id });
    this.queueConsumer = new QueueConsumer({ queues: deps.queues, firer, logger: log });
    this.storage = new StorageListener({
      bus: deps.bus,
      topology: deps.topology,
      kv: deps.kv,
      triggers,
      firer,
      logger: log,
      ownerId: this.id,
    });
    this.catalog = new TriggerCatalog({
      triggers,
      bus: deps.bus,
      topology: deps.topology,
      logger: log,
      ...(deps.refreshMs !== undefined ? { refreshMs: deps.refreshMs } : {}),
    });
    this.catalog.onChange((all) => this.schedules.reconcile(all));
    this.catalog.onChange((all) => this.queueConsumer.reconcile(all));
  }

  async start(): Promise<void> {
    await this.deps.bus.assertQueue(this.deps.topology.invokeQueue, { durable: true });
    await this.deps.queues.waitUntilReady();
    await this.storage.start();
    await this.catalog.start();
  }

  /** Stop firing; queue messages in progress go back to their queues. */
  async stop(): Promise<void> {
    await this.catalog.stop();
    this.schedules.stop();
    await this.storage.stop();
    await this.queueConsumer.stop();
  }
}
