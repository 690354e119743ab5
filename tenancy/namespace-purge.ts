import { NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { deleteUsage } from '../metering/usage-meter.js';
import type { DeadLetterStore } from '../invocations/dead-letters.js';
import { purgeNamespaceObjects } from '../storage/object-service.js';
import { stateKey, type KeyValueStore, type MetadataStore, type ObjectStore } from '../storage/types.js';
import { aliasesPrefix } from '../releases/alias-store.js';
import { ProvisionedStore } from '../releases/provisioned-store.js';
import type { FunctionSecrets } from './function-secrets.js';
import type { TenancyService } from './tenancy-service.js';

export interface NamespacePurgeDeps {
  tenancy: TenancyService;
  /** Deletes go through the function service: it tells every gateway to drop its cached copy. */
  functions: {
    list(namespace: string): Promise<{ name: string }[]>;
    delete(namespace: string, name: string): Promise<void>;
  };
  /** The namespace's triggers (the trigger feature's store). */
  triggers: { deleteNamespace(namespace: string): Promise<void> };
  /** Tells schedulers and gateways that a namespace's triggers changed (the control topic). */
  triggersChanged: (namespace: string) => Promise<void>;
  /** The users' queues (RabbitMQ, or the memory bus in standalone): the namespace's are deleted with their messages. */
  userQueues: { deleteNamespace(namespace: string): Promise<number> };
  deadLetters: Pick<DeadLetterStore, 'deleteNamespace'>;
  secrets: Pick<FunctionSecrets, 'dropNamespace'>;
  store: Pick<MetadataStore, 'deleteActivations'>;
  objects: ObjectStore;
  kv: KeyValueStore;
  logger: Logger;
}

/**
 * Deleting a namespace, and everything it owns, so that a namespace created
 * later under the same name starts empty.
 *
 * 1. {@link TenancyService.beginDelete} marks it `deletingSince` and revokes
 *    its keys: its tenant can add nothing more, and a create of the same name
 *    is refused (409 `NAMESPACE_DELETING`) until step 3.
 * 2. The purge, one kind of data at a time, each through its store's batched
 *    delete (SCAN/UNLINK on Redis, DeleteObjects on S3, one journal line on
 *    the file stores), so the event loop is never held for long: functions
 *    first (nothing new is invoked), then triggers (schedulers and queue
 *    consumers drop them on the control-topic notice), the namespace's user
 *    queues with their messages, activations, dead letters, state, objects,
 *    usage and secrets.
 * 3. {@link TenancyService.finishDelete} removes the record: the name is free.
 *
 * Every step is idempotent. An interrupted delete (a store outage, a crash)
 * leaves the namespace marked, and deleting it again, or the next gateway
 * start ({@link resumeInterrupted}), finishes the purge.
 */
export class NamespacePurge {
  constructor(private readonly deps: NamespacePurgeDeps) {}

  /** The whole delete; resolves once the name is free again. */
  async deleteNamespace(namespace: string): Promise<void> {
    await this.deps.tenancy.beginDelete(namespace);
    await this.purge(namespace);
    await this.deps.tenancy.finishDelete(namespace);
  }

  /** Finish deletes a stopped process left half done. Never rejects (it logs). */
  async resumeInterrupted(): Promise<void> {
    let pending: string[];
    try {
      pending = await this.deps.tenancy.interruptedDeletes();
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not look for interrupted namespace deletes');
      return;
    }
    for (const ns of pending) {
      try {
        await this.deleteNamespace(ns);
        this.deps.logger.info({ namespace: ns }, 'interrupted namespace delete finished');
      } catch (err) {
        this.deps.logger.warn({ err, namespace: ns }, 'interrupted namespace delete failed again; delete it again to finish');
      }
    }
  }

  private async purge(ns: string): Promise<void> {
    const d = this.deps;
    const counts: Record<string, number> = {};
    for (const f of await d.functions.list(ns)) {
      try {
        await d.functions.delete(ns, f.name);
      } catch (err) {
        // Deleted meanwhile by someone else: that is the outcome wanted.
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    await d.triggers.deleteNamespace(ns);
    await d.triggersChanged(ns);
    counts['queues'] = await d.userQueues.deleteNamespace(ns);
    counts['activations'] = await d.store.deleteActivations(ns);
    await d.deadLetters.deleteNamespace(ns);
    counts['state'] = await d.kv.deleteByPrefix(stateKey(ns, ''));
    // Deleting each function deleted its aliases; this also takes any written while the purge ran.
    counts['aliases'] = await d.kv.deleteByPrefix(aliasesPrefix(ns));
    counts['provisioned'] = await new ProvisionedStore(d.kv).deleteWhere(ns);
    counts['objects'] = await purgeNamespaceObjects(d.objects, d.kv, ns);
    await deleteUsage(d.kv, ns);
    await d.secrets.dropNamespace(ns);
    d.logger.info({ namespace: ns, removed: counts }, 'namespace purged');
  }
}
