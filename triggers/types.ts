import { z } from 'zod';
import { exceedsDepth, MAX_JSON_DEPTH } from '../core/json-depth.js';
import { FUNCTION_TARGET_PATTERN } from '../core/schemas.js';
import { BUCKET_PATTERN } from '../storage/object-service.js';

/**
 * Event triggers: what makes a function run besides a direct invoke.
 *
 * | type       | fires on                                   | runs in            |
 * |------------|--------------------------------------------|--------------------|
 * | `schedule` | a cron tick (seconds optional, time zone)  | scheduler role     |
 * | `topic`    | `POST /v1/events/{topic}` (CloudEvents)    | gateway            |
 * | `queue`    | a message on a user's RabbitMQ queue       | scheduler role     |
 * | `storage`  | an object created / deleted in a bucket    | scheduler role     |
 * | `http`     | `METHOD /http/<path pattern>`              | gateway            |
 *
 * Triggers are stored per namespace in the key-value store and every firing is
 * an invocation whose activation record names the trigger (`<type>:<name>`).
 */

/** Topic names: dots, dashes, underscores, colons; no spaces. */
export const TOPIC_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** RabbitMQ queue names the user owns (`amq.` is reserved by the broker). */
export const QUEUE_PATTERN = /^(?!amq\.)[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
/** Bucket names as the object API accepts them. */
export { BUCKET_PATTERN };
/** `/users/:id`, `/files/*rest`, `/`: segments of URL-safe characters, `:param`, or a final `*name`. */
export const HTTP_PATH_PATTERN = /^\/(?:(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)(?:\/(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))*(?:\/\*[A-Za-z_][A-Za-z0-9_]*)?|\*[A-Za-z_][A-Za-z0-9_]*)?$/;

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** `name` (its latest version) or `name:alias` (the alias's version when the trigger fires). */
const functionName = z.string().regex(FUNCTION_TARGET_PATTERN, 'must be a function name ([a-z0-9][a-z0-9-_]{0,62}), optionally with :alias');

const scheduleSpec = z.strictObject({
  type: z.literal('schedule'),
  function: functionName,
  /** 5 fields (minute precision) or 6 (seconds first). Checked with croner in the service. */
  cron: z.string().min(1).max(200),
  /** IANA time zone the cron expression is read in. */
  timezone: z.string().min(1).max(64).default('UTC'),
  /** Extra JSON handed to the function with every tick (`event.data`); bounded depth, it is serialised recursively. */
  data: z
    .unknown()
    .refine((d) => !exceedsDepth(d, MAX_JSON_DEPTH), `must nest at most ${MAX_JSON_DEPTH} levels deep`)
    .optional(),
});

const topicSpec = z.strictObject({
  type: z.literal('topic'),
  function: functionName,
  topic: z.string().regex(TOPIC_PATTERN, 'must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}'),
});

const queueSpec = z.strictObject({
  type: z.literal('queue'),
  function: functionName,
  queue: z.string().regex(QUEUE_PATTERN, 'must match [A-Za-z0-9][A-Za-z0-9._:-]{0,199} and not start with amq.'),
  /** Messages per invocation: 1 = one invocation per message, more = `event.messages[]`. */
  batchSize: z.number().int().min(1).max(100).default(1),
  /** How long a partial batch waits for more messages before it is sent anyway. */
  batchWindowMs: z.number().int().min(0).max(60_000).default(1000),
  /** Invocations (or batches) in flight at once for this trigger, per scheduler. */
  concurrency: z.number().int().min(1).max(100).default(4),
  /**
   * Where a message goes when the function still fails after its retries:
   * `queue` copies it to `<queue>.dead` (declared if missing) and acks it;
   * `reject` nacks it without requeue, so RabbitMQ routes it to the queue's
   * own dead-letter exchange (or drops it when the queue has none).
   */
  deadLetter: z.enum(['queue', 'reject']).default('queue'),
});

export const OBJECT_EVENT_TYPES = ['created', 'deleted'] as const;

const storageSpec = z.strictObject({
  type: z.literal('storage'),
  function: functionName,
  bucket: z.string().regex(BUCKET_PATTERN, 'must be a bucket name (2-63 of [a-z0-9.-])'),
  events: z.array(z.enum(OBJECT_EVENT_TYPES)).min(1).default(['created', 'deleted']),
  /** Only keys starting with this prefix fire (e.g. `incoming/`). */
  prefix: z.string().max(1024).default(''),
});

const httpSpec = z.strictObject({
  type: z.literal('http'),
  function: functionName,
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(HTTP_METHODS)),
  path: z.string().max(512).regex(HTTP_PATH_PATTERN, 'must look like /users/:id or /files/*rest'),
  /** Answer without an API key (default: a key of the namespace is needed, like `/fn/…`). */
  public: z.boolean().optional(),
});

/** The body of `PUT /v1/triggers/{name}`. */
export const triggerSpecSchema = z.discriminatedUnion('type', [scheduleSpec, topicSpec, queueSpec, storageSpec, httpSpec]);

export type TriggerSpec = z.infer<typeof triggerSpecSchema>;
export type TriggerType = TriggerSpec['type'];
export type ScheduleSpec = z.infer<typeof scheduleSpec>;
export type TopicSpec = z.infer<typeof topicSpec>;
export type QueueSpec = z.infer<typeof queueSpec>;
export type StorageSpec = z.infer<typeof storageSpec>;
export type HttpSpec = z.infer<typeof httpSpec>;

/** A stored trigger: its spec plus identity and bookkeeping. */
export type Trigger = TriggerSpec & {
  name: string;
  namespace: string;
  createdAt: string;
  updatedAt: string;
};

export type TriggerOf<T extends TriggerType> = Extract<TriggerSpec, { type: T }> & {
  name: string;
  namespace: string;
  createdAt: string;
  updatedAt: string;
};

/** What goes into an activation record's `trigger` field. */
export function triggerLabel(t: Pick<Trigger, 'type' | 'name'>): string {
  return `${t.type}:${t.name}`;
}

/**
 * Identity of a trigger's configuration: runners compare it to decide whether
 * a trigger they already run changed (and must be restarted).
 */
export function triggerRevision(t: Trigger): string {
  const { createdAt: _c, updatedAt: _u, ...rest } = t;
  return JSON.stringify(rest, Object.keys(rest).sort());
}

/** The event a scheduled function receives on every tick. */
export interface ScheduleEvent {
  type: 'schedule';
  trigger: string;
  /** The tick this run belongs to (ISO 8601, UTC). Unique per trigger. */
  scheduledTime: string;
  cron: string;
  timezone: string;
  data?: unknown;
}

/** The event a storage-triggered function receives. */
export interface StorageEvent {
  type: 'storage';
  trigger: string;
  event: 'created' | 'deleted';
  bucket: string;
  key: string;
  size: number;
  at: string;
}

/** One message of a queue trigger's event. */
export interface QueueMessageEvent {
  /** JSON bodies parsed; other text as a string; binary as base64 (`isBase64Encoded`). */
  body: unknown;
  isBase64Encoded: boolean;
  contentType?: string;
  messageId?: string;
  headers: Record<string, unknown>;
  redelivered: boolean;
}

/** The event a queue-triggered function receives (`messages` has one entry unless batching). */
export interface QueueEvent {
  type: 'queue';
  trigger: string;
  queue: string;
  messages: QueueMessageEvent[];
}
