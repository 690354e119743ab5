import type { ParsedArgs } from './args.js';
import { CliError, ExitCode } from './cli-error.js';
import { seg, type CommandContext } from './command-context.js';

/** A window as the gateway describes it: from each time `cron` fires, `instances` for `durationMinutes`. */
interface WindowView {
  cron: string;
  timezone?: string;
  durationMinutes: number;
  instances: number;
}

/** A provisioned-instances config as the gateway describes it (`GET …/provisioned/{qualifier}`). */
interface ProvisionedView {
  function: string;
  qualifier: string;
  instances: number;
  windows: WindowView[];
  createdAt?: string;
  updatedAt?: string;
  status: {
    wanted: number;
    ready: number;
    versions: Record<string, { wanted: number; ready: number; memoryMb: number }>;
    problem?: string;
    at?: string;
  };
}

/** `details` of a 409 `INSUFFICIENT_CAPACITY`: the counter-offer. */
interface CapacityRefusal {
  requested: number;
  available: number;
  limitedBy: 'quota' | 'cluster';
  memoryMb: number;
}

const FUNCTION = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A version number, or an alias name (a letter first, so the two never mix). */
const QUALIFIER = /^(?:[1-9][0-9]{0,9}|[a-z][a-z0-9_-]{0,62})$/;
/** The gateway's bounds (releases/provisioned-service.ts), checked here for a message that names the flag. */
const MAX_INSTANCES = 100;
const MAX_WINDOW_MINUTES = 7 * 24 * 60;

/** `<function> <version|alias>` at positionals `index` and `index + 1`. */
function target(args: ParsedArgs, index: number): { fn: string; qualifier: string } {
  const fn = args.positional(index, 'the function name');
  const qualifier = args.positional(index + 1, 'the version number or alias name');
  if (!FUNCTION.test(fn)) throw args.usage(`invalid function name '${fn}': use [a-z0-9][a-z0-9-_]{0,62}`);
  if (!QUALIFIER.test(qualifier)) throw args.usage(`'${qualifier}' is neither a version number (1, 2, …) nor an alias name ([a-z][a-z0-9-_]{0,62})`);
  return { fn, qualifier };
}

function count(args: ParsedArgs, text: string, what: string): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) > MAX_INSTANCES) throw args.usage(`${what} must be an integer from 0 to ${MAX_INSTANCES}, got '${text}'`);
  return Number(text);
}

/**
 * `--window '<cron>,<minutes>,<instances>[,<timezone>]'` (repeatable). A cron
 * has spaces but never commas, and neither has a time zone, so the commas
 * split it unambiguously.
 */
export function windowsOf(args: ParsedArgs): WindowView[] {
  return args.strings('window').map((text) => {
    const parts = text.split(',').map((p) => p.trim());
    const [cron, minutes, instances, timezone] = parts;
    if (parts.length < 3 || parts.length > 4 || cron === undefined || cron === '' || minutes === undefined || instances === undefined) {
      throw args.usage(`--window wants '<cron>,<minutes>,<instances>[,<timezone>]', e.g. '0 9 * * 1-5,480,8,Europe/Paris', got '${text}'`);
    }
    const duration = Number(minutes);
    if (!/^\d+$/.test(minutes) || duration < 1 || duration > MAX_WINDOW_MINUTES) {
      throw args.usage(`a window's minutes must be an integer from 1 to ${MAX_WINDOW_MINUTES} (a week), got '${minutes}' in '${text}'`);
    }
    const window: WindowView = { cron, durationMinutes: duration, instances: count(args, instances, `a window's instances ('${text}')`) };
    if (timezone !== undefined && timezone !== '') window.timezone = timezone;
    return window;
  });
}

/** `0 9 * * 1-5 Europe/Paris: 8 for 8h` */
function windowText(w: WindowView): string {
  const d = w.durationMinutes;
  const duration = d % 60 === 0 ? `${d / 60}h` : d > 60 ? `${Math.floor(d / 60)}h${d % 60}m` : `${d}m`;
  return `${w.cron}${w.timezone !== undefined && w.timezone !== 'UTC' ? ` ${w.timezone}` : ''}: ${w.instances} for ${duration}`;
}

/** `v1 2/2 · v2 0/1`: ready/wanted per version the qualifier routes to. */
function versionsText(p: ProvisionedView): string {
  return Object.entries(p.status.versions)
    .map(([v, s]) => `v${v} ${s.ready}/${s.wanted}`)
    .join(' · ');
}

/**
 * A 409 `INSUFFICIENT_CAPACITY` said as a counter-offer: how many fit, what
 * limits it, and the command that asks for that many.
 */
function refusal(err: CliError, fn: string, qualifier: string, windows: readonly WindowView[]): CliError {
  const body = err.body as { error?: { details?: Partial<CapacityRefusal> } } | undefined;
  const d = body?.error?.details;
  if (err.code !== 'INSUFFICIENT_CAPACITY' || typeof d?.available !== 'number' || typeof d.requested !== 'number') return err;
  const holder = d.limitedBy === 'quota' ? "the namespace's provisioned memory quota" : 'the cluster';
  const each = typeof d.memoryMb === 'number' ? ` of ${d.memoryMb} MB` : '';
  const message = `${d.requested} provisioned instances${each} of ${fn}:${qualifier} do not fit: ${holder} can hold ${d.available}`;
  let hint: string;
  if (d.available === 0) {
    hint =
      d.limitedBy === 'quota'
        ? "none fit: free some (`brisk provisioned ls <fn>` on the namespace's functions) or ask the operator to raise maxProvisionedMb"
        : 'none fit: the executors\' provisioned budget is taken; free some or add executors';
  } else if (windows.length > 0) {
    hint = `the peak (the instances or a window's, the larger) must be at most ${d.available}`;
  } else {
    hint = `ask for ${d.available}: \`brisk provisioned set ${fn} ${qualifier} ${d.available}\``;
  }
  return new CliError(err.code, message, { exitCode: err.exitCode, body: err.body, details: [err.message], hint });
}

function summaryLine(verb: string, p: ProvisionedView): string {
  const peaks = p.windows.length > 0 ? `, ${p.windows.length} window${p.windows.length === 1 ? '' : 's'}` : '';
  return `${verb} ${p.function}:${p.qualifier}: ${p.instances} provisioned instance${p.instances === 1 ? '' : 's'}${peaks} (ready ${p.status.ready}/${p.status.wanted})`;
}

/** `brisk provisioned set|ls|get|rm …` */
export async function provisioned(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const sub = args.positionals[0] ?? 'ls';
  switch (sub) {
    case 'set': {
      const { fn, qualifier } = target(args, 1);
      const instances = count(args, args.positional(3, 'the number of instances'), 'instances');
      args.atMost(4);
      const windows = windowsOf(args);
      const res = await ctx
        .call('PUT', `/v1/functions/${seg(fn)}/provisioned/${seg(qualifier)}`, {
          body: JSON.stringify({ instances, ...(windows.length > 0 ? { windows } : {}) }),
          feature: 'provisioned instances',
        })
        .catch((err: unknown) => {
          throw err instanceof CliError ? refusal(err, fn, qualifier, windows) : err;
        });
      const p = res.json as ProvisionedView;
      out.data(p);
      out.line(summaryLine(res.status === 201 ? 'created' : 'changed', p));
      for (const w of p.windows) out.line(`  window ${windowText(w)}`);
      return ExitCode.OK;
    }
    case 'ls':
    case 'list': {
      const fn = args.positional(1, 'the function: brisk provisioned ls <fn>');
      if (!FUNCTION.test(fn)) throw args.usage(`invalid function name '${fn}': use [a-z0-9][a-z0-9-_]{0,62}`);
      args.atMost(2);
      const res = await ctx.call('GET', `/v1/functions/${seg(fn)}/provisioned`, { feature: 'provisioned instances' });
      out.data(res.json);
      const list = (res.json as { provisioned?: ProvisionedView[] } | undefined)?.provisioned ?? [];
      if (list.length === 0) {
        out.line(`no provisioned instances: \`brisk provisioned set ${fn} <version|alias> <instances>\``);
        return ExitCode.OK;
      }
      out.table(
        ['QUALIFIER', 'INSTANCES', 'READY', 'VERSIONS', 'WINDOWS', 'PROBLEM'],
        list.map((p) => [
          /^\d+$/.test(p.qualifier) ? `v${p.qualifier}` : p.qualifier,
          String(p.instances),
          `${p.status.ready}/${p.status.wanted}`,
          versionsText(p) || '—',
          p.windows.length > 0 ? p.windows.map(windowText).join('; ') : '—',
          p.status.problem ?? '',
        ]),
      );
      return ExitCode.OK;
    }
    case 'get': {
      const { fn, qualifier } = target(args, 1);
      args.atMost(3);
      const res = await ctx.call('GET', `/v1/functions/${seg(fn)}/provisioned/${seg(qualifier)}`, { feature: 'provisioned instances' });
      const p = res.json as ProvisionedView;
      out.data(p);
      out.fields([
        ['target', `${p.function}:${p.qualifier}`],
        ['instances', String(p.instances)],
        ['ready', `${p.status.ready}/${p.status.wanted}`],
        ['versions', versionsText(p) || undefined],
        ['windows', p.windows.length > 0 ? p.windows.map(windowText).join('; ') : '—'],
        ['problem', p.status.problem],
        ['checked', p.status.at],
        ['updated', p.updatedAt],
      ]);
      return ExitCode.OK;
    }
    case 'rm':
    case 'delete': {
      const { fn, qualifier } = target(args, 1);
      args.atMost(3);
      await ctx.call('DELETE', `/v1/functions/${seg(fn)}/provisioned/${seg(qualifier)}`, { feature: 'provisioned instances' });
      out.data({ deleted: `${fn}:${qualifier}` });
      out.line(`deleted the provisioned instances of ${fn}:${qualifier}`);
      return ExitCode.OK;
    }
    default:
      throw args.usage(`unknown subcommand '${sub}' (expected set, ls, get or rm)`);
  }
}
