import { FINAL_STATUSES, type Activation, type ActivationStatus } from '../../core/types.js';
import { sleep } from '../../core/util.js';
import { ExitCode } from './cli-error.js';
import { seg, type CommandContext } from './command-context.js';
import { functionName } from './function-commands.js';
import { prettyJson, type Output } from './output.js';

/** How often `--wait` and `--follow` poll the gateway. */
const WAIT_POLL_MS = 250;
const FOLLOW_POLL_MS = 1000;
/** How many recent activations `--follow` looks at per poll: more than can start in one poll interval for most uses. */
const FOLLOW_WINDOW = 200;

/** `brisk activations [--function F] [--limit N]` and `brisk activations get <id> [--wait]` */
export async function activations(ctx: CommandContext): Promise<number> {
  const { args } = ctx;
  if (args.positionals[0] === 'get') return getActivation(ctx);
  if (args.positionals[0] !== undefined && args.positionals[0] !== 'list') {
    throw args.usage(`unknown subcommand '${args.positionals[0]}' (expected get <id>, or no argument to list)`);
  }
  args.atMost(1);
  const fn = args.string('function');
  const res = await ctx.call('GET', '/v1/activations', {
    query: { limit: args.int('limit', { min: 1, max: 1000 }) ?? 20, function: fn },
  });
  ctx.out.data(res.json);
  const list = (res.json as { activations?: Activation[] }).activations ?? [];
  if (list.length === 0) {
    ctx.out.line(fn !== undefined ? `no activations of ${fn}` : 'no activations yet');
    return ExitCode.OK;
  }
  ctx.out.table(
    ['ID', 'FUNCTION', 'VERSION', 'STATUS', 'START', 'DURATION', 'QUEUED'],
    list.map((a) => [
      a.activationId,
      a.function,
      `v${a.version}`,
      a.status,
      a.startKind ?? (a.coldStart ? 'cold' : ''),
      a.durationMs !== undefined ? `${a.durationMs} ms` : '',
      a.queuedAt,
    ]),
  );
  return ExitCode.OK;
}

async function getActivation(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const id = args.positional(1, 'the activation id');
  args.atMost(2);
  const wait = args.flag('wait');
  const path = `/v1/activations/${seg(id)}`;
  let a = (await ctx.call('GET', path)).json as Activation;
  while (wait && !FINAL_STATUSES.has(a.status)) {
    await sleep(WAIT_POLL_MS);
    a = (await ctx.call('GET', path)).json as Activation;
  }
  out.data(a);
  printActivation(out, a);
  return wait ? outcomeExitCode(a.status) : ExitCode.OK;
}

function printActivation(out: Output, a: Activation): void {
  out.fields([
    ['activation', a.activationId],
    ['function', `${a.function} v${a.version}`],
    ['status', a.status],
    ['start', a.startKind !== undefined ? `${a.startKind}${a.startMs !== undefined ? ` (${a.startMs} ms)` : ''}` : undefined],
    ['duration', a.durationMs !== undefined ? `${a.durationMs} ms` : undefined],
    ['attempts', String(a.attempts)],
    ['executor', a.executor],
    ['placement', a.placement],
    ['trigger', a.trigger],
    ['queued', a.queuedAt],
    ['started', a.startedAt],
    ['ended', a.endedAt],
  ]);
  if (a.result !== undefined) out.line(`result:\n${indent(prettyJson(a.result))}`);
  if (a.error !== undefined) out.line(`error:\n${indent(formatActivationError(a.error))}`);
  out.line(a.logs.length > 0 ? `logs:\n${indent(a.logs.join('\n'))}` : 'logs: (none)');
  if (a.logsTruncated === true) out.line('  (logs truncated)');
}

/** `brisk logs <name> [--follow] [--limit N]` */
export async function logs(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const name = functionName(args);
  args.atMost(1);
  const limit = args.int('limit', { min: 1, max: 1000 }) ?? 20;
  const fetchRecent = async (n: number, signal?: AbortSignal): Promise<Activation[]> => {
    const res = await ctx.call('GET', '/v1/activations', { query: { function: name, limit: n }, ...(signal ? { signal } : {}) });
    // The gateway lists most recent first; logs read oldest first.
    return [...((res.json as { activations?: Activation[] }).activations ?? [])].reverse();
  };

  const isFollow = args.flag('follow');
  // Following looks at a wider window from the start, so older runs are not mistaken for new ones later.
  const window = await fetchRecent(isFollow ? Math.max(limit, FOLLOW_WINDOW) : limit);
  const recent = window.slice(-limit);
  if (recent.length === 0) {
    // Tell "no such function" apart from "not run yet" (this throws FUNCTION_NOT_FOUND when missing).
    await ctx.call('GET', `/v1/functions/${seg(name)}`);
  }
  if (!isFollow) {
    out.data({ activations: recent });
    for (const a of recent) printLogs(out, a);
    if (recent.length === 0) out.progress(`no activations of ${name} yet: \`brisk invoke ${name}\``);
    return ExitCode.OK;
  }
  return follow(ctx, window, limit, fetchRecent);
}

/**
 * Print finished activations as they appear, until Ctrl-C. An activation
 * still queued or running is printed once it ends, so its logs are complete.
 */
async function follow(
  ctx: CommandContext,
  initial: Activation[],
  limit: number,
  fetchRecent: (n: number, signal?: AbortSignal) => Promise<Activation[]>,
): Promise<number> {
  const { out } = ctx;
  const stop = new AbortController();
  const unlisten = ctx.onInterrupt(() => stop.abort());
  // Only ids still inside the polled window are kept: one that slides out never comes back.
  let printed = new Set<string>();
  const emit = (batch: Activation[], show: (a: Activation) => boolean = () => true): void => {
    const next = new Set<string>();
    for (const a of batch) {
      if (printed.has(a.activationId)) {
        next.add(a.activationId);
      } else if (FINAL_STATUSES.has(a.status)) {
        if (show(a)) {
          if (out.json) out.data(a);
          else printLogs(out, a);
        }
        next.add(a.activationId);
      }
    }
    printed = next;
  };
  try {
    // The first window: show the last `limit` runs, remember the older ones as already seen.
    const shown = new Set(initial.slice(-limit).map((a) => a.activationId));
    emit(initial, (a) => shown.has(a.activationId));
    out.progress('(following: Ctrl-C to stop)');
    while (!stop.signal.aborted) {
      // Ctrl-C ends the pause at once (it rejects) and the loop.
      await sleep(FOLLOW_POLL_MS, stop.signal).catch(() => undefined);
      if (stop.signal.aborted) break;
      try {
        emit(await fetchRecent(FOLLOW_WINDOW, stop.signal));
      } catch (err) {
        if ((err as Error).name === 'AbortError') break;
        throw err;
      }
    }
  } finally {
    unlisten();
  }
  return ExitCode.OK;
}

function printLogs(out: Output, a: Activation): void {
  const took = a.durationMs !== undefined ? `, ${a.durationMs} ms` : '';
  out.line(`── ${a.queuedAt}  ${a.activationId}  ${a.function} v${a.version}  ${a.status}${took}`);
  for (const line of a.logs) out.line(line);
  if (a.logsTruncated === true) out.line('(logs truncated)');
  if (a.error !== undefined) out.line(`[${a.status}] ${formatActivationError(a.error).split('\n')[0] ?? ''}`);
}

function formatActivationError(e: NonNullable<Activation['error']>): string {
  if ('errorType' in e) return `${e.errorType}: ${e.errorMessage}${e.stack !== undefined ? `\n${e.stack}` : ''}`;
  return `${e.code}: ${e.message}`;
}

/** The exit code of a finished activation, for `--wait`. */
function outcomeExitCode(status: ActivationStatus): number {
  if (status === 'success') return ExitCode.OK;
  if (status === 'error' || status === 'timeout' || status === 'oom') return ExitCode.FUNCTION_ERROR;
  return ExitCode.PLATFORM;
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ');
}
