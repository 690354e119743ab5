import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './cli-error.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every client command takes. */
export const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  key: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
};

/**
 * One command's parsed arguments (`node:util` `parseArgs`, strict), with
 * typed accessors that turn bad values into usage errors (exit 2) naming the
 * command's help.
 */
export class ParsedArgs {
  constructor(
    readonly command: string,
    readonly positionals: readonly string[],
    private readonly values: Readonly<Record<string, unknown>>,
  ) {}

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** A repeatable option (`--env A=1 --env B=2`). */
  strings(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
  }

  int(name: string, range: { min: number; max?: number }): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < range.min || (range.max !== undefined && n > range.max)) {
      const bounds = range.max !== undefined ? `${range.min}..${range.max}` : `≥ ${range.min}`;
      throw this.usage(`--${name} must be an integer ${bounds}, got '${raw}'`);
    }
    return n;
  }

  /** `--memory 512`, `512mb`, `1gb` → MB. */
  megabytes(name: string): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const m = /^(\d+)\s*(mb|m|gb|g)?$/i.exec(raw.trim());
    if (!m) throw this.usage(`--${name} must be a size in MB (e.g. 256, 512mb, 1gb), got '${raw}'`);
    const unit = (m[2] ?? 'mb').toLowerCase();
    return Number(m[1]) * (unit.startsWith('g') ? 1024 : 1);
  }

  /** `--timeout 5000`, `500ms`, `30s`, `2m` → milliseconds. */
  durationMs(name: string): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i.exec(raw.trim());
    if (!m) throw this.usage(`--${name} must be a duration (e.g. 5000, 500ms, 30s, 2m), got '${raw}'`);
    const unit = (m[2] ?? 'ms').toLowerCase();
    return Math.round(Number(m[1]) * (unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1));
  }

  /** The `index`-th positional, required. */
  positional(index: number, what: string): string {
    const v = this.positionals[index];
    if (v === undefined || v === '') throw this.usage(`missing ${what}`);
    return v;
  }

  /** Refuse positionals past `count` (a typo'd flag value often lands here). */
  atMost(count: number): void {
    const extra = this.positionals.slice(count);
    if (extra.length > 0) throw this.usage(`unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.join(' ')}`);
  }

  usage(message: string): CliError {
    return CliError.usage(message, this.command);
  }
}

/** Parse `argv` (after the command word) against the command's options plus the global ones. */
export function parseCommandArgs(command: string, argv: readonly string[], options: OptionSpec = {}): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return new ParsedArgs(command, positionals, values as Record<string, unknown>);
  } catch (err) {
    throw CliError.usage(parseArgsMessage(err as Error & { code?: string }, { ...GLOBAL_OPTIONS, ...options }), command);
  }
}

/** `K=V` pairs (from `--env` / `--secret`) into an object; the key is checked locally for a clearer error. */
export function keyValuePairs(args: ParsedArgs, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of args.strings(name)) {
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw args.usage(`--${name} wants KEY=VALUE with KEY like [A-Za-z_][A-Za-z0-9_]*, got '${pair}'`);
    }
    out[k] = pair.slice(eq + 1);
  }
  return out;
}

/** parseArgs' own messages, shortened: its advice about `--` is noise for a mistyped flag. */
function parseArgsMessage(err: Error & { code?: string }, options: OptionSpec): string {
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'([^']+)'/.exec(err.message)?.[1] ?? '';
    const known = Object.keys(options).map((o) => `--${o}`);
    const near = known.find((k) => k.startsWith(flag.slice(0, 4)) && flag.length > 2);
    return `unknown option '${flag}'${near !== undefined ? ` (did you mean ${near}?)` : ''}`;
  }
  return err.message;
}
