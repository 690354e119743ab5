// One message through RabbitMQ with AmqpBus: send → the consumer's handler,
// one at a time, with and without publisher confirms. The floor of every
// broker hop of a distributed invocation.
//
//   node bench/tools/amqp-round-trip.mjs [--n=200]
//
// Needs rabbitmq-server on 127.0.0.1:5672 (guest/guest) and rabbitmqctl;
// works in a fresh vhost, deleted at the end.
import { startRabbitVhost } from '../lib/services.mjs';
import { importSource, summary } from '../lib/source.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const N = Number(arg('n', '200'));
const WARMUP = 20;

const { AmqpBus } = await importSource('bus/amqp-bus.ts');
const vhost = await startRabbitVhost();
const bus = new AmqpBus({ url: vhost.url, prefix: 'bench-rtt', signingKey: 'bench-round-trip-key-0123456789abcdef' });
try {
  await bus.waitUntilReady();
  const q = 'bench-rtt.rtt';
  await bus.assertQueue(q, { durable: false });
  let arrived;
  await bus.consume(q, async () => arrived?.(), { prefetch: 1 });
  for (const confirm of [false, true]) {
    const samples = [];
    for (let i = 0; i < WARMUP + N; i++) {
      const done = new Promise((r) => (arrived = r));
      const t0 = performance.now();
      await bus.send(q, { i }, { confirm });
      await done;
      if (i >= WARMUP) samples.push(performance.now() - t0);
    }
    console.log(`amqp send → consume round trip (confirm=${confirm}): ${summary(samples)}`);
  }
} finally {
  await bus.close();
  await vhost.stop();
}
