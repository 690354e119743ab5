import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { Heartbeat } from '../../core/types.js';
import { FATAL_EXIT_CODE, installFatalHandler, onFatal } from '../../cli/fatal.js';
import { OrphanReaper, REAP_AFTER_HEARTBEATS } from '../../executor/orphan-reaper.js';
import { publishAndSettle } from '../helpers/memory-bus.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });

const until = (cond: () => boolean, timeoutMs = 3000): Promise<void> => waitFor(cond, timeoutMs, 5);

describe('fatal handler: an uncaught exception cleans up, then exits non-zero', () => {
  // Vitest reports uncaught exceptions through its own listener: park it while these tests emit one.
  let parked: NodeJS.UncaughtExceptionListener[] = [];
  const undo: (() => void)[] = [];
  beforeEach(() => {
    parked = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
  });
  afterEach(() => {
    for (const u of undo.splice(0)) u();
    for (const l of parked.splice(0)) process.on('uncaughtException', l);
  });
  function emitUncaught(err: Error): void {
    process.emit('uncaughtException', err);
  }

  it('runs every registered cleanup before exiting with the fatal code', async () => {
    const events: string[] = [];
    let cleanupDone!: () => void;
    const slowCleanup = new Promise<void>((r) => (cleanupDone = r));
    undo.push(onFatal(async () => {
      await slowCleanup;
      events.push('containers removed');
    }));
    undo.push(onFatal(async () => {
      events.push('children killed');
    }));
    let code: number | undefined;
    const exit = (c: number): void => {
      code = c;
    };
    undo.push(installFatalHandler({ logger: log, exit }));
    emitUncaught(new RangeError('Cannot create a string longer than 0x1fffffe8 characters'));
    await until(() => events.includes('children killed'));
    expect(code).toBeUndefined(); // still waiting for the slow cleanup
    cleanupDone();
    await until(() => code !== undefined);
    expect(code).toBe(FATAL_EXIT_CODE);
    expect(events.sort()).toEqual(['children killed', 'containers removed']);
  });

  it('exits after its deadline when a cleanup hangs or throws', async () => {
    undo.push(onFatal(() => new Promise<void>(() => undefined)));
    undo.push(onFatal(() => {
      throw new Error('cleanup failed');
    }));
    let code: number | undefined;
    const t0 = Date.now();
    const exit = (c: number): void => {
      code = c;
    };
    undo.push(installFatalHandler({ logger: log, exit, timeoutMs: 100 }));
    emitUncaught(new Error('boom'));
    await until(() => code !== undefined);
    expect(code).toBe(FATAL_EXIT_CODE);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  });
});

describe('OrphanReaper: removes the instances of executors no longer heard', () => {
  const HB = 100;
  let reaper: OrphanReaper | undefined;
  let bus: MemoryBus | undefined;
  afterEach(async () => {
    await reaper?.stop();
    await bus?.close();
  });

  function setup(): { now: { t: number }; calls: { live: (id: string) => boolean; minAgeMs: number }[]; beat: (id: string) => Promise<void> } {
    bus = new MemoryBus({ prefix: 'r' });
    const topology = new Topology('r');
    const now = { t: 1_000_000 };
    const calls: { live: (id: string) => boolean; minAgeMs: number }[] = [];
    reaper = new OrphanReaper({
      backend: {
        removeOrphans: async (live, minAgeMs) => {
          calls.push({ live, minAgeMs });
          return 0;
        },
      },
      bus,
      topology,
      executorId: 'me',
      heartbeatMs: HB,
      logger: log,
      now: () => now.t,
    });
    const b = bus;
    const beat = (id: string): Promise<void> =>
      publishAndSettle(b, topology.heartbeatTopic, {
        executorId: id, backend: 'docker', memoryMb: 1, memoryUsedMb: 0, inFlight: 0, pool: {}, warm: [],
        systemErrors: 0, draining: false, leaving: false, sentAt: now.t,
      } satisfies Heartbeat);
    return { now, calls, beat };
  }

  it('waits until it has listened long enough, and only while it hears itself', async () => {
    const { now, calls, beat } = setup();
    await reaper!.start();
    await beat('me');
    await beat('other');
    await reaper!.sweep();
    expect(calls).toHaveLength(0); // not listened long enough to know who is alive
    now.t += REAP_AFTER_HEARTBEATS * HB + 1;
    await reaper!.sweep();
    expect(calls).toHaveLength(0); // its own heartbeats are stale: its hearing cannot be trusted
    await beat('me');
    await reaper!.sweep();
    expect(calls).toHaveLength(1);
    const { live, minAgeMs } = calls[0]!;
    expect(minAgeMs).toBe(REAP_AFTER_HEARTBEATS * HB);
    expect(live('me')).toBe(true);
    expect(live('other')).toBe(false); // silent for longer than the reaping threshold
    expect(live('never-heard')).toBe(false);
  });

  it('counts an executor heard recently as alive', async () => {
    const { now, calls, beat } = setup();
    await reaper!.start();
    now.t += REAP_AFTER_HEARTBEATS * HB + 1;
    await beat('me');
    await beat('other');
    now.t += 5 * HB; // silent for less than the threshold
    await beat('me');
    await reaper!.sweep();
    expect(calls[0]!.live('other')).toBe(true);
  });
});
