import { describe, expect, it, vi } from 'vitest';
import type { Heartbeat, WarmInstanceInfo } from '../../core/types.js';
import { heartbeat } from '../helpers/records.js';
import {
  DEFAULT_FORGET_AFTER_MS,
  ExecutorRegistry,
  functionVersionKey,
  type ExecutorRegistryOptions,
} from '../../placement/executor-registry.js';
import { choosePlacement } from '../../placement/placement.js';

/** A hand-advanced clock; the registry reads nothing else. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function setup(opts: Omit<ExecutorRegistryOptions, 'now'> = {}) {
  const clock = fakeClock();
  const registry = new ExecutorRegistry({ now: clock.now, ...opts });
  /** Sends a heartbeat stamped with the current fake time. */
  const beat = (id: string, over: Partial<Heartbeat> = {}) => registry.observe(heartbeat(id, { sentAt: clock.now(), ...over }));
  return { clock, registry, beat };
}

describe('ExecutorRegistry health', () => {
  it('makes a new executor healthy, eligible and part of the ring from its first heartbeat', () => {
    const { registry, beat } = setup();
    expect(registry.get('a')).toBeUndefined();
    beat('a');
    expect(registry.get('a')?.state).toBe('healthy');
    expect(registry.eligible().map((v) => v.executorId)).toEqual(['a']);
    expect(registry.ring.has('a')).toBe(true);
  });

  it('derives offlineAfterMs from the heartbeat interval and lets it be overridden', () => {
    expect(new ExecutorRegistry().offlineAfterMs).toBe(3000);
    expect(new ExecutorRegistry({ heartbeatMs: 500 }).offlineAfterMs).toBe(1500);
    expect(new ExecutorRegistry({ heartbeatMs: 500, offlineAfterMs: 10_000 }).offlineAfterMs).toBe(10_000);
    expect(new ExecutorRegistry().unhealthyAfterErrors).toBe(3);
    expect(new ExecutorRegistry().forgetAfterMs).toBe(DEFAULT_FORGET_AFTER_MS);
  });

  it('goes offline after 3 missed heartbeats, fires onOffline exactly once, and recovers on a heartbeat', () => {
    const { clock, registry, beat } = setup({ heartbeatMs: 1000 });
    const offline = vi.fn();
    registry.onOffline(offline);
    beat('a');
    beat('b');

    clock.advance(2999);
    beat('b');
    expect(registry.get('a')?.state).toBe('healthy');
    expect(offline).not.toHaveBeenCalled();

    clock.advance(1);
    expect(registry.get('a')?.state).toBe('offline');
    expect(registry.eligible().map((v) => v.executorId)).toEqual(['b']);
    registry.sweep();
    registry.states();
    clock.advance(500);
    registry.sweep();
    expect(offline).toHaveBeenCalledTimes(1);
    expect(offline).toHaveBeenCalledWith('a', []);

    beat('a');
    expect(registry.get('a')?.state).toBe('healthy');
    clock.advance(3000);
    registry.sweep();
    expect(offline).toHaveBeenCalledTimes(3); // a again, and b, which last beat 3500 ms ago
    expect(offline.mock.calls.map((c) => c[0]).sort()).toEqual(['a', 'a', 'b']);
  });

  it('stays in the registry and on the ring while offline, and is forgotten after forgetAfterMs', () => {
    const { clock, registry, beat } = setup({ offlineAfterMs: 3000, forgetAfterMs: 60_000 });
    const removed = vi.fn();
    registry.onRemoved(removed);
    beat('a');
    registry.reserve('a', 128, 'act-1');

    clock.advance(3000 + 59_999);
    expect(registry.get('a')?.state).toBe('offline');
    expect(registry.ring.has('a')).toBe(true);
    expect(removed).not.toHaveBeenCalled();

    clock.advance(1);
    registry.sweep();
    expect(registry.get('a')).toBeUndefined();
    expect(registry.ring.has('a')).toBe(false);
    expect(registry.size).toBe(0);
    expect(removed).toHaveBeenCalledExactlyOnceWith('a', 'forgotten', ['act-1']);
    expect(registry.releaseReservation('act-1')).toBe(false);
  });

  it('fires onOffline before onRemoved even when one sweep sees both', () => {
    const { clock, registry, beat } = setup({ offlineAfterMs: 1000, forgetAfterMs: 1000 });
    const events: string[] = [];
    registry.onOffline((id) => events.push(`offline:${id}`));
    registry.onRemoved((id, reason) => events.push(`${reason}:${id}`));
    beat('a');
    clock.advance(10_000);
    registry.sweep();
    expect(events).toEqual(['offline:a', 'forgotten:a']);
  });

  it('becomes unhealthy after N consecutive system errors and recovers on a success', () => {
    const { registry, beat } = setup({ unhealthyAfterErrors: 3 });
    beat('a');
    registry.recordSystemError('a');
    registry.recordSystemError('a');
    expect(registry.get('a')?.state).toBe('healthy');
    registry.recordSuccess('a'); // streak broken: consecutive means consecutive
    registry.recordSystemError('a');
    registry.recordSystemError('a');
    expect(registry.get('a')?.state).toBe('healthy');
    registry.recordSystemError('a');
    expect(registry.get('a')?.state).toBe('unhealthy');
    expect(registry.get('a')?.systemErrors).toBe(3);
    expect(registry.eligible()).toEqual([]);

    registry.recordSuccess('a');
    expect(registry.get('a')?.state).toBe('healthy');
  });

  it('takes system errors from heartbeats: N reported makes it unhealthy, 0 reported recovers it', () => {
    const { clock, registry, beat } = setup({ unhealthyAfterErrors: 3 });
    beat('a');
    clock.advance(1000);
    beat('a', { systemErrors: 3 });
    expect(registry.get('a')?.state).toBe('unhealthy');

    // A lower non-zero report does not hide errors the scheduler counted itself.
    registry.recordSystemError('a');
    clock.advance(1000);
    beat('a', { systemErrors: 1 });
    expect(registry.get('a')?.systemErrors).toBe(4);

    clock.advance(1000);
    beat('a', { systemErrors: 0 });
    expect(registry.get('a')?.state).toBe('healthy');
    expect(registry.get('a')?.systemErrors).toBe(0);
  });

  it('reports draining executors as draining, and offline wins over draining', () => {
    const { clock, registry, beat } = setup();
    beat('a', { draining: true });
    expect(registry.get('a')?.state).toBe('draining');
    expect(registry.eligible()).toEqual([]);
    clock.advance(3000);
    expect(registry.get('a')?.state).toBe('offline');
  });

  it('removes an executor immediately on a leaving heartbeat, and ignores older heartbeats that arrive after it', () => {
    const { clock, registry, beat } = setup();
    const removed = vi.fn();
    const offline = vi.fn();
    registry.onRemoved(removed);
    registry.onOffline(offline);
    beat('a');
    const earlier = clock.now();
    registry.reserve('a', 256, 'act-1');
    clock.advance(1000);
    beat('a', { draining: true, leaving: true });

    expect(registry.get('a')).toBeUndefined();
    expect(registry.ring.has('a')).toBe(false);
    expect(removed).toHaveBeenCalledExactlyOnceWith('a', 'left', ['act-1']);

    registry.observe(heartbeat('a', { sentAt: earlier })); // reordered on the bus
    expect(registry.get('a')).toBeUndefined();

    clock.advance(1000);
    beat('a'); // restarted under the same id
    expect(registry.get('a')?.state).toBe('healthy');
    clock.advance(10_000);
    registry.sweep();
    expect(offline).toHaveBeenCalledTimes(1); // only the restarted one; the departed one never "goes offline"
  });

  it('ignores a heartbeat older than the last one seen from the same executor', () => {
    const { clock, registry } = setup();
    const t0 = clock.now();
    registry.observe(heartbeat('a', { sentAt: t0 + 1000, memoryUsedMb: 500 }));
    registry.observe(heartbeat('a', { sentAt: t0, memoryUsedMb: 100, draining: true }));
    expect(registry.get('a')).toMatchObject({ reportedUsedMb: 500, state: 'healthy' });
  });

  it('keeps calling the other listeners when one throws, then rethrows', () => {
    const { clock, registry, beat } = setup();
    const good = vi.fn();
    registry.onOffline(() => {
      throw new Error('listener bug');
    });
    registry.onOffline(good);
    beat('a');
    clock.advance(3000);
    expect(() => registry.sweep()).toThrow('listener bug');
    expect(good).toHaveBeenCalledOnce();
    expect(() => registry.sweep()).not.toThrow(); // fired once only
  });

  it('unsubscribes listeners', () => {
    const { clock, registry, beat } = setup();
    const offline = vi.fn();
    const off = registry.onOffline(offline);
    off();
    beat('a');
    clock.advance(3000);
    registry.sweep();
    expect(offline).not.toHaveBeenCalled();
  });
});

describe('ExecutorRegistry reservations', () => {
  it('a dispatch onto a pre-started instance takes one from the view until the next heartbeat, and holds memory like a start', () => {
    const { registry, beat, clock } = setup();
    beat('a', { stems: { 'python:128:sealed': 2, 'nodejs:128:sealed': 1 } });
    expect(registry.reserve('a', 128, 'act-1', { stemKey: 'python:128:sealed' })).toBe(true);
    expect(registry.get('a')).toMatchObject({ stems: { 'python:128:sealed': 1, 'nodejs:128:sealed': 1 }, pendingMb: 128, freeMb: 1024 - 128 });
    registry.reserve('a', 128, 'act-2', { stemKey: 'python:128:sealed' });
    registry.reserve('a', 128, 'act-3', { stemKey: 'python:128:sealed' });
    expect(registry.get('a')?.stems['python:128:sealed']).toBe(0);
    // The executor's next heartbeat tells what it has now (it took two, and refilled one).
    clock.advance(100);
    beat('a', { stems: { 'python:128:sealed': 1 }, memoryUsedMb: 256 });
    expect(registry.get('a')?.stems).toEqual({ 'python:128:sealed': 1 });
    // An older executor's heartbeat has no `stems`: nothing to take.
    beat('b');
    expect(registry.get('b')?.stems).toEqual({});
  });

  it('adds reservations made since the last heartbeat on top of the reported usage', () => {
    const { registry, beat } = setup();
    beat('a', { memoryMb: 1024, memoryUsedMb: 300, inFlight: 2 });
    expect(registry.reserve('a', 128, 'act-1')).toBe(true);
    expect(registry.reserve('a', 256, 'act-2')).toBe(true);
    expect(registry.get('a')).toMatchObject({
      reportedUsedMb: 300,
      reservedMb: 384,
      pendingMb: 384,
      usedMb: 684,
      freeMb: 340,
      inFlight: 4,
    });
  });

  it('folds reservations into the report once a heartbeat arrives, keeping the total reserved as a floor', () => {
    const { clock, registry, beat } = setup();
    beat('a', { memoryUsedMb: 0 });
    registry.reserve('a', 128, 'act-1');
    registry.reserve('a', 256, 'act-2');
    clock.advance(1000);
    // The executor now reports the two instances it started for them.
    beat('a', { memoryUsedMb: 384, inFlight: 2 });
    expect(registry.get('a')).toMatchObject({ pendingMb: 0, usedMb: 384, freeMb: 640, inFlight: 2 });

    // A stale report that missed them cannot make the memory look free.
    clock.advance(1000);
    beat('a', { memoryUsedMb: 0, inFlight: 0 });
    expect(registry.get('a')).toMatchObject({ reservedMb: 384, usedMb: 384, inFlight: 2 });

    expect(registry.releaseReservation('act-1')).toBe(true);
    expect(registry.releaseReservation('act-1')).toBe(false);
    expect(registry.get('a')).toMatchObject({ reservedMb: 256, usedMb: 256 });
    registry.releaseReservation('act-2');
    expect(registry.get('a')).toMatchObject({ reservedMb: 0, usedMb: 0, freeMb: 1024, inFlight: 0 });
  });

  it('never reports more used than the budget nor negative free memory', () => {
    const { registry, beat } = setup();
    beat('a', { memoryMb: 512, memoryUsedMb: 500 });
    registry.reserve('a', 256, 'act-1');
    expect(registry.get('a')).toMatchObject({ usedMb: 512, freeMb: 0 });
  });

  it('counts a warm re-use against the idle instance, and its memory as used: the heartbeat counted an evictable idle instance free', () => {
    const { clock, registry, beat } = setup();
    const warm: WarmInstanceInfo[] = [
      { namespace: 'default', function: 'hello', version: 2, state: 'idle' },
      { namespace: 'default', function: 'hello', version: 2, state: 'idle' },
      { namespace: 'default', function: 'hello', version: 1, state: 'idle' },
      { namespace: 'default', function: 'other', version: 1, state: 'busy' },
    ];
    beat('a', { memoryUsedMb: 512, warm });
    const key = functionVersionKey('default', 'hello', 2);
    expect(registry.get('a')?.idleWarm).toEqual({ [key]: 2, 'default/hello@1': 1 });

    registry.reserve('a', 128, 'act-1', { warmKey: key });
    expect(registry.get('a')).toMatchObject({ usedMb: 640, pendingMb: 0, inFlight: 1 });
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    registry.reserve('a', 128, 'act-2', { warmKey: key });
    expect(registry.get('a')?.idleWarm[key]).toBeUndefined();
    expect(registry.get('a')?.usedMb).toBe(768);

    // The next heartbeat shows both busy (and their memory used); the claims are no longer subtracted or added.
    clock.advance(1000);
    beat('a', { memoryUsedMb: 768, warm: warm.map((w, i) => (i < 2 ? { ...w, state: 'busy' as const } : w)) });
    expect(registry.get('a')?.idleWarm).toEqual({ 'default/hello@1': 1 });
    expect(registry.get('a')?.usedMb).toBe(768);

    // One of those runs ends before the next heartbeat: its instance is idle again at once.
    registry.releaseReservation('act-1');
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    // A new warm run takes it; the other run ending frees the second.
    registry.reserve('a', 128, 'act-3', { warmKey: key });
    expect(registry.get('a')?.idleWarm[key]).toBeUndefined();
    registry.releaseReservation('act-2');
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
  });

  it('an executor whose every evictable instance our runs took has no room left; a provisioned instance was never counted free', () => {
    const { registry, beat } = setup();
    const key = functionVersionKey('default', 'hot', 1);
    const one = { namespace: 'default', function: 'hot', version: 1 };
    // 1024 MB of 256 MB instances: two busy with another placer's runs (used), two idle (evictable: reported free).
    beat('a', { memoryMb: 1024, memoryUsedMb: 512, warm: [{ ...one, state: 'busy' }, { ...one, state: 'busy' }, { ...one, state: 'idle' }, { ...one, state: 'idle' }] });
    expect(registry.get('a')?.freeMb).toBe(512);
    registry.reserve('a', 256, 'r1', { warmKey: key });
    registry.reserve('a', 256, 'r2', { warmKey: key });
    expect(registry.get('a')).toMatchObject({ usedMb: 1024, freeMb: 0 });
    expect(choosePlacement({ fn: { namespace: 'default', name: 'hot', version: 1, memoryMb: 256 }, executors: registry.states(), policy: 'spread' })).toBeUndefined();

    // The same with one idle instance provisioned: not evictable, so already in the reported use.
    const { registry: r2, beat: beat2 } = setup();
    beat2('a', { memoryMb: 1024, memoryUsedMb: 256, provisioned: { [key]: 1 }, warm: [{ ...one, state: 'idle' }, { ...one, state: 'idle' }] });
    r2.reserve('a', 256, 'p1', { warmKey: key });
    r2.reserve('a', 256, 'p2', { warmKey: key });
    expect(r2.get('a')).toMatchObject({ usedMb: 512, freeMb: 512 });
  });

  it('a heartbeat composed before a warm dispatch arrived does not count that dispatch\'s instance idle twice', () => {
    const { clock, registry, beat } = setup();
    const key = functionVersionKey('default', 'hello', 1);
    const idle: WarmInstanceInfo[] = [
      { namespace: 'default', function: 'hello', version: 1, state: 'idle' },
      { namespace: 'default', function: 'hello', version: 1, state: 'idle' },
    ];
    beat('a', { warm: idle });
    registry.reserve('a', 128, 'act-1', { warmKey: key });
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    // The next heartbeat was composed before act-1 reached the executor: both idle, nothing running.
    clock.advance(1000);
    beat('a', { warm: idle, running: [] });
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    // One that saw it running: one busy, one idle; when it ends, both are idle again.
    clock.advance(1000);
    beat('a', { warm: [idle[0]!, { ...idle[1]!, state: 'busy' }], running: ['act-1'] });
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    registry.releaseReservation('act-1');
    expect(registry.get('a')?.idleWarm[key]).toBe(2);
  });

  it('an instance its own pool dispatch loaded counts idle once the run ends, until a heartbeat shows it or two do not', () => {
    const { clock, registry, beat } = setup();
    const key = functionVersionKey('default', 'hello', 1);
    const idle: WarmInstanceInfo = { namespace: 'default', function: 'hello', version: 1, state: 'idle' };
    beat('a', { stems: { 'nodejs:128:sealed': 1 }, running: [] });
    expect(registry.get('a')?.idleWarm[key]).toBeUndefined();
    // A run that ends before any heartbeat: its pre-started instance stays taken (the last heartbeat still counts it)
    // for two more heartbeats, since the first may have been composed before the take.
    registry.reserve('a', 128, 'act-0', { stemKey: 'nodejs:128:sealed', loadsKey: functionVersionKey('default', 'quick', 1) });
    registry.releaseReservation('act-0');
    expect(registry.get('a')?.stems['nodejs:128:sealed']).toBe(0);
    beat('a', { stems: { 'nodejs:128:sealed': 1 }, running: [] });
    expect(registry.get('a')?.stems['nodejs:128:sealed']).toBe(0);
    beat('a', { stems: { 'nodejs:128:sealed': 1 }, running: [] });
    expect(registry.get('a')?.stems['nodejs:128:sealed']).toBe(1);
    registry.reserve('a', 128, 'act-1', { stemKey: 'nodejs:128:sealed', loadsKey: key });
    expect(registry.get('a')?.stems['nodejs:128:sealed']).toBe(0);
    // A heartbeat composed while it ran shows the instance busy and names the run.
    clock.advance(1000);
    beat('a', { warm: [{ ...idle, state: 'busy' }], running: ['act-1'] });
    registry.releaseReservation('act-1');
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    // The next one shows it idle: counted once, by the heartbeat.
    clock.advance(1000);
    beat('a', { warm: [idle], running: [] });
    expect(registry.get('a')?.idleWarm[key]).toBe(1);
    // A load whose instance never shows (it failed, or was evicted) is forgotten at the second heartbeat without it.
    registry.reserve('a', 128, 'act-2', { stemKey: 'nodejs:128:sealed', loadsKey: functionVersionKey('default', 'other', 1) });
    registry.releaseReservation('act-2');
    expect(registry.get('a')?.idleWarm['default/other@1']).toBe(1);
    clock.advance(1000);
    beat('a', { warm: [idle], running: [] });
    expect(registry.get('a')?.idleWarm['default/other@1']).toBe(1);
    clock.advance(1000);
    beat('a', { warm: [idle], running: [] });
    expect(registry.get('a')?.idleWarm['default/other@1']).toBeUndefined();
    // A dispatch that never ran (not sent, or its executor gone) leaves nothing behind.
    clock.advance(1000);
    beat('a', { stems: { 'nodejs:128:sealed': 1 }, running: [] });
    registry.reserve('a', 128, 'act-3', { stemKey: 'nodejs:128:sealed', loadsKey: functionVersionKey('default', 'unsent', 1) });
    registry.releaseReservation('act-3', { ran: false });
    expect(registry.get('a')?.idleWarm['default/unsent@1']).toBeUndefined();
    expect(registry.get('a')?.stems['nodejs:128:sealed']).toBe(1);
  });

  it('counts the free places of shared instances (concurrency > 1) as warm room, and passes provisioned counts through', () => {
    const { registry, beat } = setup();
    const key = functionVersionKey('default', 'io', 1);
    beat('a', {
      warm: [
        { namespace: 'default', function: 'io', version: 1, state: 'busy', places: 3 },
        { namespace: 'default', function: 'io', version: 1, state: 'idle', places: 16 },
        { namespace: 'default', function: 'io', version: 1, state: 'busy', places: 0 },
      ],
      provisioned: { [key]: 2 },
    });
    expect(registry.get('a')?.idleWarm[key]).toBe(19);
    expect(registry.get('a')?.provisioned).toEqual({ [key]: 2 });
    // Each warm dispatch takes one place.
    registry.reserve('a', 8, 'act-1', { warmKey: key });
    expect(registry.get('a')?.idleWarm[key]).toBe(18);
  });

  it('refuses reservations on unknown executors and moves a re-reserved activation', () => {
    const { registry, beat } = setup();
    beat('a');
    beat('b');
    expect(registry.reserve('nope', 128, 'act-1')).toBe(false);
    registry.reserve('a', 128, 'act-1');
    registry.reserve('b', 128, 'act-1');
    expect(registry.get('a')?.reservedMb).toBe(0);
    expect(registry.get('b')?.reservedMb).toBe(128);
    expect(registry.reservedActivations('b')).toEqual(['act-1']);
  });

  it('drops reservations past their expiry', () => {
    const { clock, registry, beat } = setup();
    beat('a');
    registry.reserve('a', 128, 'act-1', { expiresAt: clock.now() + 500 });
    registry.reserve('a', 128, 'act-2');
    clock.advance(499);
    expect(registry.get('a')?.reservedMb).toBe(256);
    clock.advance(1);
    expect(registry.get('a')?.reservedMb).toBe(128);
    expect(registry.reservedActivations('a')).toEqual(['act-2']);
  });

  it('hands the outstanding activations to onOffline so the scheduler can re-dispatch them', () => {
    const { clock, registry, beat } = setup();
    const offline = vi.fn();
    registry.onOffline(offline);
    beat('a');
    beat('b');
    registry.reserve('a', 128, 'act-1');
    registry.reserve('a', 128, 'act-2');
    registry.reserve('b', 128, 'act-3');
    clock.advance(2000);
    beat('b');
    clock.advance(1000);
    registry.sweep();
    expect(offline).toHaveBeenCalledExactlyOnceWith('a', ['act-1', 'act-2']);
  });
});
