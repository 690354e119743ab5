import type { FunctionVersion } from '../../core/types.js';

/** A stored function version for unit tests of the warm pool and the executor: `env.NAME` is its name, its code hash its name and version. */
export function fakeVersion(name: string, memoryMb = 256, version = 1): FunctionVersion {
  return {
    namespace: 'default',
    name,
    version,
    handler: 'index.handler',
    memoryMb,
    timeoutMs: 1000,
    env: { NAME: name },
    maxConcurrency: 0,
    retries: 0,
    allowEgress: false,
    codeHash: `hash-${name}-${version}`,
    codeSize: 10,
    exportName: 'handler',
    createdAt: new Date(0).toISOString(),
  };
}
