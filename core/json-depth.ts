import { ValidationError } from './errors.js';

/**
 * Deepest nesting accepted in JSON that enters the platform (events, CloudEvents,
 * trigger definitions): deeper JSON is an attack or a bug, and recursive code
 * downstream (JSON.stringify, validators) would overflow the stack on it.
 * Counted from the top of the body as sent: `[[1]]` is 2 deep.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether arrays and objects nest deeper than `max` in a parsed JSON value.
 * Iterative, visits containers only, and stops at the first one too deep
 * (a walk of the parsed value costs a fraction of a scan of its text).
 */
export function exceedsDepth(value: unknown, max: number): boolean {
  const nodes: unknown[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const v = nodes.pop();
    const d = depths.pop() as number;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') {
        nodes.push(child);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

/** Throws 400 `JSON_TOO_DEEP` when a parsed JSON value nests deeper than {@link MAX_JSON_DEPTH}. */
export function assertJsonDepth(value: unknown, what: string): void {
  if (exceedsDepth(value, MAX_JSON_DEPTH)) {
    throw new ValidationError('JSON_TOO_DEEP', `${what} nests deeper than ${MAX_JSON_DEPTH} levels`, { maxDepth: MAX_JSON_DEPTH });
  }
}
