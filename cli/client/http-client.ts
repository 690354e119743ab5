import { CliError, ExitCode } from './cli-error.js';
import type { ClientSettings } from './config-file.js';

/** One answer from the gateway, body read in full. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: string | Uint8Array;
  contentType?: string;
  signal?: AbortSignal;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/**
 * A thin HTTP client for the gateway's `/v1` API: adds the base URL and the
 * `Authorization` header, reads the whole body, and turns "cannot connect"
 * into a {@link CliError} (exit 3) that says how to fix it. It does not judge
 * statuses; {@link errorFromResponse} in `gateway-errors.ts` does.
 */
export class GatewayClient {
  constructor(
    readonly settings: Pick<ClientSettings, 'url' | 'key' | 'urlSource' | 'keySource'> & { namespace?: string | undefined },
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
  ) {}

  get baseUrl(): string {
    return this.settings.url;
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse> {
    const url = new URL(this.settings.url + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.settings.key !== undefined) headers['authorization'] = `Bearer ${this.settings.key}`;
    if (this.settings.namespace !== undefined) headers['x-brisk-namespace'] = this.settings.namespace;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    let res: Response;
    try {
      res = await this.fetchImpl(url.toString(), {
        method,
        headers,
        // A Uint8Array is a valid fetch body; the typings only want its buffer to be an ArrayBuffer, not a SharedArrayBuffer.
        ...(opts.body !== undefined ? { body: opts.body as NonNullable<RequestInit['body']> } : {}),
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw this.unreachable(err);
    }
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: parseJson(text) };
  }

  private unreachable(err: unknown): CliError {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    if (reason === 'UND_ERR_HEADERS_TIMEOUT' || reason === 'UND_ERR_BODY_TIMEOUT') {
      // fetch (undici) gives up on an answer after 300 s; a sync invoke can run longer (BRISK_MAX_TIMEOUT_MS).
      return new CliError('CLIENT_TIMEOUT', `${this.settings.url} did not answer in time (${reason})`, {
        exitCode: ExitCode.PLATFORM,
        hint: 'for long runs use `brisk invoke … --async`, then `brisk activations get <id> --wait`',
      });
    }
    const where =
      this.settings.urlSource === 'env'
        ? ' (the URL comes from BRISK_URL)'
        : this.settings.urlSource === 'flag'
          ? ' (the URL comes from --url)'
          : '';
    return new CliError('UNREACHABLE', `cannot reach ${this.settings.url}${where}: ${reason}`, {
      exitCode: ExitCode.PLATFORM,
      hint:
        this.settings.urlSource === 'env'
          ? 'is the gateway running? fix or unset BRISK_URL (it overrides `brisk login --url …`)'
          : 'is `brisk standalone` running? set the URL with `brisk login --url …`',
    });
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
