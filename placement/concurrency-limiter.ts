/**
 * Per-function and per-namespace in-flight limits.
 *
 * The scheduler acquires a slot before it dispatches an invocation and
 * releases it when the activation ends (any final status, including platform
 * errors and timeouts). A refused acquire means "throttle or queue", never
 * "fail": the caller decides between a 429 for sync calls and backpressure for
 * async ones.
 */

/**
 * The contract the scheduler depends on. {@link ConcurrencyLimiter} is the
 * in-process implementation; a distributed deployment with several schedulers
 * can put a Redis-backed counter (an atomic Lua check-and-increment) behind the
 * same two calls, which is why both may return a promise.
 */
export interface ConcurrencyCounter {
  /**
   * Takes one slot for `fnKey` inside `namespace` when both stay within their
   * caps; takes nothing and returns false otherwise. A cap of 0 (or less) means
   * unlimited.
   */
  tryAcquire(namespace: string, fnKey: string, fnMax: number, nsMax: number): Promise<boolean> | boolean;
  /** Gives back one slot taken by a successful `tryAcquire` with the same keys. */
  release(namespace: string, fnKey: string): Promise<void> | void;
}

/** In-memory counter for one scheduler process (standalone mode, unit tests). */
export class ConcurrencyLimiter implements ConcurrencyCounter {
  private readonly perNamespace = new Map<string, number>();
  /** Keyed by namespace and function so equal function keys in two namespaces never share a count. */
  private readonly perFunction = new Map<string, number>();

  tryAcquire(namespace: string, fnKey: string, fnMax: number, nsMax: number): boolean {
    const nsCount = this.perNamespace.get(namespace) ?? 0;
    const key = functionCountKey(namespace, fnKey);
    const fnCount = this.perFunction.get(key) ?? 0;
    if (nsMax > 0 && nsCount >= nsMax) return false;
    if (fnMax > 0 && fnCount >= fnMax) return false;
    this.perNamespace.set(namespace, nsCount + 1);
    this.perFunction.set(key, fnCount + 1);
    return true;
  }

  /**
   * Releasing more than was acquired is ignored rather than driving a count
   * negative, which would silently raise the effective limit. Zero counts are
   * deleted so the maps only hold functions with work in flight.
   */
  release(namespace: string, fnKey: string): void {
    const key = functionCountKey(namespace, fnKey);
    const fnCount = this.perFunction.get(key) ?? 0;
    if (fnCount === 0) return;
    decrement(this.perFunction, key);
    decrement(this.perNamespace, namespace);
  }

  /** In-flight count of one function, or of the whole namespace when `fnKey` is omitted. */
  inFlight(namespace: string, fnKey?: string): number {
    if (fnKey === undefined) return this.perNamespace.get(namespace) ?? 0;
    return this.perFunction.get(functionCountKey(namespace, fnKey)) ?? 0;
  }
}

function functionCountKey(namespace: string, fnKey: string): string {
  // NUL never appears in validated namespace names, so the pair is unambiguous.
  return `${namespace}\u0000${fnKey}`;
}

function decrement(map: Map<string, number>, key: string): void {
  const next = (map.get(key) ?? 0) - 1;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}
