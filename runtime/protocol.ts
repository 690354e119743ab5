/**
 * The runtime contract: what runs inside one instance (a child process or a
 * Docker container). After OpenWhisk's action proxy: one HTTP server per
 * instance, `POST /init` once, `POST /run` many times, one activation at a time.
 *
 * The server listens on the port given by `BRISK_RUNTIME_PORT` (default 8080)
 * and prints `BRISK_RUNTIME_READY <port>` on stdout once it accepts requests.
 * With `BRISK_RUNTIME_SOCKET` set it listens on that unix socket instead (a
 * Docker container with no network is reached through a bind-mounted socket)
 * and the ready line names the socket path.
 * `GET /healthz` answers 200 when the server is up (503 `warming` while a
 * pre-start's warm-up runs; an /init sent then waits for it).
 *
 * The executor reads every answer through `executor/runtime-client.ts`, which
 * validates it with {@link runResponseSchema} and bounds its size while it
 * streams in: an answer comes from the function's own process, which its code
 * can tamper with. The runtime itself keeps hand checks (it must run with
 * nothing but the node binary, so it does not bundle zod).
 */
import { z } from 'zod';

/** `POST /init`: load one function version. A second /init answers 409. */
export interface InitRequest {
  namespace: string;
  name: string;
  version: number;
  /** The ESM bundle produced by the bundler, as UTF-8 text. */
  code: string;
  /** Export to call: `handler`, `main`, … */
  exportName: string;
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  /**
   * Where the function's package files are, as this instance sees them (an
   * absolute, read-only directory). The bundle's paths (`__dirname`,
   * `import.meta.url`, `require`) and the working directory point there.
   * Absent (a single-source function): the bundle's own directory.
   */
  packageDir?: string;
  /**
   * How the function reaches the platform's state and object API from inside
   * the instance (context.state / context.objects): a per-load token the
   * executor maps to this function's namespace. Absent: no platform API.
   */
  platform?: { token: string };
  /** Caps the runtime applies to this function's answers; absent: the defaults below. */
  limits?: RuntimeLimits;
  /**
   * Python runtime only: the dotted module to import (`lambda_function`,
   * `src.app`), from `packageDir` when there is one; a single source (`code`)
   * is written as that module. The Node runtime ignores it.
   */
  module?: string;
  /**
   * How many `/run`s the instance takes at once (1–100); absent: 1. Over it a
   * `/run` is refused `BUSY`. Each run's logs and escaped errors stay its own.
   */
  concurrency?: number;
}

/** Size caps of one /run answer's parts, in UTF-8 bytes. */
export interface RuntimeLimits {
  /** A result whose JSON is larger is refused with the function error {@link RESULT_TOO_LARGE}. */
  maxResultBytes: number;
}

/** `POST /run`: one event. */
export interface RunRequest {
  activationId: string;
  /** The event as JSON text. */
  payload: string;
  /** Absolute epoch ms at which the platform gives up (context.getRemainingTimeInMillis). */
  deadline: number;
}

/**
 * The executor's schema of a /run answer (HTTP 200). Built inside a function
 * call marked pure so that a bundle which imports only the types and constants
 * of this file (the runtime server) drops it, and zod with it.
 */
export const runResponseSchema = /* @__PURE__ */ (() => {
  const logs = { logs: z.array(z.string()), logsTruncated: z.boolean(), durationMs: z.number() };
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), resultJson: z.string(), ...logs }),
    z.object({
      ok: z.literal(false),
      error: z.object({ errorType: z.string(), errorMessage: z.string(), stack: z.string().optional() }),
      /**
       * The platform API failed a call of this activation (answered 5xx or
       * could not be reached): the first such failure. Only a hint: it comes
       * from inside the instance, so the executor believes it only when its
       * own platform API confirms it failed this instance's calls.
       */
      platformFault: z.object({ code: z.string(), message: z.string() }).optional(),
      ...logs,
    }),
  ]);
})();

/** Body of every /run response (HTTP 200 for both success and function error). */
export type RunResponse = z.infer<typeof runResponseSchema>;

/** Body of /init and protocol error responses (HTTP 4xx/5xx); built like {@link runResponseSchema}. */
export const runtimeErrorSchema = /* @__PURE__ */ (() =>
  z.object({
    error: z.object({ code: z.string(), message: z.string(), errorType: z.string().optional(), stack: z.string().optional() }),
  }))();
export type RuntimeErrorBody = z.infer<typeof runtimeErrorSchema>;

/**
 * The global (`Symbol.for(…)` key) through which the runtime tells a bundle
 * where its package's files are, set just before it imports the bundle
 * (the bundler's prelude reads it).
 */
export const PACKAGE_ROOT_KEY = 'brisk.packageRoot';

/**
 * Markers printed on stdout and stderr around each activation so a log reader
 * can cut them (unless `BRISK_RUNTIME_LOG_MARKERS=0`, which both backends set
 * by default: the logs come back in each /run answer).
 */
export const ACTIVATION_START_MARKER = 'XXX_BRISK_ACTIVATION_START';
export const ACTIVATION_END_MARKER = 'XXX_BRISK_ACTIVATION_END';
/** Logs kept per activation; past this a truncation marker line is added. */
export const MAX_LOG_BYTES = 256 * 1024;
export const LOG_TRUNCATED_MARKER = '[brisk] log output truncated';
/**
 * Default cap on a result's JSON: 6 MiB, Lambda's sync response size. Results
 * travel whole through the bus and into the activation record; a larger one is
 * the function error {@link RESULT_TOO_LARGE} (the executor sets the cap per
 * function load through {@link InitRequest.limits}).
 */
export const DEFAULT_MAX_RESULT_BYTES = 6 * 1024 * 1024;
/** `errorType` of a result over the cap. */
export const RESULT_TOO_LARGE = 'ResultTooLarge';
/**
 * Cap on a function error's `errorMessage` and on its `stack`, each. A thrown
 * 20 MB message would otherwise travel to the caller and into the record; 64
 * KiB keeps any real message and stack whole.
 */
export const MAX_ERROR_BYTES = 64 * 1024;
export const ERROR_TRUNCATED_MARKER = ' [brisk] truncated';

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes, `marker` appended when cut
 * (the marker is counted in the cap). Cheap for short text: bytes are only
 * counted when the text could be over the cap (a UTF-16 unit is at most 3 bytes).
 */
export function truncateUtf8(text: string, maxBytes: number, marker = ''): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker, 'utf8'));
  // Slicing characters first keeps a huge string cheap; the byte cut may split
  // a character, whose remains the decoder drops as U+FFFD (then trimmed).
  const head = Buffer.from(text.slice(0, room), 'utf8').subarray(0, room).toString('utf8').replace(/\uFFFD$/, '');
  return head + marker;
}
