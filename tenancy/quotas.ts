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
 * instead of one per invocation; at low rates (under 50/s) every invocation
 * asks the store, so small quotas are exact.
 */
export class InvocationAdmission {
  private readonly leases = new Map<string, { tokens: number; until: number }>();

  constructor(
    private readonly kv: KeyValueStore,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(namespace: string, q: NamespaceQuotas, payloadBytes: number, mode: 'sync' | 'async'): Promise<void> {
    const limit = mode === 'sync' ? q.maxSyncPayloadBytes : q.maxAsyncPayloadBytes;
    if (payloadBytes > limit) throw new PayloadTooLargeError(limit, 'QUOTA_PAYLOAD');
    const lease = this.leases.get(namespace);
    if (lease && lease.tokens >= 1 && lease.until > this.now()) {
      lease.tokens--;
      return;
    }
    const rate = q.invocationsPerSecond;
    const batch = Math.max(1, Math.floor(rate * LEASE_FRACTION));
    const key = `rate:${namespace}`;
    let took = batch;
    let r = await this.kv.takeTokens(key, rate, rate * 2, batch);
    if (!r.allowed && batch > 1) {
      took = 1;
      r = await this.kv.takeTokens(key, rate, rate * 2, 1);
    }
    if (!r.allowed) {
      throw new ThrottledError('QUOTA_RATE', `over ${rate} invocations per second in namespace '${namespace}'`, Math.max(1, Math.ceil(r.retryAfterMs / 1000)));
    }
    this.leases.set(namespace, { tokens: took - 1, until: this.now() + LEASE_TTL_MS });
  }
}
