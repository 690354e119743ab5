import { readFile } from 'node:fs/promises';
import { keyValuePairs, type ParsedArgs } from './args.js';
import { CliError, ExitCode } from './cli-error.js';
import { seg, type CommandContext } from './command-context.js';
import { defaultFunctionName, defaultHandler, readDeploySource } from './deploy-source.js';
import { formatBytes, prettyJson } from './output.js';

/** A function as the gateway describes it (`describeVersion` + bookkeeping). */
interface FunctionView {
  name: string;
  version: number;
  codeHash: string;
  codeSize: number;
  handler: string;
  /** `nodejs`, `python` or `image`. */
  runtime?: string;
  image?: string;
  memoryMb: number;
  timeoutMs: number;
  env?: Record<string, string>;
  maxConcurrency?: number;
  /** Calls one instance takes at once. */
  concurrency?: number;
  retries?: number;
  allowEgress?: boolean;
  versions?: number[];
  createdAt?: string;
  updatedAt?: string;
  created?: boolean;
  /** Deploy only: the build's non-fatal notes. */
  warnings?: string[];
  /** Provisioned instances over all of the function's configs (only when it has any). */
  provisioned?: { wanted: number; ready: number; configs: unknown[] };
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A function as `name` or `name:alias`. */
const TARGET = /^[a-z0-9][a-z0-9_-]{0,62}(?::[a-z][a-z0-9_-]{0,62})?$/;

export function functionName(args: ParsedArgs, index = 0): string {
  const name = args.positional(index, 'the function name');
  if (!NAME.test(name)) throw args.usage(`invalid function name '${name}': use [a-z0-9][a-z0-9-_]{0,62}`);
  return name;
}

/** `brisk deploy <file|dir|archive> [--name --handler --memory --timeout --env --secret …]` */
export async function deploy(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const image = args.string('image');
  // An image function has no code to send: its image is what runs.
  const target = image !== undefined && args.positionals.length === 0 ? undefined : args.positional(0, 'what to deploy: a file or a directory');
  args.atMost(1);
  if (target === undefined) return deployImage(ctx, image as string);
  const name = args.string('name') ?? defaultFunctionName(target);
  if (name === undefined) throw args.usage(`cannot make a function name from '${target}': give one with --name`);
  if (!NAME.test(name)) throw args.usage(`invalid function name '${name}': use [a-z0-9][a-z0-9-_]{0,62} (--name)`);
  const payload = await readDeploySource(target);
  const runtime = args.string('runtime') ?? (payload.kind === 'source' || payload.runtime === 'python' ? payload.runtime : undefined);
  const settings = {
    handler: args.string('handler') ?? defaultHandler(target, payload),
    ...(runtime !== undefined && runtime !== 'nodejs' ? { runtime } : {}),
    memoryMb: args.megabytes('memory'),
    timeoutMs: args.durationMs('timeout'),
    retries: args.int('retries', { min: 0 }),
    maxConcurrency: args.int('max-concurrency', { min: 0 }),
    concurrency: args.int('concurrency', { min: 1, max: 100 }),
    public: args.flag('public') ? true : undefined,
  };
  const env = keyValuePairs(args, 'env');
  const secrets = keyValuePairs(args, 'secret');

  if (payload.kind === 'archive' && Object.keys(secrets).length > 0) {
    // Archive settings travel in the query string, which proxies and access logs record: no place for secrets.
    throw new CliError('SECRETS_WITH_ARCHIVE', '--secret works with single-file deploys only for now (an archive deploy carries its settings in the URL)', {
      exitCode: ExitCode.USAGE,
      hint: 'deploy a single bundled file with --secret, or pass the values with --env if they are not secret',
    });
  }
  const client = await ctx.client();
  const path = `/v1/functions/${seg(name)}`;
  let res;
  if (payload.kind === 'source') {
    out.progress(`${runtime === 'python' ? 'compiling' : 'bundling'} ${target} (${formatBytes(payload.bytes)}) on the gateway…`);
    out.progress(`uploading to ${client.baseUrl}…`);
    const body = {
      code: payload.code,
      ...defined(settings),
      env,
      ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    };
    res = await ctx.call('PUT', path, { body: JSON.stringify(body) });
  } else {
    const what = payload.files !== undefined ? `${payload.files} file${payload.files === 1 ? '' : 's'}, ` : '';
    out.progress(`bundling ${target}: ${what}${formatBytes(payload.archive.byteLength)} zipped`);
    if (payload.skippedLinks > 0) out.warn(`left out ${payload.skippedLinks} symlink(s): the gateway refuses links in archives`);
    out.progress(`uploading to ${client.baseUrl}…`);
    res = await ctx.call('PUT', path, {
      body: payload.archive,
      contentType: payload.contentType,
      query: {
        ...defined(settings),
        // Archive deploys take their settings in the query; env travels as a JSON string.
        ...(Object.keys(env).length > 0 ? { env: JSON.stringify(env) } : {}),
      },
    });
  }
  const fn = res.json as FunctionView;
  for (const w of fn.warnings ?? []) out.warn(w);
  const verb = fn.created === false ? 'unchanged' : 'ready';
  out.line(`${verb}: ${fn.name} v${fn.version} (sha256 ${fn.codeHash.slice(0, 12)}…, ${formatBytes(fn.codeSize)})`);
  if (fn.created === false) out.progress('(identical code and settings were already deployed: no new version)');
  out.data(res.json);
  return ExitCode.OK;
}

/** `brisk deploy --image name:tag --name N`: an image function (the namespace must be allowed images). */
async function deployImage(ctx: CommandContext, image: string): Promise<number> {
  const { args, out } = ctx;
  const name = args.string('name');
  if (name === undefined) throw args.usage('an image function needs --name');
  if (!NAME.test(name)) throw args.usage(`invalid function name '${name}': use [a-z0-9][a-z0-9-_]{0,62} (--name)`);
  const body = {
    runtime: 'image',
    image,
    ...defined({
      handler: args.string('handler'),
      memoryMb: args.megabytes('memory'),
      timeoutMs: args.durationMs('timeout'),
      retries: args.int('retries', { min: 0 }),
      maxConcurrency: args.int('max-concurrency', { min: 0 }),
      public: args.flag('public') ? true : undefined,
    }),
    env: keyValuePairs(args, 'env'),
  };
  const res = await ctx.call('PUT', `/v1/functions/${seg(name)}`, { body: JSON.stringify(body) });
  const fn = res.json as FunctionView;
  out.line(`${fn.created === false ? 'unchanged' : 'ready'}: ${fn.name} v${fn.version} (image ${image})`);
  out.data(res.json);
  return ExitCode.OK;
}

/** `brisk list` */
export async function list(ctx: CommandContext): Promise<number> {
  ctx.args.atMost(0);
  const res = await ctx.call('GET', '/v1/functions');
  const functions = ((res.json as { functions?: FunctionView[] }).functions ?? []);
  ctx.out.data(res.json);
  if (functions.length === 0) {
    ctx.out.line('no functions yet: deploy one with `brisk deploy <file|dir>`');
    return ExitCode.OK;
  }
  ctx.out.table(
    ['NAME', 'VERSION', 'RUNTIME', 'HANDLER', 'MEMORY', 'TIMEOUT', 'SIZE', 'UPDATED'],
    functions.map((f) => [
      f.name,
      `v${f.version}`,
      f.image !== undefined ? `image ${f.image}` : (f.runtime ?? 'nodejs'),
      f.handler,
      `${f.memoryMb} MB`,
      `${f.timeoutMs} ms`,
      formatBytes(f.codeSize),
      f.updatedAt ?? '',
    ]),
  );
  return ExitCode.OK;
}

/** `brisk get <name>` */
export async function get(ctx: CommandContext): Promise<number> {
  const name = functionName(ctx.args);
  ctx.args.atMost(1);
  const res = await ctx.call('GET', `/v1/functions/${seg(name)}`);
  const f = res.json as FunctionView;
  ctx.out.data(res.json);
  const env = Object.entries(f.env ?? {});
  ctx.out.fields([
    ['name', f.name],
    ['version', `v${f.version}${f.versions !== undefined ? ` (versions: ${f.versions.join(', ')})` : ''}`],
    ['handler', f.handler],
    ['memory', `${f.memoryMb} MB`],
    ['timeout', `${f.timeoutMs} ms`],
    ['code', `sha256 ${f.codeHash}, ${formatBytes(f.codeSize)}`],
    ['env', env.length > 0 ? env.map(([k, v]) => `${k}=${v}`).join(' ') : '—'],
    ['concurrency', f.maxConcurrency === undefined ? undefined : f.maxConcurrency === 0 ? 'no cap' : String(f.maxConcurrency)],
    ['per instance', f.concurrency === undefined ? undefined : `${f.concurrency} call${f.concurrency === 1 ? '' : 's'} at once`],
    ['retries', f.retries === undefined ? undefined : String(f.retries)],
    ['egress', f.allowEgress === undefined ? undefined : f.allowEgress ? 'allowed' : 'blocked'],
    ['provisioned', f.provisioned === undefined ? undefined : `${f.provisioned.ready}/${f.provisioned.wanted} ready (\`brisk provisioned ls ${f.name}\`)`],
    ['created', f.createdAt],
    ['updated', f.updatedAt],
  ]);
  return ExitCode.OK;
}

/** `brisk delete <name>` */
export async function remove(ctx: CommandContext): Promise<number> {
  const name = functionName(ctx.args);
  ctx.args.atMost(1);
  await ctx.call('DELETE', `/v1/functions/${seg(name)}`);
  ctx.out.line(`deleted ${name}`);
  ctx.out.data({ deleted: name });
  return ExitCode.OK;
}

/** `brisk invoke <name> [--data JSON | --file F] [--async] [--version N]` */
export async function invoke(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  // `name` or `name:alias` (the gateway checks the alias half).
  const name = args.positional(0, 'the function name');
  if (!TARGET.test(name)) throw args.usage(`invalid function '${name}': use name or name:alias`);
  args.atMost(1);
  const event = await readEvent(ctx);
  const version = args.int('version', { min: 1 });
  const alias = args.string('alias');
  if (alias !== undefined && version !== undefined) throw args.usage('give --version or --alias, not both');
  const isAsync = args.flag('async');
  const res = await ctx.call('POST', `/v1/functions/${seg(name)}/invoke`, {
    body: event,
    query: { ...(isAsync ? { async: 'true' } : {}), ...(version !== undefined ? { version } : {}), ...(alias !== undefined ? { alias } : {}) },
  });
  // Through an alias, say which version it routed the call to (on stderr: stdout is the result).
  const ran = res.headers.get('x-brisk-version');
  if (ran && (alias !== undefined || name.includes(':'))) out.progress(`ran ${name.split(':')[0] ?? name} v${ran}`);
  if (isAsync) {
    const id = (res.json as { activationId?: string } | undefined)?.activationId ?? '';
    out.line(id);
    out.data(res.json);
    out.progress(`queued: \`brisk activations get ${id} --wait\` for the result`);
    return ExitCode.OK;
  }
  // The body is the function's own JSON result; print it as the gateway sent it under --json.
  if (out.json) out.data(res.json ?? null);
  else out.line(res.json === undefined ? res.text : prettyJson(res.json));
  return ExitCode.OK;
}

/** The event from --data or --file (`-` = stdin), checked to be JSON before anything is sent. */
export async function readEvent(ctx: CommandContext, positional?: string): Promise<string> {
  const { args } = ctx;
  const data = args.string('data') ?? positional;
  const file = args.string('file');
  if (data !== undefined && file !== undefined) throw args.usage('give the event with --data or --file, not both');
  let text = '{}';
  if (data !== undefined) text = data;
  else if (file !== undefined) {
    text = file === '-' ? await ctx.readStdin() : await readFile(file, 'utf8').catch((err: Error) => {
      throw new CliError('NO_SUCH_FILE', `cannot read ${file}: ${err.message}`, { exitCode: ExitCode.USAGE });
    });
  }
  if (text.trim() === '') return '{}';
  try {
    JSON.parse(text);
  } catch (err) {
    throw args.usage(`the event is not valid JSON (${(err as Error).message}); e.g. --data '{"a":1}'`);
  }
  return text;
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
