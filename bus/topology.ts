/**
 * Names of every queue and topic Brisk uses, derived from one prefix so that
 * several installations (or test runs) can share a broker.
 *
 * | channel                     | kind  | from → to            | durable |
 * |-----------------------------|-------|----------------------|---------|
 * | `<p>.invoke`                | queue | gateway → scheduler  | yes     |
 * | `<p>.exec.<executorId>`     | queue | scheduler → executor | yes     |
 * | `<p>.direct.<executorId>`   | queue | gateway → executor (warm sync calls; exclusive to the executor's connection, transient messages) | no |
 * | `<p>.reply.<gatewayId>`     | queue | executor → gateway   | no      |
 * | `<p>.sched.<schedulerId>`   | queue | executor → scheduler | no      |
 * | `<p>.dead`                  | queue | any → operators      | yes     |
 * | `<p>.delay.<ms>`            | queue | any → back to its queue after `<ms>` (delayed sends, RabbitMQ) | yes |
 * | `<p>.heartbeat`             | topic | executor → schedulers| —       |
 * | `<p>.control`               | topic | any → all            | —       |
 * | `<p>.objects`               | topic | object API → triggers| —       |
 */
/** See `core/types.ts` ObjectEvent for the body of objectEventsTopic messages. */
export class Topology {
  constructor(readonly prefix: string) {}

  get invokeQueue(): string {
    return `${this.prefix}.invoke`;
  }
  executorQueue(executorId: string): string {
    return `${this.prefix}.exec.${executorId}`;
  }
  /**
   * Warm sync calls a gateway placed itself (`gateway/warm-dispatcher.ts`).
   * Exclusive to the executor's connection: the broker deletes it, with what
   * waits in it, the moment the executor is gone, which is how a gateway
   * tells a dead executor from a slow one.
   */
  directQueue(executorId: string): string {
    return `${this.prefix}.direct.${executorId}`;
  }
  replyQueue(gatewayId: string): string {
    return `${this.prefix}.reply.${gatewayId}`;
  }
  /** Completions of the runs a scheduler dispatched (frees its reservations). */
  schedulerQueue(schedulerId: string): string {
    return `${this.prefix}.sched.${schedulerId}`;
  }
  get deadLetterQueue(): string {
    return `${this.prefix}.dead`;
  }
  /** Where RabbitMQ holds messages sent with a delay of `stepMs` (see `AmqpBus`); also its exchange's name. */
  delayQueue(stepMs: number): string {
    return `${this.prefix}.delay.${stepMs}`;
  }
  get heartbeatTopic(): string {
    return `${this.prefix}.heartbeat`;
  }
  /** Object created/deleted events ({@link ObjectEvent}) from Brisk's object API. */
  get objectEventsTopic(): string {
    return `${this.prefix}.objects`;
  }
  /** Function updated/deleted notices, executor drain requests, cache invalidation. */
  get controlTopic(): string {
    return `${this.prefix}.control`;
  }
}
