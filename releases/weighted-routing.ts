/**
 * Where an alias sends traffic: its `version`, except for the fractions its
 * `weights` give to other versions (`{ "8": 0.1 }`: one call in ten runs
 * version 8). Weights are checked when an alias is written (see
 * {@link checkRouting}); routing trusts them.
 */
export interface AliasRouting {
  version: number;
  /** Version (as a decimal string, JSON's only key type) → its share of calls, in (0, 1), summing below 1. */
  weights?: Record<string, number>;
}

/** More weighted versions than this is a misconfiguration, not a rollout. */
export const MAX_WEIGHTED_VERSIONS = 4;

/** Why a routing is not valid, or undefined when it is. `versions` are those the function has. */
export function routingProblem(routing: AliasRouting, versions: ReadonlySet<number>): { code: 'INVALID_WEIGHTS' | 'VERSION_NOT_FOUND'; message: string; version?: number } | undefined {
  if (!versions.has(routing.version)) {
    return { code: 'VERSION_NOT_FOUND', message: `version ${routing.version} does not exist`, version: routing.version };
  }
  const entries = Object.entries(routing.weights ?? {});
  if (entries.length > MAX_WEIGHTED_VERSIONS) {
    return { code: 'INVALID_WEIGHTS', message: `at most ${MAX_WEIGHTED_VERSIONS} weighted versions` };
  }
  let sum = 0;
  for (const [key, weight] of entries) {
    const v = Number(key);
    if (!/^[1-9][0-9]*$/.test(key) || !Number.isSafeInteger(v)) {
      return { code: 'INVALID_WEIGHTS', message: `weight key '${key.slice(0, 20)}' is not a version number` };
    }
    if (v === routing.version) {
      return { code: 'INVALID_WEIGHTS', message: `version ${v} is the alias's own version; weights name the other versions` };
    }
    if (!(Number.isFinite(weight) && weight > 0 && weight < 1)) {
      return { code: 'INVALID_WEIGHTS', message: `the weight of version ${v} must be above 0 and below 1` };
    }
    if (!versions.has(v)) return { code: 'VERSION_NOT_FOUND', message: `version ${v} does not exist`, version: v };
    sum += weight;
  }
  // A tolerance for decimal fractions (0.7 + 0.2 + 0.1 is 0.9999999999999999 in binary).
  if (sum >= 1 - 1e-9) {
    return { code: 'INVALID_WEIGHTS', message: `weights sum to ${sum}; they must leave the alias's version a share (sum below 1)` };
  }
  return undefined;
}

/**
 * The version one call runs, for a uniform `r` in [0, 1): each weighted
 * version takes its share of the unit interval (in version order, so the
 * choice for a given `r` is stable), the alias's version the rest.
 */
export function routeVersion(routing: AliasRouting, r: number): number {
  let upTo = 0;
  for (const [version, weight] of weightedVersions(routing)) {
    upTo += weight;
    if (r < upTo) return version;
  }
  return routing.version;
}

/** The weighted versions in ascending order. */
export function weightedVersions(routing: AliasRouting): Array<[number, number]> {
  return Object.entries(routing.weights ?? {})
    .map(([k, w]): [number, number] => [Number(k), w])
    .sort((a, b) => a[0] - b[0]);
}

/** The alias's own share: what the weights leave. */
export function primaryShare(routing: AliasRouting): number {
  return 1 - weightedVersions(routing).reduce((s, [, w]) => s + w, 0);
}
