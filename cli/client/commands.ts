import { activations, logs } from './activation-commands.js';
import { alias, promote, rollback } from './alias-commands.js';
import { parseCommandArgs, type OptionSpec } from './args.js';
import { CliError, ExitCode } from './cli-error.js';
import { CommandContext, type ClientDeps } from './command-context.js';
import { deadLetters, publish, triggers, usage } from './event-commands.js';
import { deploy, get, invoke, list, remove } from './function-commands.js';
import { login } from './login-command.js';
import { packageCommand } from './package-command.js';
import { provisioned } from './provisioned-commands.js';
import { Output } from './output.js';
import { commandUsage } from './usage.js';

export { CLIENT_USAGE } from './usage.js';

interface ClientCommand {
  options: OptionSpec;
  run(ctx: CommandContext): Promise<number>;
}

const eventData: OptionSpec = { data: { type: 'string' }, file: { type: 'string' } };

/** Every client command, by the word that names it. */
const COMMANDS: Record<string, ClientCommand> = {
  login: { options: {}, run: login },
  deploy: {
    options: {
      name: { type: 'string' },
      handler: { type: 'string' },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      env: { type: 'string', multiple: true },
      secret: { type: 'string', multiple: true },
      retries: { type: 'string' },
      'max-concurrency': { type: 'string' },
      concurrency: { type: 'string' },
      public: { type: 'boolean' },
      runtime: { type: 'string' },
      image: { type: 'string' },
    },
    run: deploy,
  },
  package: { options: { out: { type: 'string' }, python: { type: 'string' } }, run: packageCommand },
  list: { options: {}, run: list },
  get: { options: {}, run: get },
  delete: { options: {}, run: remove },
  invoke: { options: { ...eventData, async: { type: 'boolean' }, version: { type: 'string' }, alias: { type: 'string' } }, run: invoke },
  alias: {
    options: { function: { type: 'string' }, version: { type: 'string' }, weight: { type: 'string', multiple: true }, description: { type: 'string' } },
    run: alias,
  },
  provisioned: { options: { window: { type: 'string', multiple: true } }, run: provisioned },
  rollback: { options: { function: { type: 'string' } }, run: rollback },
  promote: { options: { function: { type: 'string' } }, run: promote },
  logs: { options: { follow: { type: 'boolean', short: 'f' }, limit: { type: 'string' } }, run: logs },
  activations: { options: { function: { type: 'string' }, limit: { type: 'string' }, wait: { type: 'boolean' } }, run: activations },
  triggers: {
    options: Object.fromEntries(
      ['type', 'function', 'spec', 'file', 'topic', 'cron', 'timezone', 'data', 'queue', 'batch-size', 'batch-window', 'concurrency', 'dead-letter', 'bucket', 'events', 'prefix', 'method', 'path'].map(
        (o) => [o, { type: 'string' as const }],
      ),
    ),
    run: triggers,
  },
  publish: { options: eventData, run: publish },
  'dead-letters': { options: { function: { type: 'string' }, limit: { type: 'string' }, version: { type: 'string' } }, run: deadLetters },
  usage: { options: { from: { type: 'string' }, to: { type: 'string' } }, run: usage },
};

/** Aliases people type anyway. */
const ALIASES: Record<string, string> = { ls: 'list', rm: 'delete', call: 'invoke', deadletters: 'dead-letters', dlq: 'dead-letters', aliases: 'alias' };

export function isClientCommand(word: string): boolean {
  return word in COMMANDS || word in ALIASES;
}

/**
 * Run one client command (`argv` starts with the command word) and return the
 * process exit code (see {@link ExitCode}). Never throws: every failure is
 * printed (a message, details, what to do next) and classified.
 */
export async function runClientCommand(argv: readonly string[], deps: ClientDeps = {}): Promise<number> {
  const [word = '', ...rest] = argv;
  const name = ALIASES[word] ?? word;
  const command = COMMANDS[name];
  const wantsJson = rest.includes('--json');
  if (command === undefined) {
    new Output(wantsJson, deps.streams).error(CliError.usage(`unknown command '${word}'`));
    return ExitCode.USAGE;
  }
  try {
    const args = parseCommandArgs(name, rest, command.options);
    if (args.flag('help')) {
      (deps.streams?.stdout ?? process.stdout).write(commandUsage(name));
      return ExitCode.OK;
    }
    return await command.run(new CommandContext(args, deps));
  } catch (err) {
    const e = err instanceof CliError ? err : unexpected(err);
    new Output(wantsJson, deps.streams).error(e);
    return e.exitCode;
  }
}

/** A bug or an environment problem we did not classify: report it as a client error with its cause. */
function unexpected(err: unknown): CliError {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && typeof e.syscall === 'string') {
    return new CliError(e.code, e.message, { exitCode: ExitCode.USAGE });
  }
  return new CliError('CLIENT_BUG', String(e?.stack ?? err), {
    exitCode: ExitCode.USAGE,
    hint: 'this is a bug in the brisk client; please report it',
  });
}
