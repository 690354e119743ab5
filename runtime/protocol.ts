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
 * `GET /healthz` answers 200 when the server is up.
 */

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
}

/** `POST /run`: one event. */
export interface RunRequest {
  activationId: string;
  /** The event as JSON text. */
  payload: string;
  /** Absolute epoch ms at which the platform gives up (context.getRemainingTimeInMillis). */
  deadline: number;
}

/** Body of every /run response (HTTP 200 for both success and function error). */
export type RunResponse =
  | { ok: true; resultJson: string; logs: string[]; logsTruncated: boolean; durationMs: number }
  | {
      ok: false;
      error: { errorType: string; errorMessage: string; stack?: string };
      logs: string[];
      logsTruncated: boolean;
      durationMs: number;
    };

/** Body of /init and protocol error responses (HTTP 4xx/5xx). */
export interface RuntimeErrorBody {
  error: { code: string; message: string; errorType?: string; stack?: string };
}

/**
 * The global (`Symbol.for(…)` key) through which the runtime tells a bundle
 * where its package's files are, set just before it imports the bundle
 * (the bundler's prelude reads it).
 */
export const PACKAGE_ROOT_KEY = 'brisk.packageRoot';

/** Markers printed on stdout and stderr around each activation so a log reader can cut them. */
export const ACTIVATION_START_MARKER = 'XXX_BRISK_ACTIVATION_START';
export const ACTIVATION_END_MARKER = 'XXX_BRISK_ACTIVATION_END';
/** Logs kept per activation; past this a truncation marker line is added. */
export const MAX_LOG_BYTES = 256 * 1024;
export const LOG_TRUNCATED_MARKER = '[brisk] log output truncated';
