// What a pool hit's first call pays inside the instance, on the process
// backend: /init of a new function on a pre-started instance (its warm-up
// done, as the pool's are), then its first /runs (three unless --runs), each
// timed from the executor's side. Repeated on --n fresh instances; p50 and
// p99 of each printed.
//
//   npm run build && node bench/tools/first-run.mjs [--n=15] [--runs=3]
import { existsSync } from 'node:fs';
import { importSource, RUNTIME_BUNDLE, summary } from '../lib/source.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const N = Number(arg('n', '15'));

if (!existsSync(RUNTIME_BUNDLE)) throw new Error(`${RUNTIME_BUNDLE} is missing: run npm run build first`);
const { ProcessBackend } = await importSource('executor/process-backend.ts');
const backend = new ProcessBackend({ runtimePath: RUNTIME_BUNDLE });
await backend.start();
const init = [];
const runs = Array.from({ length: Number(arg("runs", "3")) }, () => []);
try {
  for (let i = 0; i < N; i++) {
    const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false }, { prestart: true });
    // A pool instance waits before it is taken; let its warm-up finish and the machine settle.
    await new Promise((r) => setTimeout(r, 300));
    let t = performance.now();
    await inst.init({ namespace: 'bench', name: `f${i}`, version: 1, code: `export const handler = async (e) => ({ ok: true, e }); // ${i}`, exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128 });
    init.push(performance.now() - t);
    for (const r of runs) {
      t = performance.now();
      const res = await inst.run({ activationId: `a-${i}-${r.length}`, payload: '{"k":1}', deadline: Date.now() + 5000 }, 5000);
      r.push(performance.now() - t);
      if (!res.ok) throw new Error(JSON.stringify(res.error));
    }
    await inst.destroy();
  }
} finally {
  await backend.close();
}
console.log(`/init ${summary(init, 2)}`);
for (const [i, r] of runs.entries()) console.log(`/run #${i + 1} ${summary(r, 2)}`);
