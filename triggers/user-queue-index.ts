import type { KeyValueStore } from '../storage/types.js';

/** The KV collection listing the user queues of `namespace` (field: the user's queue name). */
export function userQueuesCollection(namespace: string): string {
  return `userq:${namespace}`;
}

/**
 * Which queues each namespace has used on RabbitMQ, so that deleting the
 * namespace can delete them: AMQP has no way to list queues (the management
 * API is another service, and may be off). One {@link KeyValueStore}
 * collection per namespace, shared by every process.
 *
 * Written when a process first declares or uses a queue, then remembered in
 * the process: once per process per queue, never per message. A queue the
 * process creates is always written, even if remembered: after a namespace
 * was deleted (by this gateway or another one) its queues are gone, and the
 * first use of a name re-creates the queue and lists it again.
 */
export class UserQueueIndex {
  /** `<namespace>/<queue>` pairs this process has written. */
  private readonly written = new Set<string>();

  constructor(private readonly kv: Pick<KeyValueStore, 'hset' | 'hdel' | 'hgetall'>) {}

  /** Remember that `namespace` uses `queue`. `created`: this process just declared it. */
  async note(namespace: string, queue: string, created = false): Promise<void> {
    const key = `${namespace}/${queue}`;
    if (!created && this.written.has(key)) return;
    await this.kv.hset(userQueuesCollection(namespace), queue, '1');
    this.written.add(key);
  }

  /** The user queue names `namespace` has used (not scoped: `jobs`, not `<prefix>.userq.<ns>.jobs`). */
  async queues(namespace: string): Promise<string[]> {
    return Object.keys(await this.kv.hgetall(userQueuesCollection(namespace))).sort();
  }

  /**
   * Forget one queue of a namespace, once it is deleted. Field by field (not
   * the whole collection): a queue declared again meanwhile by another
   * process stays listed, for the next delete to find.
   */
  async forget(namespace: string, queue: string): Promise<void> {
    await this.kv.hdel(userQueuesCollection(namespace), queue);
    this.written.delete(`${namespace}/${queue}`);
  }
}
