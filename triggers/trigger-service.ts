import type { Topology } from '../bus/topology.js';
import type { Bus } from '../bus/types.js';
import { BriskError, NotFoundError, ValidationError } from '../core/errors.js';
import { NAME_PATTERN } from '../core/schemas.js';
import { assertCron } from '../core/cron.js';
import type { Logger } from '../core/logger.js';
import type { AliasStore } from '../releases/alias-store.js';
import { parseFunctionTarget } from '../releases/function-target.js';
import type { MetadataStore } from '../storage/types.js';
import { compileHttpPattern } from './http-pattern.js';
import type { TriggerStore } from './trigger-store.js';
import type { TriggersChangedNotice } from '../core/types.js';
import type { Trigger, TriggerSpec } from './types.js';
import { userQueueBrokerName } from './user-queues.js';

export interface TriggerServiceDeps {
  triggers: TriggerStore;
  /** Checks that a trigger's function exists when the trigger is written. */
  functions: Pick<MetadataStore, 'getFunction'>;
  /** Checks that a `name:alias` trigger's alias exists when the trigger is written. */
  aliases: Pick<AliasStore, 'get'>;
  bus: Bus;
  topology: Topology;
  logger: Logger;
  now?: () => Date;
}

/** Outcome of {@link TriggerService.put}. */
export interface PutTriggerResult {
  trigger: Trigger;
  created: boolean;
}

/**
 * Creating, reading and deleting triggers (the `/v1/triggers` API). Checks
 * what a schema cannot (the cron expression and time zone, that the function
 * exists, that no two http triggers claim the same route), writes the trigger
 * to the store and tells every scheduler and gateway on the control topic, so
 * a change takes effect within moments everywhere (runners also re-read the
 * store periodically, in case a notice is lost).
 */
export class TriggerService {
  private readonly now: () => Date;

  constructor(private readonly deps: TriggerServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async put(namespace: string, name: string, spec: TriggerSpec): Promise<PutTriggerResult> {
    assertTriggerName(name);
    if (spec.type === 'schedule') assertCron(spec.cron, spec.timezone);
    // A reserved name (the platform's prefix, `amq.`) or one too long for the broker: refused now, not at consume time.
    if (spec.type === 'queue') userQueueBrokerName(this.deps.topology.prefix, namespace, spec.queue);
    const target = parseFunctionTarget(spec.function);
    if (!(await this.deps.functions.getFunction(namespace, target.name))) {
      throw new NotFoundError('function', target.name);
    }
    // The alias must exist now; the version it points at is read each time the trigger fires.
    if (target.alias !== undefined && !(await this.deps.aliases.get(namespace, target.name, target.alias))) {
      throw new NotFoundError('alias', spec.function);
    }
    const existing = await this.deps.triggers.get(namespace, name);
    if (spec.type === 'http') await this.assertRouteFree(namespace, name, spec.method, spec.path);
    const at = this.now().toISOString();
    const trigger = { ...spec, name, namespace, createdAt: existing?.createdAt ?? at, updatedAt: at } as Trigger;
    await this.deps.triggers.put(trigger);
    await this.announce(namespace);
    return { trigger, created: existing === undefined };
  }

  async get(namespace: string, name: string): Promise<Trigger> {
    assertTriggerName(name);
    const t = await this.deps.triggers.get(namespace, name);
    if (!t) throw new NotFoundError('trigger', name);
    return t;
  }

  list(namespace: string): Promise<Trigger[]> {
    return this.deps.triggers.list(namespace);
  }

  async delete(namespace: string, name: string): Promise<void> {
    assertTriggerName(name);
    if (!(await this.deps.triggers.delete(namespace, name))) throw new NotFoundError('trigger', name);
    await this.announce(namespace);
  }

  /** Two http triggers of a namespace may not serve the same method and path shape. */
  private async assertRouteFree(namespace: string, name: string, method: string, path: string): Promise<void> {
    const shape = compileHttpPattern(path).shape;
    for (const t of await this.deps.triggers.list(namespace)) {
      if (t.type !== 'http' || t.name === name) continue;
      const sameMethod = t.method === method || t.method === 'ANY' || method === 'ANY';
      if (sameMethod && compileHttpPattern(t.path).shape === shape) {
        throw new BriskError('TRIGGER_CONFLICT', `http trigger '${t.name}' already serves ${t.method} ${t.path}`, {
          status: 409,
          data: { trigger: t.name },
        });
      }
    }
  }

  /**
   * Tell every scheduler and gateway that a namespace's triggers changed.
   * Best effort: runners refresh from the store periodically anyway.
   */
  async announce(namespace: string): Promise<void> {
    const notice: TriggersChangedNotice = { kind: 'triggers-changed', namespace };
    await this.deps.bus.publish(this.deps.topology.controlTopic, notice).catch((err: unknown) => {
      this.deps.logger.warn({ err, namespace }, 'triggers-changed notice not sent; runners pick the change up on their next refresh');
    });
  }
}

export function assertTriggerName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError('INVALID_NAME', `invalid trigger name '${name.slice(0, 80)}': use [a-z0-9][a-z0-9-_]{0,62}`);
  }
}

