import type { Subscription } from '../bus/types.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { exceedsDepth, MAX_JSON_DEPTH } from '../core/json-depth.js';
import type { Logger } from '../core/logger.js';
import { sleep } from '../core/util.js';
import type { TriggerInvoker } from './trigger-invoker.js';
import { triggerLabel, triggerRevision, type QueueEvent, type QueueMessageEvent, type Trigger, type TriggerOf } from './types.js';
import { QUEUE_DEAD_HEADERS, type QueueDelivery, type UserQueues } from './user-queues.js';

interface Running {
  revision: string;
  trigger: TriggerOf<'queue'>;
  subscription: Promise<Subscription | undefined>;
  buffer: QueueDelivery[];
  flushTimer: NodeJS.Timeout | undefined;
  inFlight: Set<Promise<void>>;
  abort: AbortController;
}

/** Pause before handing a message back when the platform could not even queue the invocation. */
const REQUEUE_DELAY_MS = 1000;

/**
 * Runs `queue` triggers in the scheduler role: one consumer per trigger on
 * the user's queue, one invocation per message (or per batch of up to
 * `batchSize`, sent after `batchWindowMs` when not full).
 *
 * A message is acknowledged only after its invocation succeeded: the consumer
 * waits for the activation's final record, which comes after the function's
 * own async retries. A final failure dead-letters the message(s) (see
 * {@link QueueDelivery.deadLetter}); a function that no longer exists
 * dead-letters too; a platform that cannot queue the invocation hands the
 * message back. With several schedulers the consumers compete for messages;
 * a scheduler that stops mid-invocation hands its messages back, so delivery
 * is at-least-once.
 */
export class QueueConsumer {
  private readonly running = new Map<string, Running>();
  private stopped = false;

  constructor(
    private readonly deps: {
      queues: UserQueues;
      firer: Pick<TriggerInvoker, 'fire' | 'waitForFinal'>;
      logger: Logger;
    },
  ) {}

  /** Start, restart or stop consumers to match the current list of triggers. */
  async reconcile(all: Trigger[]): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, TriggerOf<'queue'>>();
    for (const t of all) if (t.type === 'queue') wanted.set(`${t.namespace}/${t.name}`, t);
    const stops: Promise<void>[] = [];
    for (const [key, r] of this.running) {
      const t = wanted.get(key);
      if (!t || triggerRevision(t) !== r.revision) stops.push(this.end(key));
    }
    await Promise.all(stops);
    for (const [key, t] of wanted) if (!this.running.has(key)) this.begin(key, t);
    await Promise.all([...this.running.values()].map((r) => r.subscription));
  }

  get size(): number {
    return this.running.size;
  }

  /** Stop consuming; messages whose invocation is still running go back to their queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running.keys()].map((k) => this.end(k)));
  }

  private begin(key: string, trigger: TriggerOf<'queue'>): void {
    const r: Running = {
      revision: triggerRevision(trigger),
      trigger,
      subscription: Promise.resolve(undefined),
      buffer: [],
      flushTimer: undefined,
      inFlight: new Set(),
      abort: new AbortController(),
    };
    r.subscription = this.deps.queues
      .consume(trigger.namespace, trigger.queue, (d) => this.onMessage(r, d), { prefetch: trigger.batchSize * trigger.concurrency })
      .catch((err: unknown) => {
        if (err instanceof ValidationError) {
          // A name no longer allowed (stored before reserved names were refused): it never will be; not retried until the trigger changes.
          this.deps.logger.error({ err, trigger: trigger.name, queue: trigger.queue }, 'queue trigger names a queue it may not use; not consuming');
          return undefined;
        }
        // Retried on the next catalog refresh (the entry is dropped so reconcile starts it again).
        this.deps.logger.error({ err, trigger: trigger.name, queue: trigger.queue }, 'queue trigger could not start consuming');
        if (this.running.get(key) === r) this.running.delete(key);
        return undefined;
      });
    this.running.set(key, r);
  }

  private async end(key: string): Promise<void> {
    const r = this.running.get(key);
    if (!r) return;
    this.running.delete(key);
    if (r.flushTimer) clearTimeout(r.flushTimer);
    r.abort.abort(new Error('queue trigger stopped'));
    for (const d of r.buffer.splice(0)) await d.requeue();
    await Promise.allSettled([...r.inFlight]);
    await (await r.subscription)?.cancel();
  }

  private onMessage(r: Running, d: QueueDelivery): void {
    if (r.abort.signal.aborted) {
      void d.requeue();
      return;
    }
    r.buffer.push(d);
    if (r.buffer.length >= r.trigger.batchSize) this.flush(r);
    else r.flushTimer ??= setTimeout(() => this.flush(r), r.trigger.batchWindowMs);
  }

  private flush(r: Running): void {
    if (r.flushTimer) clearTimeout(r.flushTimer);
    r.flushTimer = undefined;
    const batch = r.buffer.splice(0);
    if (batch.length === 0) return;
    const p = this.process(r, batch).catch((err: unknown) => {
      this.deps.logger.error({ err, trigger: r.trigger.name }, 'queue batch handling failed');
    });
    r.inFlight.add(p);
    void p.finally(() => r.inFlight.delete(p));
  }

  private async process(r: Running, batch: QueueDelivery[]): Promise<void> {
    const t = r.trigger;
    const event: QueueEvent = { type: 'queue', trigger: triggerLabel(t), queue: t.queue, messages: batch.map(toMessageEvent) };
    const dead = (reason: string, activationId?: string): Promise<unknown> =>
      Promise.all(
        batch.map((d) =>
          d.deadLetter(t.deadLetter, {
            [QUEUE_DEAD_HEADERS.reason]: reason,
            [QUEUE_DEAD_HEADERS.originalQueue]: t.queue,
            [QUEUE_DEAD_HEADERS.trigger]: triggerLabel(t),
            ...(activationId !== undefined ? { [QUEUE_DEAD_HEADERS.activationId]: activationId } : {}),
          }),
        ),
      );
    let activationId: string;
    try {
      activationId = await this.deps.firer.fire(t, event);
    } catch (err) {
      if (err instanceof NotFoundError) {
        this.deps.logger.warn({ trigger: t.name, function: t.function }, 'queue trigger function is gone; message dead-lettered');
        await dead('function-not-found');
        return;
      }
      this.deps.logger.warn({ err, trigger: t.name }, 'invocation not queued; message handed back');
      await sleep(REQUEUE_DELAY_MS);
      await Promise.all(batch.map((d) => d.requeue()));
      return;
    }
    let status: string;
    try {
      status = (await this.deps.firer.waitForFinal(t.namespace, activationId, r.abort.signal)).status;
    } catch {
      // Stopping: the broker (or the memory bus) delivers these again, and the function runs again.
      await Promise.all(batch.map((d) => d.requeue()));
      return;
    }
    if (status === 'success') await Promise.all(batch.map((d) => d.ack()));
    else await dead(`function-${status}`, activationId);
  }
}

/**
 * JSON bodies parsed, other UTF-8 text as a string, anything else base64.
 * JSON nested deeper than MAX_JSON_DEPTH goes as text: parsed, it would
 * overflow the stack when the event is serialised, and the message would be
 * handed back and fail again for ever.
 */
export function toMessageEvent(d: QueueDelivery): QueueMessageEvent {
  const base = {
    headers: d.headers,
    redelivered: d.redelivered,
    ...(d.contentType !== undefined ? { contentType: d.contentType } : {}),
    ...(d.messageId !== undefined ? { messageId: d.messageId } : {}),
  };
  const text = d.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(d.body);
  if (!isText) return { ...base, body: d.body.toString('base64'), isBase64Encoded: true };
  const ct = d.contentType ?? '';
  if (ct === '' || /json/i.test(ct)) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!exceedsDepth(parsed, MAX_JSON_DEPTH)) return { ...base, body: parsed, isBase64Encoded: false };
    } catch {
      // not JSON after all: handed over as text
    }
  }
  return { ...base, body: text, isBase64Encoded: false };
}
