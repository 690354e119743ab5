/**
 * The design floor: the design card's warm sync path with nothing else in it.
 *
 *   node bench/baselines/design-floor.mjs gateway   (FLOOR_AMQP_URL, FLOOR_PORT)
 *   node bench/baselines/design-floor.mjs executor  (FLOOR_AMQP_URL, FLOOR_TARGETS)
 *
 * A front end (raw `node:http`) publishes each request on RabbitMQ to an
 * executor's queue and waits on its own reply queue; the executor (amqplib
 * consumer) posts the event to an idle warm runtime instance (`POST /run`,
 * the same runtime and protocol Brisk uses, over keep-alive connections),
 * publishes the answer to the reply queue and acks. The messages are what
 * Brisk's direct path sends: transient, unconfirmed, the dispatch acked after
 * the run (so the prefetch bounds what an executor holds), the reply queue
 * consumed without acks.
 *
 * What it leaves out is everything a platform adds to that shape: auth,
 * function lookup, concurrency limits, placement, message signing and
 * validation, answer checks, activation records, metrics, logs. Its CPU per
 * invocation and its c1 latency are what any implementation of the design
 * pays on this machine; the bench reports Brisk against it (see README,
 * "Targets and verdicts").
 */
import http from 'node:http';
import amqp from 'amqplib';

const QUEUE = 'design-floor.exec';
const role = process.argv[2];
const url = process.env.FLOOR_AMQP_URL;
if (!url) throw new Error('FLOOR_AMQP_URL is required');

const conn = await amqp.connect(url, { noDelay: true });
const ch = await conn.createChannel();
await ch.assertQueue(QUEUE, { durable: false });
conn.on('error', (err) => {
  process.stderr.write(`design-floor ${role}: connection error ${err.message}\n`);
  process.exit(1);
});

if (role === 'executor') {
  /** `[{ socketPath } | { host, port }]`: warm runtime instances, loaded. */
  const targets = JSON.parse(process.env.FLOOR_TARGETS ?? '[]');
  if (targets.length === 0) throw new Error('FLOOR_TARGETS names no instance');
  // Most recently freed first, as Brisk's pool takes them.
  const idle = targets.map((t) => ({ address: t, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) }));
  const waiting = [];
  const reply = (msg, body) => {
    ch.sendToQueue(msg.properties.replyTo, body, { correlationId: msg.properties.correlationId, persistent: false });
    ch.ack(msg);
  };
  const release = (instance) => {
    const next = waiting.shift();
    if (next !== undefined) run(instance, next);
    else idle.push(instance);
  };
  const run = (instance, msg) => {
    const body = JSON.stringify({ activationId: msg.properties.correlationId, payload: msg.content.toString('utf8'), deadline: Date.now() + 60_000 });
    const req = http.request(
      { ...instance.address, agent: instance.agent, method: 'POST', path: '/run', headers: { host: 'runtime', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          reply(msg, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
          release(instance);
        });
      },
    );
    req.on('error', (err) => {
      reply(msg, Buffer.from(JSON.stringify({ ok: false, error: { errorType: 'FloorError', errorMessage: err.message } })));
      release(instance);
    });
    req.end(body);
  };
  await ch.prefetch(targets.length);
  await ch.consume(QUEUE, (msg) => {
    if (msg === null) return;
    const instance = idle.pop();
    if (instance !== undefined) run(instance, msg);
    else waiting.push(msg);
  });
  process.stdout.write('READY\n');
} else if (role === 'gateway') {
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
      // The runtime's answer: the function's result JSON, or its error.
      const answer = JSON.parse(msg.content.toString('utf8'));
      const text = answer.ok ? answer.resultJson : JSON.stringify(answer.error);
      res.writeHead(answer.ok ? 200 : 502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    },
    { noAck: true },
  );
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const id = String(++seq);
      pending.set(id, res);
      ch.sendToQueue(QUEUE, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), { correlationId: id, replyTo: replyQueue, persistent: false });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => socket.setNoDelay(true));
  server.listen(Number(process.env.FLOOR_PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`READY ${server.address().port}\n`);
  });
} else {
  throw new Error(`role must be gateway or executor, not ${role}`);
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    conn.close().finally(() => process.exit(0));
  });
}
