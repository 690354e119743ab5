import { z } from 'zod';
import type { Completion, Dispatch, Heartbeat, InvocationRequest, InvocationResult, PrewarmRequest } from './types.js';

/**
 * Schemas for everything that crosses the bus. A consumer parses each message
 * with these before acting, so a malformed message is dead-lettered at the edge
 * instead of crashing a handler deep inside.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const functionVersion = z.object({
  namespace: z.string().regex(NAME_PATTERN),
  name: z.string().regex(NAME_PATTERN),
  version: z.number().int().positive(),
  codeHash: z.string().regex(/^[a-f0-9]{64}$/),
  codeSize: z.number().int().nonnegative(),
  exportName: z.string().min(1),
  filesHash: z.string().regex(/^[a-f0-9]{64}$/).optional(),
  filesSize: z.number().int().nonnegative().optional(),
  handler: z.string().min(1),
  memoryMb: z.number().int().positive(),
  timeoutMs: z.number().int().positive(),
  env: z.record(z.string(), z.string()),
  maxConcurrency: z.number().int().nonnegative(),
  retries: z.number().int().nonnegative(),
  allowEgress: z.boolean(),
  onFailure: z.string().regex(NAME_PATTERN).optional(),
  public: z.boolean().optional(),
  secretNames: z.array(z.string()).optional(),
  secretsDigest: z.string().optional(),
  createdAt: z.string(),
});

const invocationRequest = z.object({
  activationId: z.string().min(1).max(64),
  fn: functionVersion,
  mode: z.enum(['sync', 'async']),
  payload: z.string(),
  replyTo: z.string().optional(),
  deadline: z.number(),
  attempt: z.number().int().positive(),
  queuedAt: z.string(),
  trigger: z.string().optional(),
  platformRetries: z.number().int().nonnegative().optional(),
  executorLosses: z.number().int().nonnegative().optional(),
  namespaceConcurrency: z.number().int().positive().optional(),
});

const dispatch = z.object({ request: invocationRequest, placement: z.string(), scheduler: z.string() });

const status = z.enum(['queued', 'running', 'success', 'error', 'timeout', 'oom', 'platform_error', 'throttled']);

/** `Activation['error']`: a function's own error, or a platform error with its code. */
const activationError = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('function'), errorType: z.string(), errorMessage: z.string(), stack: z.string().optional() }),
  z.object({ kind: z.literal('platform'), code: z.string(), message: z.string() }),
]);

const invocationResult = z.object({
  activationId: z.string(),
  status,
  resultJson: z.string().optional(),
  error: activationError.optional(),
  coldStart: z.boolean(),
  durationMs: z.number(),
});

const heartbeat = z.object({
  executorId: z.string(),
  backend: z.enum(['process', 'docker']),
  memoryMb: z.number(),
  memoryUsedMb: z.number(),
  inFlight: z.number(),
  pool: z.record(z.string(), z.number()),
  warm: z.array(
    z.object({ namespace: z.string(), function: z.string(), version: z.number(), state: z.enum(['idle', 'busy']) }),
  ),
  systemErrors: z.number(),
  draining: z.boolean(),
  leaving: z.boolean(),
  sentAt: z.number(),
});

const completion = z.object({
  activationId: z.string(),
  executorId: z.string(),
  status,
  systemError: z.boolean(),
});

// The casts narrow zod's inferred shapes to the hand-written domain types,
// which the schemas above mirror field by field.
export const parseInvocationRequest = (raw: unknown): InvocationRequest => invocationRequest.parse(raw) as InvocationRequest;
export const parseDispatch = (raw: unknown): Dispatch => dispatch.parse(raw) as Dispatch;
export const parseInvocationResult = (raw: unknown): InvocationResult => invocationResult.parse(raw) as InvocationResult;
export const parseHeartbeat = (raw: unknown): Heartbeat => heartbeat.parse(raw) as Heartbeat;
export const parseCompletion = (raw: unknown): Completion => completion.parse(raw) as Completion;

const prewarm = z.object({ kind: z.literal('prewarm'), executorId: z.string(), fn: functionVersion });
export const parsePrewarm = (raw: unknown): PrewarmRequest => prewarm.parse(raw) as PrewarmRequest;
