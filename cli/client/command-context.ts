import type { ParsedArgs } from './args.js';
import { ConfigFile, readClientEnv, resolveSettings, type ClientEnv } from './config-file.js';
import { errorFromResponse, type CallContext } from './gateway-errors.js';
import { GatewayClient, type ApiResponse, type FetchLike, type RequestOptions } from './http-client.js';
import { Output, type OutputStreams } from './output.js';

/**
 * What the client commands need from the outside world. Production defaults
 * are the real process; tests may hand in their own.
 */
export interface ClientDeps {
  env?: NodeJS.ProcessEnv;
  streams?: OutputStreams;
  fetch?: FetchLike;
  /** Read all of stdin (for `--file -` and `--key -`). */
  readStdin?: () => Promise<string>;
  /** Run `onInterrupt` on Ctrl-C; returns a function that stops listening. */
  onInterrupt?: (onInterrupt: () => void) => () => void;
}

/** One command's run: its arguments, output, config and gateway client. */
export class CommandContext {
  readonly out: Output;
  readonly clientEnv: ClientEnv;
  readonly configFile: ConfigFile;
  private cachedClient: GatewayClient | undefined;

  constructor(
    readonly args: ParsedArgs,
    private readonly deps: ClientDeps = {},
  ) {
    this.out = new Output(args.flag('json'), deps.streams);
    this.clientEnv = readClientEnv(deps.env ?? process.env);
    this.configFile = new ConfigFile(this.clientEnv.configPath);
  }

  get fetchImpl(): FetchLike | undefined {
    return this.deps.fetch;
  }

  /** The gateway client, with flags over BRISK_URL/BRISK_KEY over the config file. */
  async client(): Promise<GatewayClient> {
    if (this.cachedClient === undefined) {
      const settings = resolveSettings(this.clientEnv, await this.configFile.read(), {
        url: this.args.string('url'),
        key: this.args.string('key'),
        namespace: this.args.string('namespace'),
      });
      this.cachedClient = new GatewayClient(settings, this.deps.fetch);
    }
    return this.cachedClient;
  }

  /**
   * A request that must succeed (2xx): anything else becomes the CliError that
   * classifies it (exit code + hint).
   */
  async call(method: string, path: string, opts: RequestOptions & CallContext = {}): Promise<ApiResponse> {
    const client = await this.client();
    const res = await client.request(method, path, opts);
    if (res.status < 200 || res.status > 299) throw errorFromResponse(res, client, method, path, opts);
    return res;
  }

  async readStdin(): Promise<string> {
    if (this.deps.readStdin) return this.deps.readStdin();
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  onInterrupt(cb: () => void): () => void {
    if (this.deps.onInterrupt) return this.deps.onInterrupt(cb);
    process.on('SIGINT', cb);
    process.on('SIGTERM', cb);
    return () => {
      process.off('SIGINT', cb);
      process.off('SIGTERM', cb);
    };
  }
}

/** `encodeURIComponent` for one path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
