/**
 * A topic subscriber: receives the CloudEvents published to its topic
 * (`POST /v1/events/orders`), keeps a running total per event type in
 * `context.state`, and remembers the last order it saw.
 */
interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time?: string;
  data?: { orderId?: string; amount?: number };
}
interface StateApi {
  set(key: string, value: unknown): Promise<void>;
  incr(key: string, by?: number): Promise<number>;
}

export const handler = async (event: CloudEvent, context: { state: StateApi }) => {
  if (event?.specversion !== '1.0') throw new Error('expected a CloudEvent 1.0');
  const count = await context.state.incr(`orders:count:${event.type}`);
  const cents = Math.round((event.data?.amount ?? 0) * 100);
  const totalCents = await context.state.incr('orders:total-cents', cents);
  await context.state.set('orders:last', { id: event.id, type: event.type, orderId: event.data?.orderId ?? null });
  return { eventId: event.id, type: event.type, count, total: totalCents / 100 };
};
