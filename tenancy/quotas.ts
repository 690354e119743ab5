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
 * Admission of one invocation into a namespace: its rate (a token bucket in
 * the KeyValueStore, so every gateway shares it; burst twice the rate) and the
 * size of its event. Concurrency is the scheduler's to enforce.
 */
export async function admitInvocation(
  kv: KeyValueStore,
  namespace: string,
  q: NamespaceQuotas,
  payloadBytes: number,
  mode: 'sync' | 'async',
): Promise<void> {
  const limit = mode === 'sync' ? q.maxSyncPayloadBytes : q.maxAsyncPayloadBytes;
  if (payloadBytes > limit) throw new PayloadTooLargeError(limit, 'QUOTA_PAYLOAD');
  const { allowed, retryAfterMs } = await kv.takeTokens(`rate:${namespace}`, q.invocationsPerSecond, q.invocationsPerSecond * 2);
  if (!allowed) {
    throw new ThrottledError('QUOTA_RATE', `over ${q.invocationsPerSecond} invocations per second in namespace '${namespace}'`, Math.max(1, Math.ceil(retryAfterMs / 1000)));
  }
}
