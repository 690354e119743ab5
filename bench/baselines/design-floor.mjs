/**
 * The design floor: the design card's warm sync path with nothing else in it.
 *
 *   node bench/baselines/design-floor.mjs gateway     (FLOOR_AMQP_URL, FLOOR_PORT)
 *   node bench/baselines/design-floor.mjs executor    (FLOOR_AMQP_URL, FLOOR_TARGETS)
 *   node bench/baselines/design-floor.mjs standalone  (FLOOR_TARGETS, FLOOR_PORT)
 *
 * Distributed shape (gateway + executor): a front end (raw `node:http`)
 * publishes each request on RabbitMQ to an executor's queue and waits on its
 * own reply queue; the executor (amqplib consumer) posts the event to an idle
 * warm runtime instance (`POST /run`, the same runtime and protocol Brisk
 * uses, over keep-alive connections), publishes the answer to the reply queue
 * and acks. The messages are what Brisk's direct path sends: transient,
 * unconfirmed, the dispatch acked after the run (so the prefetch bounds what
 * an executor holds), the reply queue consumed without acks.
 *
 * Standalone shape (one process, as `npm start` is): the front end posts the
 * event to an idle instance itself, with no bus between: the least any
 * platform pays that keeps each function in a process (or container) of its
 * own behind one HTTP endpoint.
 *
 * What both leave out is everything a platform adds to that shape: auth,
 * function lookup, concurrency limits, placement, message signing and
 * validation, answer checks, activation records, metrics, logs. Their CPU per
 * invocation and their c1 latency are what any implementation of the design
 * pays on this machine; the bench reports Brisk against them (see README,
 * "Targets and verdicts").
 */
import http from 'node:http';
import amqp from 'amqplib';

const QUEUE = 'design-floor.exec';
const role = process.argv[2];
if (!['gateway', 'executor', 'standalone'].includes(role)) throw new Error(`role must be gateway, executor or standalone, not ${role}`);

/**
 * Posts each job's event to an idle one of `targets` (`[{ socketPath } | { host, port }]`:
 * warm runtime instances, loaded), one job per instance at a time, most
 * recently freed first as Brisk's pool takes them; jobs wait in order while
 * all are busy. A job is `{ id, payload, done(answer: Buffer) }`: the runtime's
 * answer as it sent it.
 */
function instanceDispatcher(targets) {
  if (targets.length === 0) throw new Error('FLOOR_TARGETS names no instance');
  const idle = targets.map((t) => ({ address: t, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) }));
  const waiting = [];
  const release = (instance) => {
    const next = waiting.shift();
    if (next !== undefined) run(instance, next);
    else idle.push(instance);
  };
  const run = (instance, job) => {
    const body = JSON.stringify({ activationId: job.id, payload: job.payload, deadline: Date.now() + 60_000 });
    const req = http.request(
      { ...instance.address, agent: instance.agent, method: 'POST', path: '/run', headers: { host: 'runtime', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          job.done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
          release(instance);
        });
      },
    );
    req.on('error', (err) => {
      job.done(Buffer.from(JSON.stringify({ ok: false, error: { errorType: 'FloorError', errorMessage: err.message } })));
      release(instance);
    });
    req.end(body);
  };
  return (job) => {
    const instance = idle.pop();
    if (instance !== undefined) run(instance, job);
    else waiting.push(job);
  };
}

/** The runtime's answer as the HTTP answer: the function's result JSON, or its error. */
function respond(res, answerBuffer) {
  const answer = JSON.parse(answerBuffer.toString('utf8'));
  const text = answer.ok ? answer.resultJson : JSON.stringify(answer.error);
  res.writeHead(answer.ok ? 200 : 502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A raw `node:http` front end on FLOOR_PORT that hands each request's body (a Buffer) to `onRequest` with its response. */
function frontEnd(onRequest) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => onRequest(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), res));
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => socket.setNoDelay(true));
  server.listen(Number(process.env.FLOOR_PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`READY ${server.address().port}\n`);
  });
}

const targets = () => JSON.parse(process.env.FLOOR_TARGETS ?? '[]');
let conn;

if (role === 'standalone') {
  const dispatch = instanceDispatcher(targets());
  let seq = 0;
  frontEnd((body, res) => dispatch({ id: String(++seq), payload: body.toString('utf8'), done: (answer) => respond(res, answer) }));
} else {
  const url = process.env.FLOOR_AMQP_URL;
  if (!url) throw new Error('FLOOR_AMQP_URL is required');
  conn = await amqp.connect(url, { noDelay: true });
  const ch = await conn.createChannel();
  await ch.assertQueue(QUEUE, { durable: false });
  conn.on('error', (err) => {
    process.stderr.write(`design-floor ${role}: connection error ${err.message}\n`);
    process.exit(1);
  });
  if (role === 'executor') {
    const instances = targets();
    const dispatch = instanceDispatcher(instances);
    await ch.prefetch(instances.length);
    await ch.consume(QUEUE, (msg) => {
      if (msg === null) return;
      dispatch({
        id: msg.properties.correlationId,
        payload: msg.content.toString('utf8'),
        done: (answer) => {
          ch.sendToQueue(msg.properties.replyTo, answer, { correlationId: msg.properties.correlationId, persistent: false });
          ch.ack(msg);
        },
      });
    });
    process.stdout.write('READY\n');
  } else {
    const { queue: replyQueue } = await ch.assertQueue('', { exclusive: true, durable: false });
    const pending = new Map();
    let seq = 0;
    await ch.consume(
      replyQueue,
      (msg) => {
        if (msg === null) return;
        const res = pending.get(msg.properties.correlationId);
        if (res === undefined) return;
        pending.delete(msg.properties.correlationId);
        respond(res, msg.content);
      },
      { noAck: true },
    );
    frontEnd((body, res) => {
      const id = String(++seq);
      pending.set(id, res);
      ch.sendToQueue(QUEUE, body, { correlationId: id, replyTo: replyQueue, persistent: false });
    });
  }
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    (conn ? conn.close() : Promise.resolve()).finally(() => process.exit(0));
  });
}
