/**
 * The shapes of the gateway's JSON API as the console reads them (see the
 * README's HTTP API table). Kept apart from core/types.ts on purpose: this is
 * the public wire contract, and the console is built without the server code.
 */

export interface FunctionInfo {
  name: string;
  namespace: string;
  version: number;
  codeHash: string;
  codeSize: number;
  handler: string;
  /** `nodejs`, `python` or `image`. */
  runtime?: string;
  /** `runtime: image`: the image it runs. */
  image?: string;
  memoryMb: number;
  timeoutMs: number;
  env: Record<string, string>;
  maxConcurrency: number;
  retries: number;
  allowEgress: boolean;
  /** `/fn/{name}` answers without a key. */
  public?: boolean;
  /** Names of the encrypted secrets (values are never returned). */
  secretNames?: string[];
  /** Function that receives this one's dead letters (`name` or `name:alias`). */
  onFailure?: string;
  versions?: number[];
  createdAt?: string;
  updatedAt?: string;
  created?: boolean;
  /** Deploy only: the build's non-fatal notes (esbuild's warnings, a handler that may not be the one meant). */
  warnings?: string[];
}

/** An alias of a function (`GET /v1/functions/{name}/aliases`). */
export interface AliasInfo {
  name: string;
  function: string;
  version: number;
  weights?: Record<string, number>;
  /** Every version the alias routes to, with its share of calls. */
  routing?: Record<string, number>;
  description?: string;
  createdAt: string;
  updatedAt: string;
  /** Earlier routings, oldest first (what rollback returns to). */
  history?: Array<{ version: number; weights?: Record<string, number>; replacedAt: string }>;
}

/** A window of a provisioned config: from each time `cron` fires, `instances` for `durationMinutes`. */
export interface ProvisionedWindow {
  cron: string;
  /** IANA time zone the cron is read in (UTC when not given). */
  timezone?: string;
  durationMinutes: number;
  instances: number;
}

/** Provisioned instances of a version or alias (`GET /v1/functions/{name}/provisioned`). */
export interface ProvisionedInfo {
  function: string;
  /** A version number (as text) or an alias name. */
  qualifier: string;
  instances: number;
  windows: ProvisionedWindow[];
  createdAt: string;
  updatedAt: string;
  /** What the provisioner last did: instances wanted now (windows included) and loaded, per version too. */
  status: {
    wanted: number;
    ready: number;
    versions: Record<string, { wanted: number; ready: number; memoryMb: number }>;
    /** Why fewer are wanted or placed than asked (`INSUFFICIENT_CAPACITY`, `ALIAS_NOT_FOUND`, …). */
    problem?: string;
    at?: string;
  };
}

export type ActivationStatus = 'queued' | 'running' | 'success' | 'error' | 'timeout' | 'oom' | 'platform_error';

export interface Activation {
  activationId: string;
  function: string;
  version: number;
  /** The alias the call named (the version is the one it routed to). */
  alias?: string;
  status: ActivationStatus;
  mode?: 'sync' | 'async';
  result?: unknown;
  error?: { code?: string; message?: string; errorType?: string; errorMessage?: string; stack?: string[] | string };
  logs: string[];
  logsTruncated?: boolean;
  coldStart: boolean;
  startKind?: 'warm' | 'pool' | 'cold';
  startMs?: number;
  executor?: string;
  placement?: string;
  attempts: number;
  trigger?: string;
  queuedAt: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
}

export interface WarmInstance {
  namespace: string;
  function: string;
  version: number;
  state: 'idle' | 'busy';
}

export interface ExecutorInfo {
  executorId: string;
  backend: 'process' | 'docker';
  state: 'healthy' | 'unhealthy' | 'offline' | 'draining';
  memoryMb: number;
  usedMb: number;
  freeMb: number;
  inFlight: number;
  warm: WarmInstance[];
  pool: Record<string, number>;
  systemErrors: number;
  lastHeartbeatAt: number;
}

/**
 * A trigger as `GET /v1/triggers` returns it: the spec (discriminated by
 * `type`) plus name and bookkeeping. Type-specific fields are optional here.
 */
export interface TriggerInfo {
  name: string;
  type: 'schedule' | 'topic' | 'queue' | 'storage' | 'http' | string;
  function: string;
  cron?: string;
  timezone?: string;
  topic?: string;
  queue?: string;
  batchSize?: number;
  bucket?: string;
  prefix?: string;
  events?: string[];
  method?: string;
  path?: string;
  url?: string;
  public?: boolean;
  createdAt?: string;
  updatedAt?: string;
}

/** An async invocation that failed for good, as `GET /v1/dead-letters` returns it. */
export interface DeadLetterInfo {
  activationId: string;
  function: string;
  version: number;
  /** `RETRIES_EXHAUSTED`, `PLATFORM_RETRIES_EXHAUSTED`, `EVENT_TOO_OLD`, `NO_CAPACITY`, `EXECUTOR_LOST`. */
  reason: string;
  status: ActivationStatus;
  lastError?: { code?: string; message?: string; errorType?: string; errorMessage?: string };
  attempts: number;
  /** The event as JSON text. */
  payload: string;
  trigger?: string;
  queuedAt: string;
  failedAt: string;
}

export const FINAL_STATUSES: readonly ActivationStatus[] = ['success', 'error', 'timeout', 'oom', 'platform_error'];
