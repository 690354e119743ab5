import type { MemoryBus } from '../../bus/memory-bus.js';

/**
 * Publish `body` on a MemoryBus topic and resolve once every subscriber has
 * been handed it: the in-memory bus hands a message to a topic's subscribers
 * in the order they subscribed, so a probe subscribed last gets it last. (A
 * subscriber's own async work after that is its own to await.)
 */
export async function publishAndSettle(bus: MemoryBus, topic: string, body: unknown): Promise<void> {
  let handed!: () => void;
  const arrived = new Promise<void>((resolve) => (handed = resolve));
  const probe = await bus.subscribe(topic, (b) => {
    if (b === body) handed();
  });
  try {
    await bus.publish(topic, body);
    await arrived;
  } finally {
    await probe.cancel();
  }
}
