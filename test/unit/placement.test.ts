import { describe, expect, it } from 'vitest';
import type { Heartbeat } from '../../core/types.js';
import { heartbeat } from '../helpers/records.js';
import { ConsistentHashRing, hash32 } from '../../placement/consistent-hash.js';
import { ExecutorRegistry, type ExecutorState } from '../../placement/executor-registry.js';
import {
  choosePlacement,
  placementKey,
  type PlacementCandidate,
  type PlacementFunction,
  type PlacementPolicy,
} from '../../placement/placement.js';

const IDS = ['exec-a', 'exec-b', 'exec-c', 'exec-d'];
const ring = new ConsistentHashRing(IDS);

function exec(
  executorId: string,
  over: { memoryMb?: number; usedMb?: number; state?: ExecutorState; idleWarm?: Record<string, number>; inFlight?: number; stems?: Record<string, number> } = {},
): PlacementCandidate {
  const memoryMb = over.memoryMb ?? 1024;
  const usedMb = over.usedMb ?? 0;
  return {
    executorId,
    state: over.state ?? 'healthy',
    memoryMb,
    usedMb,
    freeMb: Math.max(0, memoryMb - usedMb),
    inFlight: over.inFlight ?? 0,
    idleWarm: over.idleWarm ?? {},
    ...(over.stems !== undefined ? { stems: over.stems } : {}),
  };
}

function fn(name: string, over: Partial<PlacementFunction> = {}): PlacementFunction {
  return { namespace: 'default', name, version: 1, memoryMb: 128, ...over };
}

/** Ring order of a function over the four test executors: [home, step 1, step 2, step 3]. */
function orderOf(name: string): string[] {
  return [...ring.walk(placementKey('default', name))];
}

/** A function name whose home is `want` (the hash decides; we search a few names). */
function nameWithHome(want: string): string {
  for (let i = 0; i < 1000; i++) if (orderOf(`fn-${i}`)[0] === want) return `fn-${i}`;
  throw new Error(`no function homed on ${want}`);
}

function place(
  f: PlacementFunction,
  executors: PlacementCandidate[],
  policy: PlacementPolicy = 'spread',
  extra: { hotSpotThreshold?: number; maxHomeSteps?: number } = {},
) {
  return choosePlacement({ fn: f, executors, policy, ring, ...extra });
}

describe('choosePlacement: warm affinity', () => {
  it('prefers an executor holding an idle warm instance over the home', () => {
    const name = nameWithHome('exec-a');
    const executors = IDS.map((id) => exec(id, id === 'exec-c' ? { usedMb: 700, idleWarm: { [`default/${name}@1`]: 1 } } : {}));
    expect(place(fn(name), executors)).toEqual({ executorId: 'exec-c', reason: 'warm' });
    expect(place(fn(name), executors, 'pack')).toEqual({ executorId: 'exec-c', reason: 'warm' });
  });

  it('takes the least loaded of several warm holders, and uses a warm instance even when memory is full', () => {
    const name = 'api';
    const warm = { [`default/${name}@1`]: 1 };
    const executors = [
      exec('exec-a', { usedMb: 1024, idleWarm: warm }),
      exec('exec-b', { usedMb: 1000, idleWarm: warm }),
      exec('exec-c'),
      exec('exec-d'),
    ];
    expect(place(fn(name), executors)).toEqual({ executorId: 'exec-b', reason: 'warm' });
    expect(place(fn(name), [exec('exec-a', { usedMb: 1024, idleWarm: warm })])).toEqual({
      executorId: 'exec-a',
      reason: 'warm',
    });
  });

  it('only counts warm instances of the exact version', () => {
    const name = nameWithHome('exec-a');
    const executors = IDS.map((id) => exec(id, id === 'exec-b' ? { idleWarm: { [`default/${name}@1`]: 3 } } : {}));
    expect(place(fn(name, { version: 2 }), executors)).toEqual({ executorId: 'exec-a', reason: 'home' });
    expect(place(fn(name, { namespace: 'other' }), executors)?.reason).not.toBe('warm');
  });
});

describe('choosePlacement: pool affinity', () => {
  const node = { memoryMb: 128, allowEgress: false };
  const python = { runtime: 'python' as const, memoryMb: 128, allowEgress: false };

  it('sends a cold start where a ready pre-started instance can take it, the first such in ring order, with its pool key', () => {
    const name = nameWithHome('exec-a');
    const [, step1, step2] = orderOf(name) as [string, string, string];
    const executors = IDS.map((id) => exec(id, id === step2 || id === step1 ? { stems: { 'nodejs:128:sealed': 1 } } : {}));
    expect(place(fn(name, { instance: node }), executors)).toEqual({ executorId: step1, reason: 'pool', stemKey: 'nodejs:128:sealed' });
  });

  it('matches the runtime, the size (or a resizing backend’s `any`) and egress', () => {
    const name = nameWithHome('exec-a');
    const others = (stems: Record<string, number>) => IDS.map((id) => exec(id, id === 'exec-b' ? { stems } : {}));
    // Another runtime, size or network: no pool hit, the policy decides (the home).
    const misses: Array<Record<string, number>> = [{ 'python:128:sealed': 2 }, { 'nodejs:256:sealed': 2 }, { 'nodejs:128:egress': 2 }, { 'nodejs:128:sealed': 0 }];
    for (const stems of misses) {
      expect(place(fn(name, { instance: node }), others(stems))).toEqual({ executorId: 'exec-a', reason: 'home' });
    }
    expect(place(fn(name, { instance: python }), others({ 'python:128:sealed': 1 }))).toMatchObject({ executorId: 'exec-b', reason: 'pool', stemKey: 'python:128:sealed' });
    expect(place(fn(name, { instance: { ...node, memoryMb: 512 }, memoryMb: 512 }), others({ 'nodejs:any:sealed': 1 }))).toMatchObject({ executorId: 'exec-b', reason: 'pool', stemKey: 'nodejs:any:sealed' });
  });

  it('an idle warm instance still comes first; a hot or full executor’s pre-started instance is passed over', () => {
    const name = nameWithHome('exec-a');
    const stems = { 'nodejs:128:sealed': 1 };
    const warm = IDS.map((id) => exec(id, id === 'exec-c' ? { idleWarm: { [`default/${name}@1`]: 1 } } : { stems }));
    expect(place(fn(name, { instance: node }), warm)).toEqual({ executorId: 'exec-c', reason: 'warm' });
    const hot = IDS.map((id) => exec(id, id === 'exec-b' ? { stems, usedMb: 900 } : {}));
    expect(place(fn(name, { instance: node }), hot)).toEqual({ executorId: 'exec-a', reason: 'home' });
    const full = IDS.map((id) => exec(id, id === 'exec-b' ? { stems, usedMb: 1000 } : {}));
    expect(place(fn(name, { instance: node }), full)).toEqual({ executorId: 'exec-a', reason: 'home' });
  });

  it('pack: the busiest executor holding one; without `instance` nothing changes', () => {
    const name = nameWithHome('exec-a');
    const stems = { 'nodejs:128:sealed': 1 };
    const executors = [exec('exec-a'), exec('exec-b', { stems, usedMb: 200 }), exec('exec-c', { stems, usedMb: 400 }), exec('exec-d', { usedMb: 600 })];
    expect(place(fn(name, { instance: node }), executors, 'pack')).toMatchObject({ executorId: 'exec-c', reason: 'pool' });
    expect(place(fn(name), executors, 'pack')).toEqual({ executorId: 'exec-d', reason: 'pack' });
    expect(place(fn(name), executors)).toEqual({ executorId: 'exec-a', reason: 'home' });
  });
});

describe('choosePlacement: spread', () => {
  it('sends repeated calls of one function to the same home executor', () => {
    const executors = IDS.map((id) => exec(id));
    for (const name of ['alpha', 'beta', 'gamma']) {
      const first = place(fn(name), executors);
      expect(first).toEqual({ executorId: orderOf(name)[0], reason: 'home' });
      for (let i = 0; i < 20; i++) expect(place(fn(name), executors)).toEqual(first);
    }
  });

  it('keeps a function at home as reservations accumulate, until the home is hot', () => {
    const registry = new ExecutorRegistry({ now: () => 0 });
    for (const id of IDS) registry.observe(heartbeatOf(id, 1024));
    const name = 'busy';
    const home = orderOf(name)[0];
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const p = choosePlacement({ fn: fn(name), executors: registry.states(), policy: 'spread', ring: registry.ring });
      if (p === undefined) throw new Error('no placement');
      seen.push(`${p.executorId}:${p.reason}`);
      registry.reserve(p.executorId, 128, `act-${i}`);
    }
    // 7 × 128 MB = 896 MB ≥ 0.8 × 1024, so the 8th call steps off the hot home.
    expect(seen.slice(0, 7)).toEqual(Array(7).fill(`${home}:home`));
    expect(seen[7]).toBe(`${orderOf(name)[1]}:home-step`);
  });

  it('steps to the next executor on the ring when the home is full, hot, unhealthy, draining or offline', () => {
    const name = nameWithHome('exec-b');
    const [home, next] = orderOf(name);
    const variants: Array<Parameters<typeof exec>[1]> = [
      { usedMb: 1000 }, // full for 128 MB
      { usedMb: 850 }, // room, but above 0.8
      { state: 'unhealthy' },
      { state: 'draining' },
      { state: 'offline' },
    ];
    for (const v of variants) {
      const executors = IDS.map((id) => exec(id, id === home ? v : {}));
      expect(place(fn(name), executors)).toEqual({ executorId: next, reason: 'home-step' });
    }
  });

  it('steps up to maxHomeSteps along the ring, then takes the least loaded cool executor', () => {
    const name = 'overflow';
    const order = orderOf(name);
    const full = (ids: string[]) => IDS.map((id) => exec(id, ids.includes(id) ? { usedMb: 1024 } : { usedMb: 100 }));
    expect(place(fn(name), full(order.slice(0, 2)))).toEqual({ executorId: order[2], reason: 'home-step' });

    const executors = IDS.map((id) =>
      exec(id, id === order[3] ? { usedMb: 400 } : { usedMb: 1024 }),
    );
    expect(place(fn(name), executors)).toEqual({ executorId: order[3], reason: 'spread' });
    expect(place(fn(name), executors, 'spread', { maxHomeSteps: 3 })).toEqual({
      executorId: order[3],
      reason: 'home-step',
    });

    // Past the steps, the least loaded wins, not the next on the ring.
    const mixed = IDS.map((id) => exec(id, { usedMb: id === order[3] ? 100 : id === order[2] ? 500 : 1024 }));
    expect(place(fn(name), mixed, 'spread', { maxHomeSteps: 1 })).toEqual({ executorId: order[3], reason: 'spread' });
  });

  it('spreads 100 distinct functions roughly evenly over 4 executors', () => {
    const registry = new ExecutorRegistry({ now: () => 0 });
    for (const id of IDS) registry.observe(heartbeatOf(id, 64 * 1024));
    const counts = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const p = choosePlacement({
        fn: fn(`function-${i}`),
        executors: registry.states(),
        policy: 'spread',
        ring: registry.ring,
      });
      if (p === undefined) throw new Error('no placement');
      expect(p.reason).toBe('home');
      registry.reserve(p.executorId, 128, `act-${i}`);
      counts.set(p.executorId, (counts.get(p.executorId) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(IDS);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThanOrEqual(12);
      expect(n).toBeLessThanOrEqual(40);
    }
  });
});

describe('choosePlacement: pack', () => {
  it('fills one executor before using the next, then takes hot spots, then gives up', () => {
    const registry = new ExecutorRegistry({ now: () => 0 });
    for (const id of IDS) registry.observe(heartbeatOf(id, 1024));
    const sequence: Array<{ executorId: string; reason: string }> = [];
    for (let i = 0; i < 40; i++) {
      const p = choosePlacement({
        fn: fn(`function-${i}`),
        executors: registry.states(),
        policy: 'pack',
        ring: registry.ring,
      });
      if (p === undefined) break;
      sequence.push(p);
      registry.reserve(p.executorId, 128, `act-${i}`);
    }
    // 7 × 128 MB crosses 0.8 × 1024 on each executor in turn (4 × 7 = 28 'pack'),
    // then each still has 128 MB: 4 more as 'hot-spot', then nothing has room.
    expect(sequence).toHaveLength(32);
    const packed = sequence.slice(0, 28);
    expect(packed.every((p) => p.reason === 'pack')).toBe(true);
    const runs = packed.map((p) => p.executorId).filter((id, i, all) => i === 0 || all[i - 1] !== id);
    expect(runs).toHaveLength(4); // never goes back to an executor it left
    expect(new Set(runs).size).toBe(4);
    for (const id of IDS) expect(packed.filter((p) => p.executorId === id)).toHaveLength(7);
    expect(sequence.slice(28).every((p) => p.reason === 'hot-spot')).toBe(true);
    expect(new Set(sequence.slice(28).map((p) => p.executorId)).size).toBe(4);
  });

  it('chooses the busiest cool executor, and the home among equally loaded ones', () => {
    const name = 'packed';
    const executors = [exec('exec-a', { usedMb: 100 }), exec('exec-b', { usedMb: 600 }), exec('exec-c', { usedMb: 900 }), exec('exec-d')];
    expect(place(fn(name), executors, 'pack')).toEqual({ executorId: 'exec-b', reason: 'pack' });
    expect(place(fn(name), IDS.map((id) => exec(id)), 'pack')).toEqual({ executorId: orderOf(name)[0], reason: 'pack' });
  });
});

describe('choosePlacement: hot spots, health and capacity', () => {
  it('avoids executors above the hot-spot threshold while a cooler one has room', () => {
    const name = nameWithHome('exec-a');
    const executors = [exec('exec-a', { usedMb: 900 }), exec('exec-b', { usedMb: 850 }), exec('exec-c', { usedMb: 830 }), exec('exec-d', { usedMb: 700 })];
    expect(place(fn(name), executors, 'spread', { maxHomeSteps: 0 })).toEqual({ executorId: 'exec-d', reason: 'spread' });
    expect(place(fn(name), executors, 'pack')).toEqual({ executorId: 'exec-d', reason: 'pack' });
  });

  it('takes the least loaded executor with room when all are hot (reason hot-spot)', () => {
    const executors = [exec('exec-a', { usedMb: 900 }), exec('exec-b', { usedMb: 850 }), exec('exec-c', { usedMb: 830 }), exec('exec-d', { usedMb: 1000 })];
    for (const policy of ['spread', 'pack'] as const) {
      expect(place(fn('x'), executors, policy)).toEqual({ executorId: 'exec-c', reason: 'hot-spot' });
    }
    // With a higher threshold they are not hot: pack takes the busiest with room
    // (exec-a at 900 MB has only 124 MB free, too little for 128 MB).
    expect(place(fn('x'), executors, 'pack', { hotSpotThreshold: 0.95 })).toEqual({ executorId: 'exec-b', reason: 'pack' });
  });

  it('never chooses unhealthy, draining or offline executors while a healthy one exists', () => {
    const name = nameWithHome('exec-a');
    const executors = [
      exec('exec-a', { state: 'unhealthy' }),
      exec('exec-b', { state: 'draining', idleWarm: { [`default/${name}@1`]: 2 } }),
      exec('exec-c', { state: 'offline' }),
      exec('exec-d', { usedMb: 850 }),
    ];
    for (const policy of ['spread', 'pack'] as const) {
      expect(place(fn(name), executors, policy)).toEqual({ executorId: 'exec-d', reason: 'hot-spot' });
    }
  });

  it('falls back to unhealthy executors only when no healthy one exists (reason degraded)', () => {
    const executors = [exec('exec-a', { state: 'unhealthy', usedMb: 500 }), exec('exec-b', { state: 'unhealthy' }), exec('exec-c', { state: 'draining' })];
    expect(place(fn('x'), executors, 'spread')?.reason).toBe('degraded');
    expect(place(fn('x'), executors, 'pack')).toEqual({ executorId: 'exec-a', reason: 'degraded' });
    expect(place(fn('x'), [exec('exec-c', { state: 'draining' }), exec('exec-d', { state: 'offline' })])).toBeUndefined();
    // A healthy but full executor still beats falling back: nothing has room → queue.
    expect(place(fn('x'), [exec('exec-a', { state: 'unhealthy' }), exec('exec-b', { usedMb: 1024 })])).toBeUndefined();
  });

  it('returns undefined when no executor has room for the function', () => {
    const executors = IDS.map((id) => exec(id, { usedMb: 1000 }));
    expect(place(fn('x'), executors, 'spread')).toBeUndefined();
    expect(place(fn('x'), executors, 'pack')).toBeUndefined();
    expect(place(fn('x', { memoryMb: 24 }), executors, 'spread')?.reason).toBe('hot-spot');
    expect(place(fn('x'), [])).toBeUndefined();
  });

  it('gives the same answer without a ring as with the registry ring', () => {
    const executors = IDS.map((id, i) => exec(id, { usedMb: i * 100 }));
    for (let i = 0; i < 50; i++) {
      for (const policy of ['spread', 'pack'] as const) {
        const f = fn(`f${i}`);
        expect(choosePlacement({ fn: f, executors, policy })).toEqual(place(f, executors, policy));
      }
    }
  });
});

describe('ConsistentHashRing', () => {
  const keys = Array.from({ length: 1000 }, (_, i) => `default/function-${i}`);
  const five = ['e1', 'e2', 'e3', 'e4', 'e5'];

  function owners(r: ConsistentHashRing): string[] {
    return keys.map((k) => r.lookup(k) ?? '');
  }

  it('balances 1000 keys across 5 nodes', () => {
    const counts = new Map<string, number>();
    for (const o of owners(new ConsistentHashRing(five))) counts.set(o, (counts.get(o) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(five);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(120);
      expect(n).toBeLessThan(300);
    }
  });

  it('moves only the removed node’s keys (≈1/5) when one of 5 nodes leaves', () => {
    const r = new ConsistentHashRing(five);
    const before = owners(r);
    expect(r.remove('e3')).toBe(true);
    const after = owners(r);
    const moved = keys.filter((_, i) => before[i] !== after[i]);
    const ownedByE3 = before.filter((o) => o === 'e3').length;
    expect(moved).toHaveLength(ownedByE3);
    expect(moved.length).toBeGreaterThan(120);
    expect(moved.length).toBeLessThan(300);
    keys.forEach((_, i) => {
      if (before[i] !== after[i]) expect(before[i]).toBe('e3');
    });
  });

  it('moves ≈1/6 of keys, all to the new node, when a sixth node joins', () => {
    const r = new ConsistentHashRing(five);
    const before = owners(r);
    expect(r.add('e6')).toBe(true);
    expect(r.add('e6')).toBe(false);
    const after = owners(r);
    const moved = keys.filter((_, i) => before[i] !== after[i]);
    expect(moved.length).toBeGreaterThan(90);
    expect(moved.length).toBeLessThan(260);
    keys.forEach((_, i) => {
      if (before[i] !== after[i]) expect(after[i]).toBe('e6');
    });
  });

  it('walks every node once, starting at the key’s owner, and steps the same way for the same membership', () => {
    const r = new ConsistentHashRing(five);
    const walk = [...r.walk('default/x')];
    expect(walk[0]).toBe(r.lookup('default/x'));
    expect([...walk].sort()).toEqual(five);
    expect([...new ConsistentHashRing([...five].reverse()).walk('default/x')]).toEqual(walk);
    // Removing the owner makes the old second choice the new owner: stepping = what removal does.
    r.remove(walk[0] ?? '');
    expect([...r.walk('default/x')]).toEqual(walk.slice(1));
  });

  it('handles an empty ring and validates virtual nodes', () => {
    const r = new ConsistentHashRing();
    expect(r.lookup('k')).toBeUndefined();
    expect([...r.walk('k')]).toEqual([]);
    expect(r.remove('nope')).toBe(false);
    expect(() => new ConsistentHashRing([], { virtualNodes: 0 })).toThrow(RangeError);
  });

  it('hashes deterministically to unsigned 32-bit values', () => {
    expect(hash32('brisk')).toBe(hash32('brisk'));
    expect(hash32('exec-1#0')).not.toBe(hash32('exec-1#1'));
    for (const s of ['', 'a', 'exec-1#63', 'ü']) {
      const h = hash32(s);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });
});

function heartbeatOf(executorId: string, memoryMb: number): Heartbeat {
  return heartbeat(executorId, { memoryMb });
}
