import { CliError, ExitCode } from './cli-error.js';
import type { CommandContext } from './command-context.js';
import { DEFAULT_URL, normalizeUrl, type StoredLogin } from './config-file.js';
import { errorFromResponse } from './gateway-errors.js';
import { GatewayClient } from './http-client.js';

/**
 * `brisk login [--url URL] [--key KEY]`: check the gateway answers (and takes
 * the key), then store both in the config file. A refused key is not stored;
 * a URL whose gateway wants a key we do not have is stored, and the command
 * exits 4 saying how to add the key.
 */
export async function login(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  args.atMost(0);
  const stored = await ctx.configFile.read();
  const url = normalizeUrl(args.string('url') ?? stored.url ?? DEFAULT_URL);
  const key = await chooseKey(ctx, stored, url);
  const sameUrl = stored.url !== undefined && normalizeUrl(stored.url) === url;
  const nsFlag = args.string('namespace');
  const namespace = nsFlag !== undefined ? (nsFlag === '' ? undefined : nsFlag) : sameUrl ? stored.namespace : undefined;
  const client = new GatewayClient(
    { url, key, urlSource: 'flag', keySource: key === undefined ? 'none' : 'flag', namespace },
    ctx.fetchImpl,
  );

  const health = await client.request('GET', '/healthz');
  const status = (health.json as { status?: unknown } | undefined)?.status;
  if (health.status === 503) out.warn(`${url} answers but reports itself degraded: ${JSON.stringify(health.json)}`);
  else if (health.status !== 200 || typeof status !== 'string') {
    out.warn(`${url}/healthz answered ${health.status} without a Brisk health body; is this a Brisk gateway?`);
  }

  const probe = await client.request('GET', '/v1/functions');
  const authRefused = probe.status === 401 || probe.status === 403;
  if (authRefused && key !== undefined) throw errorFromResponse(probe, client, 'GET', '/v1/functions');
  if (!authRefused && probe.status !== 200) throw errorFromResponse(probe, client, 'GET', '/v1/functions');

  const login: StoredLogin = { url, ...(key !== undefined ? { key } : {}), ...(namespace !== undefined ? { namespace } : {}) };
  await ctx.configFile.write(login);
  if (ctx.clientEnv.url !== undefined && ctx.clientEnv.url !== url) out.warn('BRISK_URL is set and overrides the stored URL');
  if (ctx.clientEnv.key !== undefined) out.warn('BRISK_KEY is set and overrides the stored key');

  if (authRefused) {
    throw new CliError('UNAUTHORIZED', `saved ${url} in ${ctx.configFile.filePath}, but the gateway wants an API key`, {
      exitCode: ExitCode.AUTH,
      hint: 'run `brisk login --key …`; a standalone server keeps its admin key in <data dir>/admin-key: `brisk login --key - < .brisk/admin-key`',
    });
  }
  const count = ((probe.json as { functions?: unknown[] } | undefined)?.functions ?? []).length;
  const where = namespace !== undefined ? ` in namespace ${namespace}` : '';
  out.line(`logged in to ${url}${where}${key !== undefined ? ' with an API key' : ''} (${count} function${count === 1 ? '' : 's'}); saved in ${ctx.configFile.filePath}`);
  out.data({ url, key: key !== undefined, namespace: namespace ?? null, configPath: ctx.configFile.filePath, functions: count });
  return ExitCode.OK;
}

async function chooseKey(ctx: CommandContext, stored: StoredLogin, url: string): Promise<string | undefined> {
  const flag = ctx.args.string('key');
  if (flag === '-') {
    const fromStdin = (await ctx.readStdin()).trim();
    if (fromStdin === '') throw ctx.args.usage('--key - read an empty key from stdin');
    return fromStdin;
  }
  if (flag !== undefined) return flag === '' ? undefined : flag;
  // A stored key belongs to the stored URL: keep it only while the URL stays the same.
  return stored.url !== undefined && normalizeUrl(stored.url) === url ? stored.key : undefined;
}
