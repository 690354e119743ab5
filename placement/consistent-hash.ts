/**
 * A consistent-hash ring with virtual nodes.
 *
 * The scheduler hashes each function onto this ring to find its "home"
 * executor, so repeated calls of one function keep meeting the warm instances
 * they left behind (OpenWhisk's sharding balancer does the same with a home
 * invoker and a step size). Virtual nodes spread every executor over many
 * points of the ring, so load is even and adding or removing one executor
 * moves only about 1/N of the keys instead of reshuffling all of them.
 */

/**
 * 64 points per executor keep the largest-to-smallest share ratio low for the
 * handful-to-dozens of executors Brisk runs, while a full rebuild stays cheap
 * (N × 64 hashes and one sort).
 */
export const DEFAULT_VIRTUAL_NODES = 64;

/**
 * 32-bit FNV-1a over the UTF-16 code units of `s`, followed by murmur3's
 * `fmix32` finaliser. Plain FNV-1a clusters for inputs that differ only in
 * their last characters (`exec-1#0`, `exec-1#1`, …); the finaliser avalanches
 * those differences across all 32 bits. Fast, non-cryptographic, stable across
 * processes — which matters, since several schedulers must agree on homes.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface RingPoint {
  point: number;
  node: string;
}

export interface ConsistentHashRingOptions {
  /** Points per node; default {@link DEFAULT_VIRTUAL_NODES}. */
  virtualNodes?: number;
  /** Hash function onto 32-bit unsigned integers; default {@link hash32}. */
  hash?: (s: string) => number;
}

export class ConsistentHashRing {
  private readonly virtualNodes: number;
  private readonly hash: (s: string) => number;
  private readonly members = new Set<string>();
  /** Sorted by `point`, then by `node` so equal hashes order deterministically. */
  private points: RingPoint[] = [];

  constructor(nodes: Iterable<string> = [], opts: ConsistentHashRingOptions = {}) {
    this.virtualNodes = opts.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
    this.hash = opts.hash ?? hash32;
    if (!Number.isInteger(this.virtualNodes) || this.virtualNodes < 1) {
      throw new RangeError(`virtualNodes must be a positive integer, got ${this.virtualNodes}`);
    }
    for (const node of nodes) this.members.add(node);
    this.rebuild();
  }

  /** Number of nodes (not points) on the ring. */
  get size(): number {
    return this.members.size;
  }

  has(node: string): boolean {
    return this.members.has(node);
  }

  /** Nodes in insertion order. */
  nodes(): string[] {
    return [...this.members];
  }

  /** Adds a node; a no-op when it is already present. Returns whether the ring changed. */
  add(node: string): boolean {
    if (this.members.has(node)) return false;
    this.members.add(node);
    this.rebuild();
    return true;
  }

  /** Removes a node; a no-op when absent. Returns whether the ring changed. */
  remove(node: string): boolean {
    if (!this.members.delete(node)) return false;
    this.rebuild();
    return true;
  }

  /** The node owning `key` (the first point clockwise from the key's hash), if any. */
  lookup(key: string): string | undefined {
    for (const node of this.walk(key)) return node;
    return undefined;
  }

  /**
   * Yields every node once, in ring order, starting with the owner of `key`
   * and continuing clockwise. The second node yielded is where the key "steps"
   * when its home cannot take it, and so on — deterministic for a given
   * membership, so every scheduler steps the same way.
   */
  *walk(key: string): Generator<string, void, undefined> {
    const n = this.points.length;
    if (n === 0) return;
    const start = this.firstIndexAtOrAfter(this.hash(key));
    const seen = new Set<string>();
    for (let i = 0; i < n && seen.size < this.members.size; i++) {
      const p = this.points[(start + i) % n];
      if (p === undefined || seen.has(p.node)) continue;
      seen.add(p.node);
      yield p.node;
    }
  }

  private rebuild(): void {
    const points: RingPoint[] = [];
    for (const node of this.members) {
      for (let v = 0; v < this.virtualNodes; v++) {
        points.push({ point: this.hash(`${node}#${v}`), node });
      }
    }
    points.sort((a, b) => a.point - b.point || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    this.points = points;
  }

  /** Binary search for the first point ≥ `h`, wrapping to 0 past the end. */
  private firstIndexAtOrAfter(h: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.points[mid];
      if (p !== undefined && p.point < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.points.length ? 0 : lo;
  }
}
