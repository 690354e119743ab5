import type { ParsedArgs } from './args.js';
import { ExitCode } from './cli-error.js';
import { seg, type CommandContext } from './command-context.js';
import { prettyJson } from './output.js';

/** An alias as the gateway describes it (`describeAlias`). */
interface AliasView {
  name: string;
  function: string;
  version: number;
  weights?: Record<string, number>;
  routing?: Record<string, number>;
  description?: string;
  updatedAt?: string;
  history?: Array<{ version: number; weights?: Record<string, number> }>;
}

const FUNCTION = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ALIAS = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * An alias as the user names it: `fn:alias`, or a bare `alias` with
 * `--function fn`. Checked here for a clearer message than the gateway's.
 */
export function aliasRef(args: ParsedArgs, index: number, what = 'the alias (fn:alias, or alias with --function F)'): { fn: string; alias: string } {
  const text = args.positional(index, what);
  const colon = text.indexOf(':');
  const fn = colon < 0 ? args.string('function') : text.slice(0, colon);
  const alias = colon < 0 ? text : text.slice(colon + 1);
  if (fn === undefined) throw args.usage(`which function's alias '${text}'? write fn:${text} or add --function F`);
  if (!FUNCTION.test(fn)) throw args.usage(`invalid function name '${fn}': use [a-z0-9][a-z0-9-_]{0,62}`);
  if (!ALIAS.test(alias)) throw args.usage(`invalid alias '${alias}': use [a-z][a-z0-9-_]{0,62} (a letter first, so it is never a version)`);
  return { fn, alias };
}

/** `--weight 8=0.1` (repeatable) → `{ "8": 0.1 }`. */
function weightsOf(args: ParsedArgs): Record<string, number> | undefined {
  const pairs = args.strings('weight');
  if (pairs.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const pair of pairs) {
    const m = /^([1-9][0-9]*)=([0-9]*\.?[0-9]+)$/.exec(pair);
    if (!m) throw args.usage(`--weight wants VERSION=SHARE, e.g. 8=0.1, got '${pair}'`);
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** `8 90% · 9 10%`: the versions an alias routes to, with their shares. */
function routingText(a: AliasView): string {
  const routing = a.routing ?? { [String(a.version)]: 1 };
  return Object.entries(routing)
    .map(([v, share]) => `v${v} ${Math.round(share * 1000) / 10}%`)
    .join(' · ');
}

function show(ctx: CommandContext, verb: string, a: AliasView): void {
  ctx.out.data(a);
  ctx.out.line(`${verb} ${a.function}:${a.name} → ${routingText(a)}`);
}

/** `brisk alias set|ls|get|rm …` */
export async function alias(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const sub = args.positionals[0] ?? 'ls';
  switch (sub) {
    case 'set': {
      const { fn, alias: name } = aliasRef(args, 1);
      args.atMost(2);
      const version = args.int('version', { min: 1 });
      if (version === undefined) throw args.usage('alias set needs --version N');
      const weights = weightsOf(args);
      const description = args.string('description');
      const res = await ctx.call('PUT', `/v1/functions/${seg(fn)}/aliases/${seg(name)}`, {
        body: JSON.stringify({ version, ...(weights ? { weights } : {}), ...(description !== undefined ? { description } : {}) }),
      });
      show(ctx, res.status === 201 ? 'created' : 'moved', res.json as AliasView);
      return ExitCode.OK;
    }
    case 'ls':
    case 'list': {
      const fn = args.positionals[1] ?? args.string('function');
      if (fn === undefined) throw args.usage('alias ls needs the function: brisk alias ls <fn>');
      args.atMost(2);
      const res = await ctx.call('GET', `/v1/functions/${seg(fn)}/aliases`);
      out.data(res.json);
      const list = ((res.json as { aliases?: AliasView[] } | undefined)?.aliases ?? []);
      if (list.length === 0) out.line(`no aliases yet: \`brisk alias set ${fn}:prod --version N\``);
      else out.table(['ALIAS', 'ROUTING', 'DESCRIPTION', 'UPDATED'], list.map((a) => [a.name, routingText(a), a.description ?? '', a.updatedAt ?? '']));
      return ExitCode.OK;
    }
    case 'get': {
      const { fn, alias: name } = aliasRef(args, 1);
      args.atMost(2);
      const res = await ctx.call('GET', `/v1/functions/${seg(fn)}/aliases/${seg(name)}`);
      out.data(res.json);
      out.line(prettyJson(res.json));
      return ExitCode.OK;
    }
    case 'rm':
    case 'delete': {
      const { fn, alias: name } = aliasRef(args, 1);
      args.atMost(2);
      await ctx.call('DELETE', `/v1/functions/${seg(fn)}/aliases/${seg(name)}`);
      out.data({ deleted: `${fn}:${name}` });
      out.line(`deleted alias ${fn}:${name}`);
      return ExitCode.OK;
    }
    default:
      throw args.usage(`unknown subcommand '${sub}' (expected set, ls, get or rm)`);
  }
}

/** `brisk rollback fn:alias`: the alias goes back to its routing before the last change. */
export async function rollback(ctx: CommandContext): Promise<number> {
  const { fn, alias: name } = aliasRef(ctx.args, 0);
  ctx.args.atMost(1);
  const res = await ctx.call('POST', `/v1/functions/${seg(fn)}/aliases/${seg(name)}/rollback`);
  show(ctx, 'rolled back', res.json as AliasView);
  return ExitCode.OK;
}

/** `brisk promote fn:canary prod`: `prod` takes the version `canary` points at. */
export async function promote(ctx: CommandContext): Promise<number> {
  const { args } = ctx;
  const from = aliasRef(args, 0, 'the alias to promote (fn:alias, or alias with --function F)');
  const toText = args.positional(1, 'the alias to move (e.g. prod)');
  args.atMost(2);
  const colon = toText.indexOf(':');
  const toFn = colon < 0 ? from.fn : toText.slice(0, colon);
  const to = colon < 0 ? toText : toText.slice(colon + 1);
  if (toFn !== from.fn) throw args.usage(`promote moves aliases of one function: ${from.fn} and ${toFn} differ`);
  if (!ALIAS.test(to)) throw args.usage(`invalid alias '${to}': use [a-z][a-z0-9-_]{0,62}`);
  const res = await ctx.call('POST', `/v1/functions/${seg(from.fn)}/aliases/${seg(from.alias)}/promote`, { body: JSON.stringify({ to }) });
  show(ctx, 'promoted', res.json as AliasView);
  return ExitCode.OK;
}
