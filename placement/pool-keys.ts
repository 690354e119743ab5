import type { FunctionRuntime } from '../core/types.js';

/** What an instance is created as: the parts that make pre-started instances interchangeable. */
export interface PoolSpec {
  runtime?: FunctionRuntime | undefined;
  image?: string | undefined;
  memoryMb: number;
  allowEgress: boolean;
}

/** What an instance runs, as one string: `nodejs`, `python`, or `image:<reference>`. Instances of one key are interchangeable. */
export function runtimeKeyOf(spec: Pick<PoolSpec, 'runtime' | 'image'>): string {
  const rt = spec.runtime ?? 'nodejs';
  return rt === 'image' ? `image:${spec.image ?? ''}` : rt;
}

/**
 * Which generic (pre-started) instances can serve a spec: same runtime, same
 * egress (a container's network is fixed at creation), and the same memory
 * size unless the backend resizes instances when they are taken (`any`). An
 * executor's heartbeat counts its ready ones by this key (`stems`).
 */
export function poolKeyOf(spec: PoolSpec, resizable: boolean): string {
  const net = spec.allowEgress ? 'egress' : 'sealed';
  return `${runtimeKeyOf(spec)}:${resizable ? 'any' : spec.memoryMb}:${net}`;
}

/** How many of an executor's ready pre-started instances (`stems`, by pool key) can serve `fn`, and under which key. */
export function stemFor(stems: Readonly<Record<string, number>> | undefined, fn: PoolSpec): { key: string; count: number } | undefined {
  if (stems === undefined) return undefined;
  for (const key of [poolKeyOf(fn, false), poolKeyOf(fn, true)]) {
    const count = stems[key] ?? 0;
    if (count > 0) return { key, count };
  }
  return undefined;
}
