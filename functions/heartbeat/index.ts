/**
 * A scheduled function: on every tick of its `schedule` trigger it records
 * the tick (`event.scheduledTime`, unique per tick) in `context.state` and
 * counts the ticks, e.g. to show when a periodic job last ran.
 */
interface ScheduleEvent {
  type: 'schedule';
  trigger: string;
  scheduledTime: string;
  data?: { job?: string };
}
interface StateApi {
  set(key: string, value: unknown): Promise<void>;
  incr(key: string, by?: number): Promise<number>;
}

export const handler = async (event: ScheduleEvent, context: { state: StateApi }) => {
  const job = event.data?.job ?? 'heartbeat';
  await context.state.set(`${job}:last-tick`, event.scheduledTime);
  const ticks = await context.state.incr(`${job}:ticks`);
  console.log(`${job}: tick ${ticks} at ${event.scheduledTime} (${event.trigger})`);
  return { job, tick: event.scheduledTime, ticks };
};
