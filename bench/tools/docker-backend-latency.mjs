// The Docker backend's costs: create + start + ready of a container (a cold
// start without the /init), destroy (what evicting an idle instance waits
// for), resize of a ready container 256 → 512 MB (`docker update`, what a
// pre-started container pays when a larger function takes it), and a warm
// `POST /run` round trip over the container's unix socket.
//
//   npm run build && node bench/tools/docker-backend-latency.mjs [--creates=5] [--runs=50]
//
// Needs a running dockerd. Builds a private image tag from dist/runtime/server.mjs
// and removes it, and every container it made, at the end.
import { existsSync } from 'node:fs';
import Dockerode from 'dockerode';
import { uniqueId } from '../lib/services.mjs';
import { importSource, RUNTIME_BUNDLE, summary } from '../lib/source.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const CREATES = Number(arg('creates', '5'));
const RUNS = Number(arg('runs', '50'));
const WARMUP = 5; // the first runs warm up the JIT and the keep-alive socket

if (!existsSync(RUNTIME_BUNDLE)) throw new Error(`${RUNTIME_BUNDLE} is missing: run npm run build first`);
const docker = new Dockerode();
await docker.ping();
const { DockerBackend } = await importSource('executor/docker-backend.ts');
const id = uniqueId();
const image = `brisk-runtime:bench-${id}`;
const executorId = `bench-docker-${id}`;
// start() builds the missing image with infra/runtime/build-offline.sh (not timed).
const backend = new DockerBackend({ image, executorId, docker });
try {
  await backend.start();
  const createMs = [];
  const destroyMs = [];
  const resizeMs = [];
  for (let i = 0; i < CREATES; i++) {
    const t0 = performance.now();
    const inst = await backend.createInstance({ memoryMb: 256, allowEgress: false });
    createMs.push(performance.now() - t0);
    const t1 = performance.now();
    await inst.resize(512);
    resizeMs.push(performance.now() - t1);
    const t2 = performance.now();
    await inst.destroy();
    destroyMs.push(performance.now() - t2);
  }
  const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
  await inst.init({ namespace: 'bench', name: 'echo', version: 1, code: 'export const handler = async (e) => e;', exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128 });
  const runMs = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = performance.now();
    const res = await inst.run({ activationId: `b-${i}`, payload: JSON.stringify({ i }), deadline: Date.now() + 5000 }, 5000);
    if (i >= WARMUP) runMs.push(performance.now() - t0);
    if (!res.ok) throw new Error(`run failed: ${JSON.stringify(res.error)}`);
  }
  await inst.destroy();
  console.log(`docker backend, create+start+ready: ${summary(createMs, 0)}`);
  console.log(`docker backend, resize 256 → 512 MB of a ready container: ${summary(resizeMs)}`);
  console.log(`docker backend, destroy of a ready container: ${summary(destroyMs)}`);
  console.log(`docker backend, warm run round trip: ${summary(runMs)}`);
} finally {
  await backend.close();
  for (const c of await docker.listContainers({ all: true, filters: { label: [`brisk.executor=${executorId}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  await docker.getImage(image).remove({ force: true }).catch(() => undefined);
}
