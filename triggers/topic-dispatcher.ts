import type { CloudEventV1 } from 'cloudevents';
import { BriskError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { TriggerInvoker } from './trigger-invoker.js';
import type { TriggerStore } from './trigger-store.js';
import type { TriggerOf } from './types.js';

/** One subscriber's share of a published event. */
export interface TopicDelivery {
  trigger: string;
  function: string;
  activationId?: string;
  /** Set when this subscriber could not be invoked (its function was deleted). */
  error?: { code: string; message: string };
}

/**
 * Runs `topic` triggers in the gateway: an event published to a topic is
 * handed, as a CloudEvent in its JSON form, to every function subscribed to
 * that topic in the namespace, each as its own async invocation (so each
 * subscriber gets the async retry rules independently). Subscribers are read
 * from the store per publish, so a new subscription applies at once.
 */
export class TopicDispatcher {
  constructor(
    private readonly deps: {
      triggers: Pick<TriggerStore, 'list'>;
      firer: Pick<TriggerInvoker, 'fire'>;
      logger: Logger;
    },
  ) {}

  async publish(namespace: string, topic: string, event: CloudEventV1<unknown>): Promise<TopicDelivery[]> {
    const subscribers = (await this.deps.triggers.list(namespace)).filter(
      (t): t is TriggerOf<'topic'> => t.type === 'topic' && t.topic === topic,
    );
    return Promise.all(
      subscribers.map(async (t): Promise<TopicDelivery> => {
        try {
          const activationId = await this.deps.firer.fire(t, event);
          return { trigger: t.name, function: t.function, activationId };
        } catch (err) {
          // A deleted function must not keep the other subscribers from their event.
          if (err instanceof BriskError && err.status === 404) {
            this.deps.logger.warn({ trigger: t.name, function: t.function, topic }, 'topic subscriber function is gone');
            return { trigger: t.name, function: t.function, error: { code: err.code, message: err.message } };
          }
          throw err;
        }
      }),
    );
  }
}
