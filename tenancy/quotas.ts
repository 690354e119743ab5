import type { BriskConfig } from '../core/config.js';
import { PayloadTooLargeError, ThrottledError } from '../core/errors.js';
import type { KeyValueStore } from '../storage/types.js';
import type { NamespaceQuotas } from './types.js';

/** The quotas a namespace has unless the operator overrides them (all from the config). */
export function defaultQuotas(cfg: BriskConfig): NamespaceQuotas {
  return {
    maxConcurrency: cfg.BRISK_NAMESPACE_CONCURRENCY,
    invocationsPerSecond: cfg.BRISK_NS_INVOCATIONS_PER_SECOND,
    maxFunctions: cfg.BRISK_NS_MAX_FUNCTIONS,
    maxCodeBytes: cfg.BRISK_MAX_CODE_BYTES,
    maxUnpackedBytes: cfg.BRISK_MAX_UNPACKED_BYTES,
    maxSyncPayloadBytes: cfg.BRISK_MAX_PAYLOAD_BYTES,
    maxAsyncPayloadBytes: cfg.BRISK_NS_MAX_ASYNC_PAYLOAD_BYTES,
    maxTimeoutMs: cfg.BRISK_MAX_TIMEOUT_MS,
    maxMemoryMb: cfg.BRISK_MAX_MEMORY_MB,
    maxProvisionedMb: cfg.BRISK_NS_MAX_PROVISIONED_MB,
  };
}

/**
 * Tokens a gateway takes from the shared bucket at once, as a fraction of the
 * namespace's rate: 2 % means one store round trip per 50 invocations at full
 * rate. Leased tokens unused after {@link LEASE_TTL_MS} are dropped, so a
 * gateway can over-admit by at most one lease per second.
 */
const LEASE_FRACTION = 0.02;
const LEASE_TTL_MS = 1000;

/**
 * Admission of invocations into a namespace: its rate (a token bucket in the
 * KeyValueStore, so every gateway shares it; burst twice the rate) and the
 * size of its event. Concurrency is the scheduler's to enforce.
 *
 * At high rates a gateway leases a small batch of tokens per store round trip
 * instead of one per invocation, one lease at a time per namespace: callers
 * that find the lease empty while a lease is being taken take a single token
 * of their own (a burst of N concurrent callers used to take N batches and
 * drain the bucket). Nobody waits on another caller's store call, so one
 * slow or lost call cannot hold up the namespace. At low rates (under 50/s)
 * every invocation asks the store, so small quotas are exact.
 */
export class InvocationAdmission {
  private readonly leases = new Map<string, { tokens: number; until: number }>();
  /** Namespaces whose lease is being taken from the store right now. */
  private readonly leasing = new Set<string>();

  constructor(
    private readonly kv: KeyValueStore,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(namespace: string, q: NamespaceQuotas, payloadBytes: number, mode: 'sync' | 'async'): Promise<void> {
    const limit = mode === 'sync' ? q.maxSyncPayloadBytes : q.maxAsyncPayloadBytes;
    if (payloadBytes > limit) throw new PayloadTooLargeError(limit, 'QUOTA_PAYLOAD');
    const rate = q.invocationsPerSecond;
    const batch = Math.max(1, Math.floor(rate * LEASE_FRACTION));
    if (batch > 1 && !this.leasing.has(namespace)) {
      if (this.takeLeased(namespace)) return;
      const leasing = this.lease(namespace, rate, batch);
      this.leasing.add(namespace);
      let r: TakeResult;
      try {
        r = await leasing;
      } finally {
        this.leasing.delete(namespace);
      }
      if (this.takeLeased(namespace)) return;
      if (!r.allowed) throw rateExceeded(namespace, rate, r.retryAfterMs);
      // The batch ran out before our turn: one token of our own.
    } else if (batch > 1 && this.takeLeased(namespace)) {
      return;
    }
    const r = await this.kv.takeTokens(`rate:${namespace}`, rate, rate * 2, 1);
    if (!r.allowed) throw rateExceeded(namespace, rate, r.retryAfterMs);
  }

  private takeLeased(namespace: string): boolean {
    const lease = this.leases.get(namespace);
    if (!lease || lease.tokens < 1 || lease.until <= this.now()) return false;
    lease.tokens--;
    return true;
  }

  /** Take a batch (or, near the limit, a single token) into the namespace's lease. */
  private async lease(namespace: string, rate: number, batch: number): Promise<TakeResult> {
    const key = `rate:${namespace}`;
    let took = batch;
    let r = await this.kv.takeTokens(key, rate, rate * 2, batch);
    if (!r.allowed) {
      took = 1;
      r = await this.kv.takeTokens(key, rate, rate * 2, 1);
    }
    if (r.allowed) {
      const now = this.now();
      const old = this.leases.get(namespace);
      const left = old && old.until > now ? old.tokens : 0;
      this.leases.set(namespace, { tokens: left + took, until: now + LEASE_TTL_MS });
    }
    return r;
  }
}

type TakeResult = Awaited<ReturnType<KeyValueStore['takeTokens']>>;

function rateExceeded(namespace: string, rate: number, retryAfterMs: number): ThrottledError {
  return new ThrottledError('QUOTA_RATE', `over ${rate} invocations per second in namespace '${namespace}'`, Math.max(1, Math.ceil(retryAfterMs / 1000)));
}
