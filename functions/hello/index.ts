/** The smallest Brisk function: greets whoever the event names. */
export const handler = async (event: { name?: string }) => ({
  message: `Hello, ${typeof event?.name === 'string' && event.name !== '' ? event.name : 'world'}!`,
});
