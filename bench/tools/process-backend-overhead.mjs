// The process backend's cost per warm run: one `POST /run` round trip to a
// child running the real runtime, with a handler that returns its event. What
// every invocation on the process backend pays on top of the function.
//
//   npm run build && node bench/tools/process-backend-overhead.mjs [--n=500]
//
// Needs only Node (the runtime comes from dist/runtime/server.mjs).
import { existsSync } from 'node:fs';
import { importSource, RUNTIME_BUNDLE, summary } from '../lib/source.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const N = Number(arg('n', '500'));
const WARMUP = 50;

if (!existsSync(RUNTIME_BUNDLE)) throw new Error(`${RUNTIME_BUNDLE} is missing: run npm run build first`);
const { ProcessBackend } = await importSource('executor/process-backend.ts');
const backend = new ProcessBackend({ runtimePath: RUNTIME_BUNDLE });
await backend.start();
try {
  const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
  await inst.init({ namespace: 'bench', name: 'echo', version: 1, code: 'export const handler = async (e) => e;', exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128 });
  let seq = 0;
  const run = () => inst.run({ activationId: `b-${++seq}`, payload: JSON.stringify({ i: seq }), deadline: Date.now() + 5000 }, 5000);
  for (let i = 0; i < WARMUP; i++) await run();
  const samples = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const res = await run();
    samples.push(performance.now() - t);
    if (!res.ok) throw new Error(`run failed: ${JSON.stringify(res.error)}`);
  }
  const mean = (performance.now() - t0) / N;
  console.log(`process backend, warm run round trip: mean ${mean.toFixed(3)} ms, ${summary(samples, 3)}`);
  await inst.destroy();
} finally {
  await backend.close();
}
