import { readFile } from 'node:fs/promises';
import { CliError, ExitCode } from './cli-error.js';
import { seg, type CommandContext } from './command-context.js';
import { readEvent } from './function-commands.js';
import { prettyJson } from './output.js';

/**
 * Commands for triggers, events, dead letters and usage. Their routes arrive
 * with newer gateways: against an older one, a 404 ROUTE_NOT_FOUND becomes
 * "this gateway does not support …; upgrade the server" (exit 2), which the
 * `feature` passed to each call names.
 */

type Json = Record<string, unknown>;

/** `brisk triggers list | get <name> | put <name> … | delete <name>` */
export async function triggers(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const sub = args.positionals[0] ?? 'list';
  const feature = 'triggers';
  switch (sub) {
    case 'list': {
      args.atMost(1);
      const res = await ctx.call('GET', '/v1/triggers', { feature, query: { type: args.string('type'), function: args.string('function') } });
      out.data(res.json);
      const list = arrayIn(res.json, 'triggers');
      if (list.length === 0) out.line('no triggers yet: `brisk triggers put <name> --function F --topic T` (see `brisk triggers --help`)');
      else out.table(['NAME', 'TYPE', 'FUNCTION', 'SOURCE'], list.map((t) => [str(t['name']), str(t['type']), str(t['function']), triggerSource(t)]));
      return ExitCode.OK;
    }
    case 'get': {
      const name = triggerName(ctx);
      const res = await ctx.call('GET', `/v1/triggers/${seg(name)}`, { feature });
      out.data(res.json);
      out.line(prettyJson(res.json));
      return ExitCode.OK;
    }
    case 'put': {
      const name = triggerName(ctx);
      const spec = await triggerSpec(ctx);
      const res = await ctx.call('PUT', `/v1/triggers/${seg(name)}`, { feature, body: JSON.stringify(spec) });
      const saved = (res.json ?? { name, ...spec }) as Json;
      out.data(saved);
      out.line(`${res.status === 201 ? 'created' : 'updated'} trigger ${name}: ${triggerSource(saved)} → ${str(saved['function'])}`);
      return ExitCode.OK;
    }
    case 'delete': {
      const name = triggerName(ctx);
      await ctx.call('DELETE', `/v1/triggers/${seg(name)}`, { feature });
      out.data({ deleted: name });
      out.line(`deleted trigger ${name}`);
      return ExitCode.OK;
    }
    default:
      throw args.usage(`unknown subcommand '${sub}' (expected list, get, put or delete)`);
  }
}

function triggerName(ctx: CommandContext): string {
  const name = ctx.args.positional(1, 'the trigger name');
  ctx.args.atMost(2);
  return name;
}

/**
 * Flags that build a trigger, by the type they imply. `--type` may be left
 * out when one type's flags are given (`--topic` means a topic trigger).
 */
const TRIGGER_FLAGS: Record<string, readonly string[]> = {
  schedule: ['cron', 'timezone', 'data'],
  topic: ['topic'],
  queue: ['queue', 'batch-size', 'batch-window', 'concurrency', 'dead-letter'],
  storage: ['bucket', 'events', 'prefix'],
  http: ['method', 'path'],
};

/** The trigger body: --spec/--file JSON, with the flags set on top. */
async function triggerSpec(ctx: CommandContext): Promise<Json> {
  const { args } = ctx;
  const specText = args.string('spec');
  const file = args.string('file');
  if (specText !== undefined && file !== undefined) throw args.usage('give the trigger with --spec or --file, not both');
  let spec: Json = {};
  const text = specText ?? (file !== undefined ? await readText(ctx, file) : undefined);
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw args.usage(`the trigger is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw args.usage('the trigger must be a JSON object');
    spec = parsed as Json;
  }
  const implied = Object.entries(TRIGGER_FLAGS)
    .filter(([, flags]) => flags.some((f) => args.string(f) !== undefined))
    .map(([type]) => type);
  const type = args.string('type') ?? (implied.length === 1 ? implied[0] : undefined) ?? (typeof spec['type'] === 'string' ? spec['type'] : undefined);
  if (type === undefined) {
    throw args.usage(implied.length > 1 ? `flags of several trigger types given (${implied.join(', ')}): pick one with --type` : 'say what fires it: --topic T, --cron EXPR, --queue Q, --bucket B or --method M --path P');
  }
  spec['type'] = type;
  const fn = args.string('function');
  if (fn !== undefined) spec['function'] = fn;
  if (typeof spec['function'] !== 'string') throw args.usage('a trigger needs --function NAME');
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) spec[key] = value;
  };
  set('topic', args.string('topic'));
  set('cron', args.string('cron'));
  set('timezone', args.string('timezone'));
  const data = args.string('data');
  if (data !== undefined) {
    try {
      spec['data'] = JSON.parse(data) as unknown;
    } catch (err) {
      throw args.usage(`--data is not valid JSON: ${(err as Error).message}`);
    }
  }
  set('queue', args.string('queue'));
  set('batchSize', args.int('batch-size', { min: 1 }));
  set('batchWindowMs', args.durationMs('batch-window'));
  set('concurrency', args.int('concurrency', { min: 1 }));
  set('deadLetter', args.string('dead-letter'));
  set('bucket', args.string('bucket'));
  set('events', args.string('events')?.split(',').map((e) => e.trim()).filter((e) => e !== ''));
  set('prefix', args.string('prefix'));
  set('method', args.string('method'));
  set('path', args.string('path'));
  return spec;
}

/** `brisk publish <topic> <json>` (or `--data JSON` / `--file F`) */
export async function publish(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const topic = args.positional(0, 'the topic');
  args.atMost(2);
  if (args.positionals[1] !== undefined && (args.string('data') !== undefined || args.string('file') !== undefined)) {
    throw args.usage('give the event as an argument, with --data or with --file: only one');
  }
  const event = await readEvent(ctx, args.positionals[1]);
  const res = await ctx.call('POST', `/v1/events/${seg(topic)}`, { feature: 'publishing events', body: event });
  out.data(res.json ?? { topic });
  const events = arrayIn(res.json, 'events');
  const deliveries = events.flatMap((e) => arrayIn(e['deliveries']));
  out.line(`published to ${topic}: ${deliveries.length} deliver${deliveries.length === 1 ? 'y' : 'ies'}`);
  for (const d of deliveries) out.line(`  ${str(d['function'])} (trigger ${str(d['trigger'])}): activation ${str(d['activationId'])}`);
  if (events.length > 0 && deliveries.length === 0) out.progress(`no trigger listens on ${topic}: \`brisk triggers put <name> --function F --topic ${topic}\``);
  return ExitCode.OK;
}

/** `brisk dead-letters list | get <id> | redrive <id> | delete <id>` */
export async function deadLetters(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const sub = args.positionals[0] ?? 'list';
  const feature = 'dead letters';
  if (sub === 'list') {
    args.atMost(1);
    const res = await ctx.call('GET', '/v1/dead-letters', {
      feature,
      query: { function: args.string('function'), limit: args.int('limit', { min: 1, max: 1000 }) },
    });
    out.data(res.json);
    const list = arrayIn(res.json, 'deadLetters');
    if (list.length === 0) out.line('no dead letters');
    else {
      out.table(
        ['ACTIVATION', 'FUNCTION', 'REASON', 'STATUS', 'ATTEMPTS', 'FAILED', 'ERROR'],
        list.map((d) => [
          str(d['activationId']),
          `${str(d['function'])} v${str(d['version'])}`,
          str(d['reason']),
          str(d['status']),
          str(d['attempts']),
          str(d['failedAt']),
          errorText(d['lastError']),
        ]),
      );
    }
    return ExitCode.OK;
  }
  const id = args.positional(1, 'the dead letter (activation) id');
  args.atMost(2);
  const path = `/v1/dead-letters/${seg(id)}`;
  switch (sub) {
    case 'get': {
      const res = await ctx.call('GET', path, { feature });
      out.data(res.json);
      out.line(prettyJson(res.json));
      return ExitCode.OK;
    }
    case 'redrive': {
      const version = args.int('version', { min: 1 });
      const res = await ctx.call('POST', `${path}/redrive`, { feature, query: { version } });
      out.data(res.json ?? { redriveOf: id });
      const activationId = (res.json as Json | undefined)?.['activationId'];
      out.line(typeof activationId === 'string' ? activationId : `redriven ${id}`);
      if (typeof activationId === 'string') out.progress(`redriven ${id}: \`brisk activations get ${activationId} --wait\``);
      return ExitCode.OK;
    }
    case 'delete': {
      await ctx.call('DELETE', path, { feature });
      out.data({ deleted: id });
      out.line(`deleted dead letter ${id}`);
      return ExitCode.OK;
    }
    default:
      throw args.usage(`unknown subcommand '${sub}' (expected list, get <id>, redrive <id> or delete <id>)`);
  }
}

/** `brisk usage [--from T] [--to T]` */
export async function usage(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  args.atMost(0);
  const res = await ctx.call('GET', '/v1/usage', { feature: 'usage', query: { from: args.string('from'), to: args.string('to') } });
  out.data(res.json);
  out.line(prettyJson(res.json));
  return ExitCode.OK;
}

async function readText(ctx: CommandContext, file: string): Promise<string> {
  if (file === '-') return ctx.readStdin();
  return readFile(file, 'utf8').catch((err: Error) => {
    throw new CliError('NO_SUCH_FILE', `cannot read ${file}: ${err.message}`, { exitCode: ExitCode.USAGE });
  });
}

/** The list under the first of `keys`, or the body itself when it is an array. */
function arrayIn(body: unknown, ...keys: string[]): Json[] {
  if (Array.isArray(body)) return body as Json[];
  for (const k of keys) {
    const v = (body as Json | undefined)?.[k];
    if (Array.isArray(v)) return v as Json[];
  }
  return [];
}

function triggerSource(t: Json): string {
  switch (t['type']) {
    case 'topic':
      return `topic ${str(t['topic'])}`;
    case 'schedule':
      return `cron ${str(t['cron'])}${t['timezone'] !== undefined && t['timezone'] !== 'UTC' ? ` (${str(t['timezone'])})` : ''}`;
    case 'queue':
      return `queue ${str(t['queue'])}`;
    case 'storage':
      return `bucket ${str(t['bucket'])}${typeof t['prefix'] === 'string' && t['prefix'] !== '' ? `/${t['prefix']}*` : ''}`;
    case 'http':
      return `${str(t['method'])} ${str(t['url'] ?? t['path'])}`;
    default:
      return str(t['type']);
  }
}

function errorText(e: unknown): string {
  if (typeof e !== 'object' || e === null) return str(e);
  const o = e as Json;
  return str(o['errorType'] !== undefined ? `${str(o['errorType'])}: ${str(o['errorMessage'])}` : (o['message'] ?? o['code']));
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
}
