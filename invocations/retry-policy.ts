import type { InvocationRequest } from '../core/types.js';
import type { DeadLetterReason } from './dead-letters.js';

/**
 * How far the platform goes on retrying an async invocation for reasons that
 * are not the function's own failure (those use its `retries`): one place for
 * the executor, which retries throttles and platform faults it reports, and
 * the scheduler, which re-queues a run whose executor was lost.
 */

/** Throttles and platform faults retried this many times before the activation fails. */
export const MAX_PLATFORM_RETRIES = 10;

/**
 * Executor losses after which an async invocation is a dead letter
 * (`EXECUTOR_LOST`) instead of being run again: 2. One loss happens to
 * innocent work (a host dies, an operator kills a process) and earns a re-run
 * elsewhere; a second loss of the same run is no coincidence: a message that
 * takes down whatever runs it (a poison message) would otherwise take down
 * every executor in turn, for as long as its event may live (6 h). Brokers
 * bound redelivery the same way (RabbitMQ quorum queues' delivery-limit, SQS's
 * maxReceiveCount).
 */
export const MAX_EXECUTOR_LOSSES = 2;

/** What becomes of an async invocation whose executor was lost while it held it. */
export type AfterLoss = { retry: InvocationRequest } | { deadLetter: DeadLetterReason; message: string };

/**
 * Decide on a run lost with `executorId`: run it again elsewhere (counting the
 * loss, and a platform retry, which also gives the new run a claim of its
 * own), or give up on it.
 */
export function afterExecutorLoss(req: InvocationRequest, executorId: string): AfterLoss {
  const losses = (req.executorLosses ?? 0) + 1;
  const platformRetries = (req.platformRetries ?? 0) + 1;
  if (losses >= MAX_EXECUTOR_LOSSES) {
    return {
      deadLetter: 'EXECUTOR_LOST',
      message: `${losses} executors were lost while running this invocation (the last: ${executorId}); it is not run again`,
    };
  }
  if (platformRetries > MAX_PLATFORM_RETRIES) {
    return { deadLetter: 'PLATFORM_RETRIES_EXHAUSTED', message: `its executor ${executorId} was lost after ${MAX_PLATFORM_RETRIES} platform retries` };
  }
  return { retry: { ...req, executorLosses: losses, platformRetries } };
}
