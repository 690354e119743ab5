/**
 * Reads V8 .cpuprofile files (node --cpu-prof) and lists where the time went:
 * self time per function and per package/file, so the results README can
 * name hot spots with evidence without a GUI flame-graph viewer.
 *
 * CLI: `node bench/lib/cpuprofile.mjs <file.cpuprofile | dir> [top]`.
 * The .cpuprofile files themselves open in Chrome DevTools or speedscope as
 * flame graphs.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Where a call frame's code lives: our source, a package, or node itself. */
function origin(url) {
  if (!url) return '(native/vm)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return url.replace(/^file:\/\//, '').replace(/^.*\/(dist|bench)\//, '$1/');
}

/** { totalMs, idleMs, gcMs, functions: [{name, where, selfMs, pct}], origins: [{where, selfMs, pct}] } */
export function analyse(file, top = 15) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const fn = new Map();
  const org = new Map();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gc += us;
    const where = origin(cf.url);
    const key = `${cf.functionName || '(anonymous)'} ${where}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    org.set(where, (org.get(where) ?? 0) + us);
  }
  const busy = total - idle;
  const ms = (us) => Math.round(us / 100) / 10;
  const rows = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ name: k, selfMs: ms(us), pctOfBusy: Math.round((us / Math.max(1, busy)) * 1000) / 10 }));
  return { file, totalMs: ms(total), busyMs: ms(busy), gcMs: ms(gc), functions: rows(fn), origins: rows(org) };
}

function profilesIn(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.cpuprofile')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Analyse every profile under `dir`; returns [{file, …analyse()}]. */
export async function summariseProfiles(dir, top = 12) {
  try {
    return profilesIn(dir).map((f) => ({ ...analyse(f, top), file: path.relative(process.cwd(), f) }));
  } catch (err) {
    return [{ error: String(err.message) }];
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2];
  const top = Number(process.argv[3] ?? 25);
  const files = statSync(target).isDirectory() ? profilesIn(target) : [target];
  for (const f of files) {
    const a = analyse(f, top);
    console.log(`\n## ${f}\nbusy ${a.busyMs} ms of ${a.totalMs} ms sampled, GC ${a.gcMs} ms\n`);
    console.log('| self ms | % busy | where (by origin) |\n|---:|---:|---|');
    for (const r of a.origins) console.log(`| ${r.selfMs} | ${r.pctOfBusy} | ${r.name} |`);
    console.log('\n| self ms | % busy | function |\n|---:|---:|---|');
    for (const r of a.functions) console.log(`| ${r.selfMs} | ${r.pctOfBusy} | ${r.name} |`);
  }
}
