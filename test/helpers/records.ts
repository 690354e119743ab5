import type { FunctionVersion, Heartbeat } from '../../core/types.js';

/**
 * The bus's and the store's records in the shape unit tests need: every
 * required field set to a plain value, `over` for what a test is about.
 */

/** What a deploy hands the store (`MetadataStore.putFunctionVersion`): `default/hello`, 128 MB, no code behind it. */
export function functionDraft(over: Partial<Omit<FunctionVersion, 'version' | 'createdAt'>> = {}): Omit<FunctionVersion, 'version' | 'createdAt'> {
  return {
    namespace: 'default',
    name: 'hello',
    codeHash: 'a'.repeat(64),
    codeSize: 10,
    exportName: 'handler',
    handler: 'index.handler',
    memoryMb: 128,
    timeoutMs: 5000,
    env: {},
    maxConcurrency: 0,
    retries: 0,
    allowEgress: false,
    ...over,
  };
}

/** A stored function version: `default/hello@1`, 128 MB, no code behind it. */
export function functionVersion(over: Partial<FunctionVersion> = {}): FunctionVersion {
  return { ...functionDraft(), version: 1, createdAt: '2026-01-01T00:00:00.000Z', ...over };
}

/** An executor's heartbeat: a 1024 MB process executor, idle and empty (no `running` list, as from an older executor, unless given). */
export function heartbeat(executorId: string, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    executorId,
    backend: 'process',
    memoryMb: 1024,
    memoryUsedMb: 0,
    inFlight: 0,
    pool: {},
    warm: [],
    systemErrors: 0,
    draining: false,
    leaving: false,
    sentAt: 0,
    ...over,
  };
}
