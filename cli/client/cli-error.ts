/**
 * Exit codes of the `brisk` client commands. Scripts branch on these, so they
 * are part of the CLI's public contract (documented in the README):
 *
 * | code | meaning |
 * |------|---------|
 * | 0 | success |
 * | 1 | the function failed: it threw, timed out or ran out of memory |
 * | 2 | usage or client error: bad arguments, or a 4xx answer (not found, invalid settings, build failed) |
 * | 3 | platform error: a 5xx answer, a throttled call (429), or the gateway cannot be reached — retrying may help |
 * | 4 | auth error: the gateway wants an API key, or refused the one given (401/403) |
 */
export const ExitCode = {
  OK: 0,
  FUNCTION_ERROR: 1,
  USAGE: 2,
  PLATFORM: 3,
  AUTH: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure a client command reports to the user: a message, the exit code
 * that classifies it, and a hint that says what to do next. `body` is the
 * machine-readable form printed on stdout under `--json` (the server's error
 * body when there is one).
 */
export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  readonly code: string;
  readonly body: unknown;
  /** Extra lines printed after the message (build errors, a function's stack). */
  readonly details: string[];

  constructor(
    code: string,
    message: string,
    opts: { exitCode: ExitCodeValue; hint?: string; body?: unknown; details?: string[] },
  ) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = opts.exitCode;
    this.hint = opts.hint;
    this.details = opts.details ?? [];
    this.body = opts.body ?? { error: { code, message, ...(opts.hint !== undefined ? { hint: opts.hint } : {}) } };
  }

  /** Bad arguments: exit 2, pointing at the command's help. */
  static usage(message: string, command?: string): CliError {
    const hint = command === undefined ? 'see `brisk help`' : `see \`brisk ${command} --help\``;
    return new CliError('USAGE', message, { exitCode: ExitCode.USAGE, hint });
  }
}
