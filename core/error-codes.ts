/**
 * Every error code Brisk emits: the `code` of a {@link BriskError}, of an
 * error body the gateway answers, of a platform fault in an activation record,
 * of a dead letter's reason, and of a platform-API answer a function sees
 * through `context.*`. `BriskError.code` is typed as {@link ErrorCode}, so a
 * code that is not listed here does not compile; clients branch on these, so
 * they are a public contract: the README's error tables list every one that
 * can reach a client (test/unit/error-codes.test.ts holds the two together).
 *
 * Not listed: the `brisk` CLI's own client-side codes (`CliError`: USAGE,
 * UNREACHABLE, …, see cli/client/cli-error.ts), which never leave the client,
 * and the runtime's `NOT_FOUND` for an unknown route of its protocol, which the
 * executor never takes for a code of its own (an answer it does not know is
 * garbled).
 */
export const ERROR_CODES = [
  // 400: bad input; nothing is queued.
  'MALFORMED_JSON', // a JSON body (or an event) that does not parse
  'BAD_REQUEST', // a body the HTTP layer cannot read (bad encoding, …); the runtime's answer to a malformed /init or /run
  'INVALID_BODY', // a body of the wrong shape (every zod issue listed)
  'INVALID_NAME', // a function or trigger name outside [a-z0-9][a-z0-9-_]{0,62}
  'INVALID_NAMESPACE', // a namespace name outside the same pattern
  'INVALID_SETTINGS', // deploy settings (body or archive query) out of range or of the wrong type
  'INVALID_HANDLER', // a handler that is not `file.export`
  'INVALID_RUNTIME', // a runtime this installation does not offer, or `image` without an image name
  'INVALID_VERSION', // a version that is not a positive integer
  'INVALID_ALIAS', // an alias name outside [a-z][a-z0-9-_]{0,62}, or both ?alias and ?version on one call
  'INVALID_WEIGHTS', // alias weights naming a non-version or the alias's own version, a weight outside (0, 1), weights summing to 1 or more, or more than 4
  'INVALID_LIMIT', // a list limit out of range
  'INVALID_ACTIVATION_ID', // a malformed activation (or dead letter) id
  'INVALID_RANGE', // usage: `from`/`to` not ISO times, or not in order
  'INVALID_EVENT', // an event that is not a valid CloudEvent, or an empty batch
  'INVALID_TOPIC', // a topic name outside [A-Za-z0-9][A-Za-z0-9._:-]{0,127}
  'INVALID_QUEUE', // a user queue name that is malformed, reserved or too long
  'INVALID_TRIGGER', // a trigger spec that does not validate
  'INVALID_TRIGGER_TYPE', // a trigger type that is not schedule, topic, queue, storage or http
  'INVALID_CRON', // a cron expression or time zone that does not parse, or never fires
  'INVALID_BUCKET', // a bucket name that is not 2-63 lowercase letters, digits, `.` or `-`
  'INVALID_KEY', // an object key that is empty, too long, or holds control characters or `..`
  'INVALID_OBJECT_KEY', // an object key or prefix the file object store refuses
  'INVALID_PREFIX', // an object list prefix that is too long or holds control characters
  'INVALID_CONTENT_TYPE', // an object content type that is too long or holds control characters
  'JSON_TOO_DEEP', // a JSON body or event nested deeper than 64 levels
  'UNSUPPORTED_ARCHIVE', // a deploy body that is neither JSON, a .zip nor a .tar.gz
  'NAMESPACE_PROTECTED', // an attempt to delete the `default` namespace
  'SECRETS_DISABLED', // a deploy with secrets on an installation without BRISK_SECRET_KEY
  'QUOTA_MEMORY', // memoryMb over the namespace's ceiling
  'QUOTA_TIMEOUT', // timeoutMs over the namespace's ceiling

  // 400: the code does not build, or the archive is unsafe.
  'BUILD_FAILED', // esbuild failed (`details.errors[]`)
  'HANDLER_FILE_NOT_FOUND', // the handler's file is not in the archive
  'HANDLER_NOT_FOUND', // the bundle lacks the handler's export (also the runtime's /init answer for it)
  'ARCHIVE_INVALID', // a corrupt or inconsistent archive (bad zip/tar, duplicate entries, odd entry types)
  'ARCHIVE_PATH_TRAVERSAL', // an entry with an absolute path, `..`, or a NUL byte
  'ARCHIVE_SYMLINK', // an entry that is a symbolic or hard link
  'ARCHIVE_TOO_LARGE', // the archive unpacks past BRISK_MAX_UNPACKED_BYTES (or an entry inflates past its declared size)
  'ARCHIVE_TOO_MANY_FILES', // more entries than BRISK_MAX_ARCHIVE_FILES

  // 401 / 403
  'UNAUTHORIZED', // no key, or a wrong one (also: a bad platform-API token)
  'FORBIDDEN', // the key may not act here (other namespace, admin-only route)
  'READ_ONLY_KEY', // a read-only key tried to change something
  'QUOTA_FUNCTIONS', // the namespace holds its maximum number of functions
  'IMAGES_NOT_ALLOWED', // a `runtime: image` deploy in a namespace BRISK_ALLOW_IMAGES does not list

  // 404 / 405 / 409
  'ROUTE_NOT_FOUND', // no such route (gateway, http triggers, platform API)
  'FUNCTION_NOT_FOUND',
  'ACTIVATION_NOT_FOUND',
  'NAMESPACE_NOT_FOUND',
  'KEY_NOT_FOUND', // an API key id that does not exist in this namespace
  'TRIGGER_NOT_FOUND',
  'ALIAS_NOT_FOUND', // no such alias of the function
  'VERSION_NOT_FOUND', // an alias (or its weights) names a version the function does not have
  'QUEUE_NOT_FOUND', // a RabbitMQ queue that does not exist
  'DEAD_LETTER_NOT_FOUND',
  'OBJECT_NOT_FOUND',
  'STATE_NOT_FOUND', // context.state: no value under that key
  'METHOD_NOT_ALLOWED', // a method the route does not serve (`Allow` lists the ones it does)
  'NAMESPACE_EXISTS',
  'NAMESPACE_DELETING', // the namespace is being deleted; retry once it is gone
  'TRIGGER_CONFLICT', // another http trigger serves the same method and path
  'OBJECT_KEY_CONFLICT', // an object key collides with a key that is its prefix, or has keys below it
  'NO_ROLLBACK_TARGET', // rollback of an alias that has no earlier routing in its history
  'ALIAS_BUSY', // another change of the function's aliases held the lock too long; retry
  'PROVISIONED_NOT_FOUND', // no provisioned-instance config for that version or alias
  'INSUFFICIENT_CAPACITY', // provisioned instances the cluster (or the namespace's maxProvisionedMb) cannot hold; `available` is what it can

  // 413: too large.
  'PAYLOAD_TOO_LARGE', // a body over BRISK_MAX_PAYLOAD_BYTES
  'QUOTA_CODE_SIZE', // a deploy body over the namespace's maxCodeBytes
  'QUOTA_PAYLOAD', // an event over the namespace's sync or async payload quota
  'OBJECT_TOO_LARGE', // an object over the largest object size
  'STATE_VALUE_TOO_LARGE', // a context.state value over its size cap

  // 429: a limit; `Retry-After` says when to try again.
  'CONCURRENCY_LIMIT', // a sync call over the function's or namespace's concurrency
  'EXECUTOR_FULL', // the executor had no memory left for an instance
  'QUOTA_RATE', // over the namespace's invocations per second
  'PLATFORM_CONNECTION_LIMIT', // a function holds too many platform-API connections at once

  // The function's fault (`x-brisk-fault: function`).
  'FUNCTION_ERROR', // the function threw or rejected (+ errorType, errorMessage, stack)
  'FUNCTION_TIMEOUT', // the function ran past timeoutMs
  'FUNCTION_OOM', // the function ran out of memory
  'INVALID_FUNCTION_RESPONSE', // a web endpoint's result had a bad status or headers
  'INIT_FAILED', // the runtime could not load the function (it threw at import)

  // The platform API as a function sees it (context.state / context.objects).
  'INVALID_STATE_KEY', // a state key that is empty, too long or holds control characters
  'INVALID_STATE_VALUE', // a state value that is not JSON (or undefined)
  'INVALID_TTL', // ttlSeconds that is not a positive number
  'INVALID_INCREMENT', // context.state.increment by a non-integer
  'INVALID_PATH', // a platform-API path with malformed percent-encoding
  'STATE_NOT_INTEGER', // increment of a value that is not an integer
  'PLATFORM_UNAVAILABLE', // the instance cannot reach the platform API (no socket, or it does not answer)

  // The platform's fault (`x-brisk-fault: platform`): 5xx answers, and the
  // `error.code` of a `platform_error` activation.
  'INTERNAL', // an unexpected error
  'HANDED_BACK', // a consumer gave a message back untouched (a scheduler stopping); redelivered without counting
  'PLATFORM_ERROR', // a platform fault without a code of its own
  'SERVICE_UNAVAILABLE', // RabbitMQ, Redis, S3 or Docker cannot be reached right now
  'GATEWAY_TIMEOUT', // no result before the sync call's deadline
  'GATEWAY_SHUTTING_DOWN', // the gateway stopped while the call waited for its result
  'CONSOLE_NOT_BUILT', // /console on an installation built without the web console
  'BUS_CLOSED', // the in-process bus is closed (the process is stopping)
  'PUBLISH_NACKED', // the broker refused to take a message
  'STORE_ERROR', // Redis refused a command (not an outage)
  'OBJECT_STORE_ERROR', // S3 refused a request (not an outage)
  'SECRETS_CORRUPT', // stored secrets have an unknown format
  'SECRETS_UNREADABLE', // stored secrets do not decrypt (wrong BRISK_SECRET_KEY?)
  'NO_CAPACITY', // no executor had room before the deadline
  'EXECUTOR_LOST', // the executor running the invocation went silent
  'EXECUTOR_DRAINING', // the executor is draining and takes no new work
  'EXECUTOR_CLOSED', // the executor's Docker backend closed while an instance started
  'EXECUTOR_NOT_READY', // the executor's Docker backend is not (or no longer) ready
  'BACKEND_CLOSED', // the executor's process backend is closed
  'CODE_NOT_FOUND', // the function's bundle or package files are missing from the object store
  'CODE_CORRUPT', // the function's bundle or package files do not match their hash
  'INSTANCE_START_FAILED', // an instance (container or process) did not start
  'IMAGE_NOT_FOUND', // an image function's image is not on the executor's Docker engine (nor pullable)
  'RUNTIME_NOT_SUPPORTED', // the executor's backend cannot run this runtime (an image function on the process backend)
  'INSTANCE_START_TIMEOUT', // an instance's runtime was not ready in time
  'INSTANCE_PAUSE_FAILED', // an idle instance could not be frozen
  'INSTANCE_RESIZE_FAILED', // a pre-started instance's memory limit could not be changed for its function
  'INSTANCE_RESUME_FAILED', // a frozen instance could not be resumed
  'INSTANCE_UIDS_EXHAUSTED', // no free uid left in BRISK_PROCESS_UID_RANGE
  'INSTANCE_UNREACHABLE', // the instance's runtime stopped answering (not the function's fault)
  'PLATFORM_API_UNAVAILABLE', // the platform API failed the function's calls (a store outage, or it was closing)
  'PLATFORM_API_OVERLOADED', // the platform API refused connections: every slot was busy
  'REPLY_NOT_DELIVERED', // the run ended but its result could not be sent back
  'ALREADY_INITIALIZED', // runtime protocol: a second /init on one instance
  'NOT_INITIALIZED', // runtime protocol: /run before /init
  'BUSY', // runtime protocol: /run while another activation runs on the instance
  'BAD_PAYLOAD', // runtime protocol: an event that is not JSON
  'RUNTIME_ERROR', // runtime protocol: the runtime server itself failed

  // Dead letters: why an async invocation was given up (also the record's error.code).
  'RETRIES_EXHAUSTED', // the function failed on every retry
  'PLATFORM_RETRIES_EXHAUSTED', // throttled or platform faults past the platform's retry limit
  'EVENT_TOO_OLD', // older than BRISK_MAX_EVENT_AGE_S

  // Inside the platform only: see INTERNAL_ERROR_CODES.
  'REQUEUED',
  'QUEUE_NOT_DECLARED',
  'FUNCTION_VERSION_NOT_FOUND',
  'FUNCTION_VERSION_MISMATCH',
  'PACKAGE_ALREADY_PREPARED',
  'CONFIG_INVALID',
  'RUNTIME_MISSING',
  'RUNTIME_IMAGE_BUILD_FAILED',
  'RUNTIME_IMAGE_MISSING',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Codes no client ever receives: not in an HTTP answer (gateway or platform
 * API), an activation record or a dead letter. Each is handled where it is
 * raised, or stops a process at start-up; the README need not list them.
 */
export const INTERNAL_ERROR_CODES = [
  'HANDED_BACK', // the bus redelivers it uncounted; never answered over HTTP
  'REQUEUED', // a queue trigger hands a message back to the broker (the consumer requeues it)
  'INIT_FAILED', // the executor turns it into the function error FUNCTION_ERROR (with the runtime's errorType)
  'QUEUE_NOT_DECLARED', // the in-process bus: a send to a queue nobody declared (a bug in Brisk)
  'FUNCTION_VERSION_MISMATCH', // an executor refuses a dispatch that misdescribes its version; likewise
  'PACKAGE_ALREADY_PREPARED', // a backend guard: an instance gets one package (a bug in Brisk)
  'CONFIG_INVALID', // start-up: a socket path too long for a unix socket, a bad uid range
  'RUNTIME_MISSING', // start-up: the process backend finds no runtime build
  'RUNTIME_IMAGE_BUILD_FAILED', // start-up: the Docker backend cannot build its runtime image
  'RUNTIME_IMAGE_MISSING', // start-up: the image is still missing after the build
] as const satisfies readonly ErrorCode[];
