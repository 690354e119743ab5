// CPU the executor spends to freeze and thaw an idle process-backend
// instance, per way of reaching its processes: the per-instance cgroup
// (signals to its members) and the helper process of its uid (`kill -1`, one
// fork per signal), plus the helpers' own CPU. Run as root (per-instance
// uids); `npm run build` first.
//
//   node bench/tools/pause-cost.mjs [--cycles=40]
import { readFileSync } from 'node:fs';
import { importSource } from '../lib/source.mjs';

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const CYCLES = Number(arg('cycles', '40'));
if (process.getuid?.() !== 0) throw new Error('run as root: the process backend gives instances uids (and cgroups) of their own only then');
const { ProcessBackend } = await importSource('executor/process-backend.ts');

/** CPU ms of this process's reaped children (the helper processes), from /proc/self/stat. */
function childrenCpuMs() {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

for (const freezer of [undefined, 'off', undefined, 'off']) {
  const backend = new ProcessBackend(freezer ? { freezer } : {});
  await backend.start();
  const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false });
  try {
    await inst.init({ namespace: 'bench', name: 'echo', version: 1, code: 'export const handler = async (e) => e;', exportName: 'handler', env: {}, timeoutMs: 5000, memoryMb: 128 });
    const us = { pause: 0, resume: 0, run: 0 };
    const timed = async (k, f) => {
      const c0 = process.cpuUsage();
      await f();
      const c = process.cpuUsage(c0);
      us[k] += c.user + c.system;
    };
    const helpers0 = childrenCpuMs();
    for (let i = 0; i < CYCLES; i++) {
      await timed('pause', () => inst.pause());
      await timed('resume', () => inst.resume());
      await timed('run', () => inst.run({ activationId: `p-${i}`, payload: '{}', deadline: Date.now() + 5000 }, 5000));
    }
    const per = (k) => Math.round(us[k] / CYCLES);
    console.log(
      `${backend.usesCgroups ? 'cgroup' : 'uid helper'}: executor CPU µs per pause ${per('pause')}, resume ${per('resume')}, warm run ${per('run')}; helper processes ${((childrenCpuMs() - helpers0) / CYCLES).toFixed(1)} ms per pause+resume`,
    );
  } finally {
    await inst.destroy();
    await backend.close();
  }
}
