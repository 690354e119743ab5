// The trivial function of the benchmark: no work, so what is measured is the
// platform's own cost per invocation. Deployed unchanged to Brisk and to
// serverless-offline.
export const handler = async (event) => ({ ok: true, n: event.n ?? 0 });
