/**
 * Names of every queue and topic Brisk uses, derived from one prefix so that
 * several installations (or test runs) can share a broker.
 *
 * | channel                     | kind  | from → to            | durable |
 * |-----------------------------|-------|----------------------|---------|
 * | `<p>.invoke`                | queue | gateway → scheduler  | yes     |
 * | `<p>.exec.<executorId>`     | queue | scheduler or gateway (warm sync, transient messages) → executor | yes |
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
