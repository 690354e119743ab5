import { describe, expect, it } from 'vitest';
// @ts-expect-error: the bench is plain ESM JavaScript without types.
import { evaluateTargets } from '../../bench/lib/targets.mjs';

interface Target {
  name: string;
  pass: boolean | null;
  verdict: string;
  floorRef?: { system: string; measured: number; pass: boolean | null };
}
interface Budget {
  system: string;
  designFloorUs: number | null;
  rows: Array<{ process: string; measuredUs: number | null; designFloorUs: number | null }>;
}

/** A warm trivial row as bench/run.mjs records it: c1 latency, c64 throughput and CPU per process. */
function warm(p50: number, rps: number, cpu: Record<string, number>) {
  return { trivial: { latency: { p50 }, c64: { rps, cpuUsPerInvocation: { ...cpu, loadgen: 90 } } } };
}

const settings = { fns: ['trivial'], concurrencies: [64], bursts: [] };

describe("bench targets against the design floor", () => {
  const results = {
    systems: {
      'distributed-docker': { kind: 'brisk', warm: warm(3.2, 800, { gateway: 440, executor: 590, scheduler: 40, instances: 800, rabbitmq: 260, redis: 90, dockerd: 50 }) },
      'floor-docker': { kind: 'floor', warm: warm(0.4, 5400, { instances: 250, dockerd: 0 }) },
      // 1,000 µs: over 2 × floor-docker (500), so the CPU target is out of the design's reach; its 1.1 ms c1 is within 2 ms.
      'design-floor-docker': { kind: 'design-floor', warm: warm(1.1, 2000, { gateway: 150, executor: 200, instances: 400, rabbitmq: 230, dockerd: 20 }) },
    },
  };
  const { targets, budgets } = evaluateTargets(results, settings) as { targets: Target[]; budgets: Budget[] };
  const byName = (name: string): Target => {
    const t = targets.find((x) => x.name === name);
    if (t === undefined) throw new Error(`no target ${name}`);
    return t;
  };

  it('says when the design floor itself misses a target, with its figure', () => {
    const cpu = byName('distributed-docker: CPU per invocation at c64, all processes');
    expect(cpu.pass).toBe(false);
    expect(cpu.floorRef).toEqual({ system: 'design-floor-docker', measured: 1000, pass: false });
    expect(cpu.verdict).toMatch(/^missed by 1770 µs \(354% over\); design-floor-docker misses it too \(1000 µs\)$/);
  });

  it('keeps a plain miss where the design floor meets the limit', () => {
    const c1 = byName('distributed-docker: p50 at c1');
    expect(c1.pass).toBe(false);
    expect(c1.floorRef).toEqual({ system: 'design-floor-docker', measured: 1.1, pass: true });
    expect(c1.verdict).toBe('missed by 1.2 ms (60% over)');
  });

  it("puts the design floor's µs beside each process of the budget table (0 for a process it does not have)", () => {
    const dd = budgets.find((b) => b.system === 'distributed-docker');
    expect(dd?.designFloorUs).toBe(1000);
    const row = (p: string) => dd?.rows.find((r) => r.process === p);
    expect(row('gateway')).toMatchObject({ measuredUs: 440, designFloorUs: 150 });
    expect(row('scheduler')).toMatchObject({ measuredUs: 40, designFloorUs: 0 });
  });

  it("holds the transform ratios against the same ratio of the backend's floor", () => {
    const transformRow = (p50: number, rps: number) => ({ latency: { p50, p99: p50 * 3 }, c64: { rps, p99: 50, cpuUsPerInvocation: {} } });
    const sys = {
      'distributed-docker': { kind: 'brisk', warm: { trivial: transformRow(3, 800), transform: transformRow(3.3, 500) } },
      'floor-docker': { kind: 'floor', warm: { trivial: transformRow(0.4, 5000), transform: transformRow(0.7, 2000) } },
    };
    const { targets: t } = evaluateTargets({ systems: sys }, settings) as { targets: Target[] };
    const tput = t.find((x) => x.name === 'distributed-docker: trivial inv/s c64 vs transform');
    expect(tput?.pass).toBe(false);
    expect(tput?.floorRef).toEqual({ system: 'floor-docker', measured: 2.5, pass: false });
    expect(tput?.verdict).toBe('missed by 0.3× (23% over); floor-docker misses it too (2.5×)');
    const c1 = t.find((x) => x.name === 'distributed-docker: transform p50 c1 vs trivial');
    expect(c1?.pass).toBe(true);
    expect(c1?.floorRef?.system).toBe('floor-docker');
  });

  it('holds the standalone rows and CPU against the standalone floor of the same backend', () => {
    const sys = {
      'standalone-process': { kind: 'brisk', warm: warm(1.5, 1300, { standalone: 500, instances: 600 }) },
      'serverless-offline': { kind: 'serverless-offline', warm: warm(1.2, 1500, { 'sls offline': 1000 }) },
      // 850 µs: over 0.75 × serverless-offline (750), so that target is out of reach of any process-isolating front end here.
      'standalone-floor-process': { kind: 'design-floor', warm: warm(0.8, 1900, { standalone: 250, instances: 600 }) },
    };
    const { targets: t } = evaluateTargets({ systems: sys }, settings) as { targets: Target[] };
    const cpu = t.find((x) => x.name === 'standalone-process: CPU per invocation at c64');
    expect(cpu?.floorRef).toEqual({ system: 'standalone-floor-process', measured: 850, pass: false });
    expect(cpu?.verdict).toBe('missed by 350 µs (47% over); standalone-floor-process misses it too (850 µs)');
    const c1 = t.find((x) => x.name === 'standalone-process trivial: p50 c1');
    expect(c1?.floorRef).toEqual({ system: 'standalone-floor-process', measured: 0.8, pass: true });
    expect(c1?.verdict).toBe('missed by 0.3 ms (25% over)');
    const rps = t.find((x) => x.name === 'standalone-process trivial: inv/s c64');
    expect(rps?.floorRef).toEqual({ system: 'standalone-floor-process', measured: 1900, pass: true });
    // standalone-docker was not run: no rows, and nothing borrowed from the process floor.
    expect(t.some((x) => x.name.startsWith('standalone-docker'))).toBe(false);
  });

  it('leaves the design floor out when the run did not measure it', () => {
    const { 'design-floor-docker': _left, ...rest } = results.systems;
    const again = evaluateTargets({ systems: rest }, settings) as { targets: Target[]; budgets: Budget[] };
    const cpu = again.targets.find((t) => t.name === 'distributed-docker: CPU per invocation at c64, all processes');
    expect(cpu?.floorRef).toBeUndefined();
    expect(cpu?.verdict).toBe('missed by 1770 µs (354% over)');
    expect(again.budgets[0]?.designFloorUs).toBeNull();
  });
});
