import type { Activation, ActivationStatus, InvocationRequest } from '../core/types.js';
import type { KeyValueStore } from '../storage/types.js';

/**
 * Why an async invocation was given up on:
 * - `RETRIES_EXHAUSTED`: the function failed (error, timeout, oom) on every attempt (`retries` + 1).
 * - `PLATFORM_RETRIES_EXHAUSTED`: throttles or platform faults outlasted their own retry budget.
 * - `EVENT_TOO_OLD`: older than `BRISK_MAX_EVENT_AGE_S` before it could run (again).
 * - `NO_CAPACITY`: no executor had room before the invocation's deadline.
 * - `EXECUTOR_LOST`: executors were lost while running it, too often to try
 *   again (see `retry-policy.ts`): most likely its run takes its executor down.
 * - `FUNCTION_DELETED`: its function version was deleted while it waited, so
 *   there is nothing to run (redeploy, then redrive it, to run it after all).
 */
export type DeadLetterReason =
  | 'RETRIES_EXHAUSTED'
  | 'PLATFORM_RETRIES_EXHAUSTED'
  | 'EVENT_TOO_OLD'
  | 'NO_CAPACITY'
  | 'EXECUTOR_LOST'
  | 'FUNCTION_DELETED';

/** One async invocation that finally failed, as `GET /v1/dead-letters` shows it. */
export interface DeadLetter {
  /** The failed activation's id (its final record has the same id). */
  activationId: string;
  namespace: string;
  function: string;
  version: number;
  reason: DeadLetterReason;
  /** Final status of the activation. */
  status: ActivationStatus;
  /** The error of the last attempt (function error body or platform `{ code, message }`). */
  lastError?: Activation['error'];
  /** Function attempts made (platform retries not counted). */
  attempts: number;
  /** The event as JSON text, exactly as it was invoked. */
  payload: string;
  trigger?: string;
  queuedAt: string;
  failedAt: string;
}

/** Bound on one listing (a namespace's dead letters are expected to stay small; redrive or delete them). */
export const MAX_DEAD_LETTERS_LISTED = 1000;

/**
 * Dead letters on the {@link KeyValueStore}: one collection per namespace
 * (`deadletters:<namespace>`), field = activation id, value = the JSON entry.
 * Collections have no TTL: a dead letter stays until it is redriven or deleted.
 * Writing the same activation twice (a duplicate delivery) keeps one entry.
 */
export class DeadLetterStore {
  constructor(private readonly kv: KeyValueStore) {}

  /** The entry for a request that finally failed. */
  static entryFor(
    req: InvocationRequest,
    outcome: { reason: DeadLetterReason; status: ActivationStatus; lastError?: Activation['error'] },
    now = new Date(),
  ): DeadLetter {
    return {
      activationId: req.activationId,
      namespace: req.fn.namespace,
      function: req.fn.name,
      version: req.fn.version,
      reason: outcome.reason,
      status: outcome.status,
      ...(outcome.lastError !== undefined ? { lastError: outcome.lastError } : {}),
      attempts: req.attempt,
      payload: req.payload,
      ...(req.trigger !== undefined ? { trigger: req.trigger } : {}),
      queuedAt: req.queuedAt,
      failedAt: now.toISOString(),
    };
  }

  async put(letter: DeadLetter): Promise<void> {
    await this.kv.hset(collectionOf(letter.namespace), letter.activationId, JSON.stringify(letter));
  }

  async get(namespace: string, activationId: string): Promise<DeadLetter | undefined> {
    const json = await this.kv.hget(collectionOf(namespace), activationId);
    return json === undefined ? undefined : (JSON.parse(json) as DeadLetter);
  }

  /** Most recent failure first, optionally of one function. */
  async list(namespace: string, query: { function?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const all = Object.values(await this.kv.hgetall(collectionOf(namespace))).map((j) => JSON.parse(j) as DeadLetter);
    return all
      .filter((d) => query.function === undefined || d.function === query.function)
      .sort((a, b) => (a.failedAt < b.failedAt ? 1 : a.failedAt > b.failedAt ? -1 : 0))
      .slice(0, Math.min(query.limit ?? MAX_DEAD_LETTERS_LISTED, MAX_DEAD_LETTERS_LISTED));
  }

  /** Returns whether the entry existed. */
  delete(namespace: string, activationId: string): Promise<boolean> {
    return this.kv.hdel(collectionOf(namespace), activationId);
  }

  /** Every dead letter of a namespace (it is being deleted). */
  async deleteNamespace(namespace: string): Promise<void> {
    await this.kv.deleteCollection(collectionOf(namespace));
  }
}

function collectionOf(namespace: string): string {
  return `deadletters:${namespace}`;
}
