import type { KeyValueStore } from '../storage/types.js';
import type { Trigger } from './types.js';

/** Collection of one namespace's triggers: field = trigger name, value = JSON. */
export function triggersCollection(namespace: string): string {
  return `triggers:${namespace}`;
}

/** Collection listing the namespaces that have (or had) triggers, so runners can find them all. */
export const TRIGGER_NAMESPACES_COLLECTION = 'triggers-namespaces';

/**
 * Triggers on the {@link KeyValueStore}: one listable collection per namespace
 * plus an index of namespaces. Values are validated when written (the HTTP
 * edge), so reading trusts them; a value that does not parse is skipped
 * rather than breaking every runner.
 */
export class TriggerStore {
  constructor(private readonly kv: Pick<KeyValueStore, 'hget' | 'hset' | 'hdel' | 'hgetall' | 'deleteCollection'>) {}

  async get(namespace: string, name: string): Promise<Trigger | undefined> {
    const raw = await this.kv.hget(triggersCollection(namespace), name);
    return raw === undefined ? undefined : decode(raw);
  }

  async put(trigger: Trigger): Promise<void> {
    await this.kv.hset(TRIGGER_NAMESPACES_COLLECTION, trigger.namespace, '1');
    await this.kv.hset(triggersCollection(trigger.namespace), trigger.name, JSON.stringify(trigger));
  }

  /** Returns whether it existed. */
  delete(namespace: string, name: string): Promise<boolean> {
    return this.kv.hdel(triggersCollection(namespace), name);
  }

  /**
   * Every trigger of a namespace (it is being deleted). Runners drop them on
   * their next reload: send a `triggers-changed` notice after this.
   */
  async deleteNamespace(namespace: string): Promise<void> {
    await this.kv.deleteCollection(triggersCollection(namespace));
    await this.kv.hdel(TRIGGER_NAMESPACES_COLLECTION, namespace);
  }

  /** A namespace's triggers, sorted by name. */
  async list(namespace: string): Promise<Trigger[]> {
    const all = await this.kv.hgetall(triggersCollection(namespace));
    return Object.values(all)
      .map(decode)
      .filter((t): t is Trigger => t !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every trigger of every namespace (what the scheduler-side runners load). */
  async listAll(): Promise<Trigger[]> {
    const namespaces = Object.keys(await this.kv.hgetall(TRIGGER_NAMESPACES_COLLECTION)).sort();
    const lists = await Promise.all(namespaces.map((ns) => this.list(ns)));
    return lists.flat();
  }
}

function decode(raw: string): Trigger | undefined {
  try {
    const t = JSON.parse(raw) as Trigger;
    return typeof t === 'object' && t !== null && typeof t.type === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}
