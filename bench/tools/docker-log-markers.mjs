// dockerd CPU per warm /run with and without the runtime's activation markers
// on the container's stdout/stderr (DockerBackend `logMarkers`), in
// alternating batches on two containers. dockerd is shared: other Docker
// work on the machine shows up as outliers, so read the medians.
// Needs a running dockerd; `npm run build` first (builds a private image tag, removed at the end).
//
//   node bench/tools/docker-log-markers.mjs [--rounds=6] [--runs=300]
import { execSync } from 'node:child_process';
import Dockerode from 'dockerode';
import { cpuMs } from '../lib/procstat.mjs';
import { uniqueId } from '../lib/services.mjs';
import { importSource } from '../lib/source.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const ROUNDS = Number(arg('rounds', '6'));
const RUNS = Number(arg('runs', '300'));
const docker = new Dockerode();
await docker.ping();
const { DockerBackend } = await importSource('executor/docker-backend.ts');
const id = uniqueId();
const image = `brisk-runtime:bench-markers-${id}`;
const dockerd = Number(execSync('pidof dockerd').toString().trim().split(' ')[0]);
const backends = [false, true].map((logMarkers) => new DockerBackend({ image, executorId: `bench-markers-${logMarkers}-${id}`, docker, logMarkers }));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  for (const b of backends) await b.start();
  const insts = [];
  for (const b of backends) {
    const inst = await b.createInstance({ memoryMb: 128, allowEgress: false });
    await inst.init({ namespace: 'bench', name: 'echo', version: 1, code: 'export const handler = async (e) => e;', exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128 });
    insts.push(inst);
  }
  const perRun = { off: [], on: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [key, inst] of [['off', insts[0]], ['on', insts[1]]]) {
      const c0 = cpuMs(dockerd);
      for (let i = 0; i < RUNS; i++) await inst.run({ activationId: `m-${round}-${i}`, payload: JSON.stringify({ i }), deadline: Date.now() + 5000 }, 5000);
      perRun[key].push(Math.round(((cpuMs(dockerd) - c0) * 1000) / RUNS));
    }
  }
  console.log(`dockerd CPU µs per /run — markers off: median ${median(perRun.off)} (${perRun.off.join(' ')}); markers on: median ${median(perRun.on)} (${perRun.on.join(' ')})`);
  for (const inst of insts) await inst.destroy();
} finally {
  for (const b of backends) await b.close();
  for (const b of backends) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`brisk.executor=${b.executorId}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  await docker.getImage(image).remove({ force: true }).catch(() => undefined);
}
