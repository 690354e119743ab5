/**
 * A counter kept in `context.state` (the namespace's key-value state): every
 * call adds `by` (default 1) to the counter `name` (default `visits`) and
 * returns the new value; `{ "reset": true }` starts it over.
 */
interface StateApi {
  incr(key: string, by?: number): Promise<number>;
  delete(key: string): Promise<boolean>;
}

export const handler = async (event: { name?: string; by?: number; reset?: boolean }, context: { state: StateApi }) => {
  const key = `counter:${event?.name ?? 'visits'}`;
  if (event?.reset === true) {
    await context.state.delete(key);
    return { counter: key, value: 0 };
  }
  const value = await context.state.incr(key, Number.isInteger(event?.by) ? event.by : 1);
  return { counter: key, value };
};
