/**
 * Brisk's one error hierarchy.
 *
 * Every error the platform raises on purpose is a {@link BriskError}: it carries a
 * stable machine-readable `code`, the HTTP `status` the gateway answers with,
 * whether the operation may be `retryable`, and optional structured `data`.
 * Errors that cross the bus are turned into plain objects with
 * {@link serializeError} and rebuilt with {@link deserializeError}, so the far side
 * can still branch on `instanceof` or `code`, never on message text.
 */

import type { ErrorCode } from './error-codes.js';

export type { ErrorCode } from './error-codes.js';

/**
 * An error as it travels on the bus. `code` stays a string there: a peer of
 * another version may send one this build does not list.
 */
export interface SerializedError {
  code: string;
  message: string;
  status: number;
  retryable: boolean;
  data?: Record<string, unknown>;
}

export class BriskError extends Error {
  /** One of {@link ErrorCode}; an error rebuilt from the bus carries whatever its sender set. */
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly data: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { status?: number; retryable?: boolean; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status ?? 500;
    this.retryable = opts.retryable ?? false;
    this.data = opts.data;
  }

  toJSON(): SerializedError {
    return {
      code: this.code,
      message: this.message,
      status: this.status,
      retryable: this.retryable,
      ...(this.data ? { data: this.data } : {}),
    };
  }
}

/** 400: the request is malformed (bad JSON, bad name, bad settings). */
export class ValidationError extends BriskError {
  constructor(code: ErrorCode, message: string, data?: Record<string, unknown>) {
    super(code, message, { status: 400, data });
  }
}

/** 400: the function's code does not build (syntax error, missing import, bad archive). */
export class BuildError extends BriskError {
  constructor(message: string, data?: Record<string, unknown>, code: ErrorCode = 'BUILD_FAILED') {
    super(code, message, { status: 400, data });
  }
}

/** 401 / 403 */
export class AuthError extends BriskError {
  constructor(code: 'UNAUTHORIZED' | 'FORBIDDEN', message: string) {
    super(code, message, { status: code === 'UNAUTHORIZED' ? 401 : 403 });
  }
}

/** The code of a missing thing, per kind of thing. */
const NOT_FOUND_CODES = {
  alias: 'ALIAS_NOT_FOUND',
  function: 'FUNCTION_NOT_FOUND',
  key: 'KEY_NOT_FOUND',
  namespace: 'NAMESPACE_NOT_FOUND',
  object: 'OBJECT_NOT_FOUND',
  provisioned: 'PROVISIONED_NOT_FOUND',
  queue: 'QUEUE_NOT_FOUND',
  state: 'STATE_NOT_FOUND',
  trigger: 'TRIGGER_NOT_FOUND',
  version: 'VERSION_NOT_FOUND',
} as const satisfies Record<string, ErrorCode>;

/** 404 */
export class NotFoundError extends BriskError {
  constructor(what: keyof typeof NOT_FOUND_CODES, id: string) {
    super(NOT_FOUND_CODES[what], `${what} '${id}' not found`, { status: 404, data: { [what]: id } });
  }
}

/** 413 */
export class PayloadTooLargeError extends BriskError {
  constructor(limitBytes: number, code: ErrorCode = 'PAYLOAD_TOO_LARGE') {
    super(code, `payload exceeds ${limitBytes} bytes`, { status: 413, data: { limitBytes } });
  }
}

/** 429: a concurrency or rate limit; `retryAfterSeconds` becomes the Retry-After header. */
export class ThrottledError extends BriskError {
  readonly retryAfterSeconds: number;
  constructor(code: ErrorCode, message: string, retryAfterSeconds = 1, data?: Record<string, unknown>) {
    super(code, message, { status: 429, retryable: true, data: { ...data, retryAfterSeconds } });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * A fault of the platform, not of the function: a service is unreachable, an
 * executor died, a message was lost. Usually retryable; answered with 5xx.
 */
export class PlatformError extends BriskError {
  constructor(code: ErrorCode, message: string, opts: { status?: number; retryable?: boolean; cause?: unknown; data?: Record<string, unknown> } = {}) {
    super(code, message, { status: opts.status ?? 503, retryable: opts.retryable ?? true, cause: opts.cause, data: opts.data });
  }
}

/** A dependency (RabbitMQ, Redis, S3, Docker) is not reachable right now. */
export class ServiceUnavailableError extends PlatformError {
  constructor(service: string, message: string, cause?: unknown) {
    super('SERVICE_UNAVAILABLE', `${service}: ${message}`, { status: 503, retryable: true, cause, data: { service } });
  }
}

/**
 * Whether an error means a dependency is down (Redis, S3, the broker) rather
 * than that this piece of work is bad: such work is retried until the
 * dependency is back, and never counts toward a delivery limit.
 */
export function isOutage(err: unknown): boolean {
  return err instanceof BriskError && err.code === 'SERVICE_UNAVAILABLE';
}

/**
 * Work a consumer gives back untouched, through no fault of the message: a
 * scheduler stopping while a request waits for capacity leaves it for another
 * scheduler. The bus puts the message back in its queue at once and does not
 * count a failed delivery (see `bus/delivery-policy.ts`).
 */
export class HandedBackError extends PlatformError {
  constructor(message: string, data?: Record<string, unknown>) {
    super('HANDED_BACK', message, { status: 503, retryable: true, data });
  }
}

/** The caller waited longer than the platform allows for a sync result. */
export class GatewayTimeoutError extends PlatformError {
  constructor(message: string, data?: Record<string, unknown>) {
    super('GATEWAY_TIMEOUT', message, { status: 504, retryable: true, data });
  }
}

const registry: Record<string, new (...args: never[]) => BriskError> = {
  ValidationError,
  BuildError,
  AuthError,
  NotFoundError,
  PayloadTooLargeError,
  ThrottledError,
  PlatformError,
  ServiceUnavailableError,
  HandedBackError,
  GatewayTimeoutError,
};

/** Turn any thrown value into a wire-safe object. Unknown errors become INTERNAL. */
export function serializeError(err: unknown): SerializedError & { type: string } {
  if (err instanceof BriskError) return { type: err.name, ...err.toJSON() };
  const message = err instanceof Error ? err.message : String(err);
  return { type: 'PlatformError', code: 'INTERNAL', message, status: 500, retryable: false };
}

/** Rebuild a typed error from {@link serializeError}'s output. */
export function deserializeError(obj: SerializedError & { type?: string }): BriskError {
  const ctor = obj.type !== undefined ? registry[obj.type] : undefined;
  const err: BriskError = ctor !== undefined && ctor.prototype instanceof BriskError
    ? (Object.create(ctor.prototype) as BriskError)
    : (Object.create(BriskError.prototype) as BriskError);
  Object.assign(err, {
    name: obj.type ?? 'BriskError',
    message: obj.message,
    code: obj.code,
    status: obj.status,
    retryable: obj.retryable,
    data: obj.data,
  });
  if (err instanceof ThrottledError) {
    (err as { retryAfterSeconds: number }).retryAfterSeconds = Number(obj.data?.['retryAfterSeconds'] ?? 1);
  }
  Object.defineProperty(err, 'stack', { value: `${obj.type ?? 'BriskError'}: ${obj.message}\n    (rebuilt from the bus)`, enumerable: false });
  return err;
}
