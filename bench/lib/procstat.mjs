/**
 * Process figures from /proc (Linux): resident memory, CPU time, descendants,
 * and the whole machine's busy share — enough to say what each process costs
 * under load and whether the load generator starved anyone.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat; 100 on every Linux we run on. */
const HZ = 100;

/** VmRSS in MiB, or undefined when the process is gone. */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : undefined;
  } catch {
    return undefined;
  }
}

/** user+system CPU time of a process in ms (threads included), or undefined when gone. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
  } catch {
    return undefined;
  }
}

function ppidOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** Every live descendant pid of `root`. */
export function descendants(root) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const pp = ppidOf(pid);
    if (pp === undefined) continue;
    if (!children.has(pp)) children.set(pp, []);
    children.get(pp).push(pid);
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/** Aggregate busy/total jiffies of all CPUs (from /proc/stat). */
function machineTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Samples RSS of named processes every `everyMs` while running, and measures
 * their CPU time and the machine's busy share between start() and stop().
 * `procs` maps a label to a pid, or to a function returning pids (summed).
 */
export class ProcSampler {
  constructor(procs, everyMs = 200) {
    this.procs = procs;
    this.everyMs = everyMs;
    this.maxRss = {};
    this.cpu0 = {};
  }

  pidsOf(label) {
    const p = this.procs[label];
    const pids = typeof p === 'function' ? p() : [p];
    return pids.filter((x) => x !== undefined);
  }

  sample() {
    for (const label of Object.keys(this.procs)) {
      const total = this.pidsOf(label).reduce((s, pid) => s + (rssMb(pid) ?? 0), 0);
      this.maxRss[label] = Math.max(this.maxRss[label] ?? 0, Math.round(total * 10) / 10);
    }
  }

  cpuOf(label) {
    return this.pidsOf(label).reduce((s, pid) => s + (cpuMs(pid) ?? 0), 0);
  }

  start() {
    for (const label of Object.keys(this.procs)) this.cpu0[label] = this.cpuOf(label);
    this.m0 = machineTicks();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** { rssMaxMb: {label: MiB}, cpuMs: {label: ms}, machineBusyPct } */
  stop() {
    clearInterval(this.timer);
    this.sample();
    const m1 = machineTicks();
    const cpu = {};
    for (const label of Object.keys(this.procs)) cpu[label] = Math.round(this.cpuOf(label) - this.cpu0[label]);
    const busyPct = Math.round(((m1.busy - this.m0.busy) / Math.max(1, m1.total - this.m0.total)) * 100);
    return { rssMaxMb: { ...this.maxRss }, cpuMs: cpu, machineBusyPct: busyPct };
  }
}
