import { CliError, ExitCode } from './cli-error.js';
import type { ApiResponse, GatewayClient } from './http-client.js';

/** The gateway's error body: `{ error: { code, message, details?, … } }`. */
export interface GatewayErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** What a command tells the error mapping about the call it made. */
export interface CallContext {
  /** A feature name for "this gateway does not support …" (e.g. `triggers`). */
  feature?: string;
}

const FUNCTION_FAULT_CODES = new Set(['FUNCTION_ERROR', 'FUNCTION_TIMEOUT', 'FUNCTION_OOM']);

export function gatewayError(res: ApiResponse): GatewayErrorBody | undefined {
  const body = res.json as { error?: unknown } | undefined;
  const e = body?.error as Partial<GatewayErrorBody> | undefined;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string') return undefined;
  return { ...e, code: e.code, message: typeof e.message === 'string' ? e.message : e.code };
}

/**
 * Turn a non-2xx answer into a {@link CliError} with the exit code that
 * classifies it and a hint that says what to do next. Branches on the status
 * and the stable `error.code`, never on message text.
 */
export function errorFromResponse(res: ApiResponse, client: GatewayClient, method: string, path: string, ctx: CallContext = {}): CliError {
  const e = gatewayError(res) ?? { code: `HTTP_${res.status}`, message: res.text.slice(0, 500) || `HTTP ${res.status}` };
  const body = res.json ?? { error: { code: e.code, message: e.message } };
  const activationId = res.headers.get('x-brisk-activation-id') ?? undefined;
  const make = (exitCode: (typeof ExitCode)[keyof typeof ExitCode], hint?: string, details: string[] = []) =>
    new CliError(e.code, e.message, { exitCode, body, details, ...(hint !== undefined ? { hint } : {}) });

  if (res.headers.get('x-brisk-fault') === 'function' || FUNCTION_FAULT_CODES.has(e.code)) {
    return functionFault(e, activationId, body);
  }
  if (e.code === 'READ_ONLY_KEY') {
    return make(ExitCode.AUTH, 'this API key may list, get and invoke only: deploy and delete need a key with write access (`brisk login --key …`)');
  }
  if (e.code.startsWith('QUOTA_')) {
    // A namespace quota (403 or 429), not an auth problem: nothing to fix with a key.
    return make(res.status === 429 ? ExitCode.PLATFORM : ExitCode.USAGE, 'a namespace quota: free some room (e.g. `brisk delete` unused functions) or ask the operator to raise it');
  }
  if (res.status === 401 || res.status === 403) {
    const { keySource } = client.settings;
    if (res.status === 403) {
      return make(ExitCode.AUTH, 'this key may not do that here: use a key of this namespace (or the admin key), `brisk login --key …`');
    }
    const hint =
      keySource === 'none'
        ? 'the gateway wants an API key: `brisk login --key …` (or set BRISK_KEY); a standalone server keeps its admin key in <data dir>/admin-key, e.g. `brisk login --key - < .brisk/admin-key`'
        : `the gateway refused the API key (from ${keySource === 'config' ? 'the config file' : keySource === 'env' ? 'BRISK_KEY' : '--key'}): check it and run \`brisk login --key …\``;
    return make(ExitCode.AUTH, hint);
  }
  if (res.status === 404 && e.code === 'ROUTE_NOT_FOUND') {
    const what = ctx.feature ?? `${method} ${path}`;
    return new CliError('UNSUPPORTED', `this gateway (${client.baseUrl}) does not support ${what} (${method} ${path} → 404 ROUTE_NOT_FOUND)`, {
      exitCode: ExitCode.USAGE,
      hint: 'upgrade the server to a Brisk version that has it',
      body,
    });
  }
  if (res.status === 429) {
    const after = res.headers.get('retry-after');
    return make(ExitCode.PLATFORM, `the gateway is throttling this call${after !== null ? `: retry in ${after} s` : ': retry shortly'}`);
  }
  if (res.status >= 500 || res.status < 400) {
    const where = activationId !== undefined ? ` (activation ${activationId})` : '';
    return make(ExitCode.PLATFORM, `a platform error${where}, not your function's: retrying may help; the gateway's logs say more`);
  }
  const details = clientErrorDetails(e);
  if (details.length > 0) {
    // The message repeats the diagnostics; the details carry them with their source line.
    const hint = clientErrorHint(e);
    return new CliError(e.code, 'the code does not build:', { exitCode: ExitCode.USAGE, body, details, ...(hint !== undefined ? { hint } : {}) });
  }
  return make(ExitCode.USAGE, clientErrorHint(e));
}

function functionFault(e: GatewayErrorBody, activationId: string | undefined, body: unknown): CliError {
  const details: string[] = [];
  const stack = typeof e['stack'] === 'string' ? e['stack'] : undefined;
  if (stack !== undefined) {
    const lines = stack.split('\n');
    // A V8 stack starts with "Type: message", which the headline already says.
    if (lines[0] !== undefined && !/^\s+at /.test(lines[0])) lines.shift();
    details.push(...lines);
  }
  const label =
    e.code === 'FUNCTION_TIMEOUT'
      ? 'the function timed out'
      : e.code === 'FUNCTION_OOM'
        ? 'the function ran out of memory'
        : `the function failed: ${typeof e['errorType'] === 'string' ? e['errorType'] : 'Error'}`;
  const hint =
    activationId !== undefined
      ? `its logs: \`brisk activations get ${activationId}\``
      : undefined;
  return new CliError(e.code, `${label}: ${typeof e['errorMessage'] === 'string' ? e['errorMessage'] : e.message}`, {
    exitCode: ExitCode.FUNCTION_ERROR,
    body,
    details,
    ...(hint !== undefined ? { hint } : {}),
  });
}

function clientErrorHint(e: GatewayErrorBody): string | undefined {
  switch (e.code) {
    case 'FUNCTION_NOT_FOUND':
      return 'see `brisk list` for the deployed functions, or deploy it with `brisk deploy <file|dir> --name …`';
    case 'ACTIVATION_NOT_FOUND':
      return 'activation records expire (BRISK_ACTIVATION_TTL_S); `brisk activations` lists the recent ones';
    case 'BUILD_FAILED':
    case 'HANDLER_FILE_NOT_FOUND':
      return 'fix the code (or --handler) and run `brisk deploy` again';
    case 'INVALID_HANDLER':
      return 'use --handler file.export, e.g. --handler src/index.handler';
    case 'INVALID_SETTINGS':
      return 'check --memory, --timeout and --env against the gateway\'s limits';
    case 'MALFORMED_JSON':
      return 'the event must be JSON: --data \'{"a":1}\' or --file event.json';
    case 'PAYLOAD_TOO_LARGE':
      return 'send less: the gateway limits bodies (BRISK_MAX_PAYLOAD_BYTES / BRISK_MAX_CODE_BYTES)';
    case 'NAMESPACE_NOT_FOUND':
      return 'pick an existing namespace with --namespace (or `brisk login --namespace …`); only the admin key may switch namespaces';
    case 'INVALID_NAME':
      return 'names are [a-z0-9][a-z0-9-_]{0,62}: pick one with --name';
    case 'ALIAS_NOT_FOUND':
      return 'see `brisk alias ls <fn>` for the function\'s aliases, or create one with `brisk alias set <fn>:<alias> --version N`';
    case 'VERSION_NOT_FOUND':
      return '`brisk get <fn>` lists the function\'s versions';
    case 'INVALID_WEIGHTS':
      return 'use --weight VERSION=SHARE for versions other than --version, each share in (0, 1), all together below 1';
    case 'PROVISIONED_NOT_FOUND':
      return '`brisk provisioned ls <fn>` lists the function\'s provisioned instances, by version or alias';
    case 'INVALID_CRON':
      return 'a cron has 5 fields (6 with seconds first), e.g. \'0 9 * * 1-5\', and a time zone is an IANA name such as Europe/Paris';
    case 'NO_ROLLBACK_TARGET':
      return 'the alias has no earlier routing; move it with `brisk alias set <fn>:<alias> --version N`';
    default:
      return e.code.startsWith('ARCHIVE_') ? 'the directory or archive holds something the gateway refuses (links, `..` paths, too many files)' : undefined;
  }
}

function clientErrorDetails(e: GatewayErrorBody): string[] {
  const errors = e.details?.['errors'];
  if (!Array.isArray(errors)) return [];
  return errors.map((x: unknown) => {
    const b = (x ?? {}) as { text?: unknown; file?: unknown; line?: unknown; column?: unknown; lineText?: unknown };
    const at = typeof b.file === 'string' ? `${b.file}${typeof b.line === 'number' ? `:${b.line}` : ''}${typeof b.column === 'number' ? `:${b.column}` : ''}: ` : '';
    const source = typeof b.lineText === 'string' && b.lineText.trim() !== '' ? `\n    ${b.lineText.trim()}` : '';
    return `${at}${String(b.text ?? JSON.stringify(x))}${source}`;
  });
}
