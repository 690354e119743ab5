/**
 * Where one invocation runs. A pure function of the executors' current views
 * (see `ExecutorRegistry.states()`), so the scheduler can call it per
 * dispatch and tests can drive it with plain objects.
 *
 * The order of preference, and why:
 *
 * 1. **Candidates.** Only `healthy` executors. When none is healthy, the
 *    `unhealthy` ones are tried with the same rules and every answer carries
 *    reason `degraded` — a possibly-broken executor beats refusing all work.
 *    `draining` and `offline` executors are never chosen.
 * 2. **Warm affinity** (`warm`). An executor holding an idle warm instance of
 *    this exact namespace/name/version serves the call with no start at all;
 *    among several, the least loaded. A warm instance counts as room even when
 *    the executor's memory is full, and the hot-spot threshold does not apply
 *    (reusing it adds no memory).
 * 3. **Room** = `freeMb ≥ fn.memoryMb` (free memory already net of this
 *    scheduler's reservations). Nobody has room → `undefined`: the caller
 *    queues with backpressure.
 * 4. **Hot spots.** An executor whose memory in use is at or above
 *    `hotSpotThreshold` of its budget is "hot" and avoided while a cooler one
 *    has room. When every executor with room is hot, the least loaded of them
 *    is taken (`hot-spot`).
 * 5. **Pool affinity** (`pool`). Among the cool executors with room, those
 *    holding a ready pre-started instance that can serve the function (same
 *    runtime, size or a resizing backend, egress: its heartbeat's `stems`)
 *    start it in a few milliseconds instead of a full cold start: the first
 *    of them in the function's ring order (`spread`, so its home when the
 *    home has one) or the busiest (`pack`). Only when the caller says what the
 *    function runs in (`instance`).
 * 6. **Policy** among the cool executors with room:
 *    - `spread` (load balancing, the default): the function's *home* — its
 *      owner on the consistent-hash ring of `namespace/name` — so repeated
 *      calls meet their warm instances (`home`). When the home is not a
 *      candidate, full, or hot, step clockwise to the next executors on the ring
 *      (`home-step`), up to `maxHomeSteps` candidates, so overflow of one
 *      function also lands on a stable, small set of executors. Past that the
 *      least loaded cool executor takes it (`spread`): stepping further would
 *      pile every overflow onto the home's ring neighbours.
 *    - `pack` (consolidation): the *busiest* cool executor with room (`pack`),
 *      so work fills one executor before the next is touched and idle ones can
 *      be scaled down. Ties (e.g. all empty) go to the earliest in the
 *      function's ring order, i.e. its home first.
 *
 * Homes hash the function name without its version, so a new deployment lands
 * where the old version's instances live and the executor can evict those for it.
 */
import { ConsistentHashRing } from './consistent-hash.js';
import { functionVersionKey, type ExecutorView, type ReserveOptions } from './executor-registry.js';
import { stemFor, type PoolSpec } from './pool-keys.js';

export type PlacementPolicy = 'spread' | 'pack';

export type PlacementReason = 'warm' | 'pool' | 'home' | 'home-step' | 'spread' | 'pack' | 'hot-spot' | 'degraded';

/**
 * Fraction of an executor's memory in use at which it counts as a hot spot.
 * 0.8 leaves headroom for the instances already there to grow and for a burst
 * of warm re-use, before new cold starts are steered elsewhere.
 */
export const DEFAULT_HOT_SPOT_THRESHOLD = 0.8;

/**
 * Candidates tried after the home under `spread` before falling back to the
 * least loaded. Two keeps a hot function on at most three executors' warm
 * instances while still escaping a cluster of full neighbours quickly.
 */
export const DEFAULT_MAX_HOME_STEPS = 2;

/** The part of an {@link ExecutorView} placement reads; a full view fits. */
export type PlacementCandidate = Pick<
  ExecutorView,
  'executorId' | 'state' | 'memoryMb' | 'usedMb' | 'freeMb' | 'inFlight' | 'idleWarm'
> &
  Partial<Pick<ExecutorView, 'stems'>>;

/**
 * Memory one call holds: an instance's memory divided among the calls it
 * takes at once (`concurrency`), so placement and reservations count
 * calls' places, not whole instances, for a function that shares instances.
 */
export function slotMemoryMb(fn: { memoryMb: number; concurrency?: number }): number {
  return Math.ceil(fn.memoryMb / Math.max(1, fn.concurrency ?? 1));
}

export interface PlacementFunction {
  namespace: string;
  name: string;
  version: number;
  memoryMb: number;
  /** What its instances are created as; given, pool affinity applies (see the module). */
  instance?: PoolSpec;
}

export interface PlacementInput {
  fn: PlacementFunction;
  /** Every known executor in any state (non-candidates are filtered out here). */
  executors: readonly PlacementCandidate[];
  policy: PlacementPolicy;
  /** Default {@link DEFAULT_HOT_SPOT_THRESHOLD}. */
  hotSpotThreshold?: number;
  /**
   * The registry's ring (`ExecutorRegistry.ring`). Optional: without it a ring
   * is built from `executors` (and memoised for the same membership), which
   * gives the same homes.
   */
  ring?: ConsistentHashRing;
  /** Default {@link DEFAULT_MAX_HOME_STEPS}. */
  maxHomeSteps?: number;
}

export interface Placement {
  executorId: string;
  reason: PlacementReason;
  /** Reason `pool`: the pool key of the pre-started instance it takes there (`stemFor`). */
  stemKey?: string;
}

/** What a dispatch so placed takes on its executor, for `ExecutorRegistry.reserve`: a warm instance's place, a pre-started instance, or neither. */
export function takenBy(placement: Placement, fn: Pick<PlacementFunction, 'namespace' | 'name' | 'version'>): Pick<ReserveOptions, 'warmKey' | 'stemKey' | 'loadsKey'> {
  const key = functionVersionKey(fn.namespace, fn.name, fn.version);
  if (placement.reason === 'warm') return { warmKey: key };
  return placement.stemKey !== undefined ? { stemKey: placement.stemKey, loadsKey: key } : {};
}

/** The key a function is hashed by onto the ring (version deliberately left out). */
export function placementKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Chooses an executor for one invocation of `fn`, or `undefined` when none has room. */
export function choosePlacement(input: PlacementInput): Placement | undefined {
  const { fn, policy } = input;
  const threshold = input.hotSpotThreshold ?? DEFAULT_HOT_SPOT_THRESHOLD;
  const maxSteps = input.maxHomeSteps ?? DEFAULT_MAX_HOME_STEPS;

  let degraded = false;
  let pool = input.executors.filter((e) => e.state === 'healthy');
  if (pool.length === 0) {
    pool = input.executors.filter((e) => e.state === 'unhealthy');
    degraded = true;
  }
  if (pool.length === 0) return undefined;
  const answer = (e: PlacementCandidate, reason: PlacementReason): Placement => ({
    executorId: e.executorId,
    reason: degraded ? 'degraded' : reason,
  });

  // The function's ring order over *all* executors, so a home that is
  // unhealthy or offline still counts as the home (and we report a step).
  const ringOrder = ringOrderFor(placementKey(fn.namespace, fn.name), input);
  const rank = new Map(ringOrder.map((id, i) => [id, i]));
  const byId = new Map(pool.map((e) => [e.executorId, e]));
  const ordered = ringOrder.flatMap((id) => byId.get(id) ?? []);

  const warmKey = functionVersionKey(fn.namespace, fn.name, fn.version);
  const warmHolders = ordered.filter((e) => (e.idleWarm[warmKey] ?? 0) > 0);
  if (warmHolders.length > 0) return answer(leastLoaded(warmHolders, rank), 'warm');

  const hasRoom = (e: PlacementCandidate): boolean => e.freeMb >= fn.memoryMb;
  const isHot = (e: PlacementCandidate): boolean => loadOf(e) >= threshold;
  const roomy = ordered.filter(hasRoom);
  if (roomy.length === 0) return undefined;
  const cool = roomy.filter((e) => !isHot(e));
  if (cool.length === 0) return answer(leastLoaded(roomy, rank), 'hot-spot');

  const { instance } = fn;
  if (instance !== undefined) {
    const pooled = cool.filter((e) => stemFor(e.stems, instance) !== undefined);
    if (pooled.length > 0) {
      const e = policy === 'pack' ? busiest(pooled, rank) : (pooled[0] as PlacementCandidate);
      const stem = stemFor(e.stems, instance) as { key: string };
      return { ...answer(e, 'pool'), stemKey: stem.key };
    }
  }

  if (policy === 'pack') return answer(busiest(cool, rank), 'pack');

  const home = ringOrder[0];
  // The home itself plus `maxSteps` candidates after it; a home that is not a
  // candidate (unhealthy, draining, offline) already used up its own turn.
  const tries = maxSteps + (ordered[0]?.executorId === home ? 1 : 0);
  for (const e of ordered.slice(0, tries)) {
    if (hasRoom(e) && !isHot(e)) return answer(e, e.executorId === home ? 'home' : 'home-step');
  }
  return answer(leastLoaded(cool, rank), 'spread');
}

/** Fraction of memory in use; an executor with no memory budget counts as full. */
function loadOf(e: PlacementCandidate): number {
  return e.memoryMb > 0 ? e.usedMb / e.memoryMb : 1;
}

function leastLoaded(list: readonly PlacementCandidate[], rank: ReadonlyMap<string, number>): PlacementCandidate {
  return best(list, (a, b) => loadOf(a) - loadOf(b) || a.inFlight - b.inFlight || rankDiff(a, b, rank));
}

function busiest(list: readonly PlacementCandidate[], rank: ReadonlyMap<string, number>): PlacementCandidate {
  return best(list, (a, b) => loadOf(b) - loadOf(a) || rankDiff(a, b, rank));
}

function rankDiff(a: PlacementCandidate, b: PlacementCandidate, rank: ReadonlyMap<string, number>): number {
  return (rank.get(a.executorId) ?? Infinity) - (rank.get(b.executorId) ?? Infinity);
}

/** The first element that no other beats under `cmp` (negative = left is better). */
function best<T>(list: readonly T[], cmp: (a: T, b: T) => number): T {
  let winner = list[0];
  if (winner === undefined) throw new RangeError('best() of an empty list');
  for (const x of list) if (cmp(x, winner) < 0) winner = x;
  return winner;
}

/** One memoised ring for callers that pass no ring: rebuilt only when membership changes. */
let memo: { members: string; ring: ConsistentHashRing } | undefined;

/**
 * Executor ids in ring order for `key`: the given ring's walk restricted to
 * ids present in `executors`, then any ids the ring lacks, sorted, so every
 * executor is ranked.
 */
function ringOrderFor(key: string, input: PlacementInput): string[] {
  const ids = new Set(input.executors.map((e) => e.executorId));
  let ring = input.ring;
  if (ring === undefined) {
    const members = [...ids].sort().join('\u0000');
    if (memo === undefined || memo.members !== members) memo = { members, ring: new ConsistentHashRing([...ids].sort()) };
    ring = memo.ring;
  }
  const order: string[] = [];
  for (const id of ring.walk(key)) if (ids.has(id)) order.push(id);
  if (order.length < ids.size) {
    const seen = new Set(order);
    order.push(...[...ids].filter((id) => !seen.has(id)).sort());
  }
  return order;
}
