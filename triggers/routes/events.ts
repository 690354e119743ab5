import { CloudEvent, HTTP, ValidationError as CloudEventValidationError, type CloudEventV1 } from 'cloudevents';
import express, { type Request } from 'express';
import { ValidationError } from '../../core/errors.js';
import { assertJsonDepth } from '../../core/json-depth.js';
import type { TopicDispatcher } from '../topic-dispatcher.js';
import { TOPIC_PATTERN } from '../types.js';
import type { UserQueues } from '../user-queues.js';
import { limitedBody, namespaceOf, param, requireWrite } from '../../web/http.js';

/** `type` of the CloudEvent a plain JSON body is wrapped in. */
export const PLAIN_EVENT_TYPE = 'dev.brisk.event.published';

/**
 * Publishing to triggers:
 * - `POST /v1/events/{topic}`: a CloudEvent (1.0) in structured mode
 *   (`Content-Type: application/cloudevents+json`), binary mode (`ce-*`
 *   headers), a batch (`application/cloudevents-batch+json`), or plain JSON,
 *   which is wrapped in a CloudEvent of type {@link PLAIN_EVENT_TYPE}. Every
 *   function subscribed to the topic gets it asynchronously. 202
 *   `{ topic, events: [{ id, deliveries: [{ trigger, function, activationId }] }] }`.
 * - `POST /v1/queues/{queue}/messages`: put a message on a user queue of the
 *   caller's namespace (the body as sent, with its content type) for `queue`
 *   triggers; in standalone mode the way to fill a queue, in distributed mode
 *   a convenience over publishing to RabbitMQ directly. 202.
 * - `GET /v1/queues/{queue}`: `{ queue, brokerQueue, messages, deadLetters }`;
 *   `brokerQueue` is the name the queue has on the broker (where producers
 *   outside Brisk publish in distributed mode).
 *
 * Queue names are the namespace's own (see `triggers/user-queues.ts`); a
 * reserved one is a 400 INVALID_QUEUE.
 */
export function eventRoutes(deps: { topics: TopicDispatcher; queues: UserQueues; maxPayloadBytes: number }): express.Router {
  const r = express.Router();
  const rawBody = limitedBody(deps.maxPayloadBytes, (limit) => express.raw({ type: () => true, limit }));

  r.post('/v1/events/:topic', rawBody, async (req, res) => {
    requireWrite(res);
    const topic = param(req, 'topic');
    if (!TOPIC_PATTERN.test(topic)) throw new ValidationError('INVALID_TOPIC', 'topic must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}');
    const events = toCloudEvents(req, topic);
    const ns = namespaceOf(res);
    const out = [];
    for (const e of events) out.push({ id: e.id, deliveries: await deps.topics.publish(ns, topic, e) });
    res.status(202).json({ topic, events: out });
  });

  r.post('/v1/queues/:queue/messages', rawBody, async (req, res) => {
    requireWrite(res);
    const queue = param(req, 'queue');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const contentType = req.headers['content-type'];
    await deps.queues.send(namespaceOf(res), queue, body, contentType !== undefined ? { contentType } : {});
    res.status(202).json({ queue, bytes: body.length });
  });

  r.get('/v1/queues/:queue', async (req, res) => {
    const queue = param(req, 'queue');
    const ns = namespaceOf(res);
    const brokerQueue = deps.queues.brokerName(ns, queue);
    res.json({ queue, brokerQueue, ...(await deps.queues.depth(ns, queue)) });
  });

  return r;
}

const TEXT_TYPES = /^(text\/|application\/([a-z0-9.+-]*\+)?(json|xml))/i;

/** Read the request as CloudEvents (validated with the SDK); plain JSON is wrapped. */
export function toCloudEvents(req: Request, topic: string): CloudEventV1<unknown>[] {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  // The SDK looks content types up without parameters (`; charset=utf-8`).
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  if (contentType !== '') headers['content-type'] = contentType;
  const isCloudEvent = contentType.startsWith('application/cloudevents') || headers['ce-id'] !== undefined || headers['ce-specversion'] !== undefined;
  try {
    if (!isCloudEvent) return [wrapPlain(raw, topic)];
    const isText = contentType === '' || TEXT_TYPES.test(contentType) || contentType.startsWith('application/cloudevents');
    const body = isText ? raw.toString('utf8') : raw;
    // Before the SDK: its events are later serialised recursively (JSON.stringify), which deep JSON overflows.
    if (typeof body === 'string') assertDepthIfJson(body);
    const parsed = HTTP.toEvent({ headers, body });
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (list.length === 0) throw new ValidationError('INVALID_EVENT', 'the batch holds no events');
    for (const e of list) (e as CloudEvent<unknown>).validate();
    return list;
  } catch (err) {
    if (err instanceof CloudEventValidationError) {
      const issues = (err.errors ?? []).map((e) => (typeof e === 'string' ? e : `${(e as { instancePath?: string }).instancePath || '(event)'} ${(e as { message?: string }).message ?? ''}`.trim()));
      throw new ValidationError('INVALID_EVENT', `not a valid CloudEvent: ${[err.message.split('\n')[0], ...issues].join('; ')}`, { issues });
    }
    if (err instanceof SyntaxError) throw new ValidationError('MALFORMED_JSON', `malformed JSON body: ${err.message}`);
    throw err;
  }
}

/** A text body that is JSON must nest at most MAX_JSON_DEPTH deep; other text is the SDK's to judge. */
function assertDepthIfJson(text: string): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return;
  }
  assertJsonDepth(value, 'the event');
}

function wrapPlain(raw: Buffer, topic: string): CloudEventV1<unknown> {
  let data: unknown = {};
  if (raw.length > 0) {
    try {
      data = JSON.parse(raw.toString('utf8')) as unknown;
    } catch (err) {
      throw new ValidationError('MALFORMED_JSON', `malformed JSON body: ${(err as Error).message} (send JSON, or a CloudEvent with ce-* headers)`);
    }
    assertJsonDepth(data, 'the event');
  }
  return new CloudEvent<unknown>({ type: PLAIN_EVENT_TYPE, source: `/v1/events/${topic}`, datacontenttype: 'application/json', data });
}
