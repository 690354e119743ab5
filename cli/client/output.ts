import type { CliError } from './cli-error.js';

/** Where a command writes; the real process streams by default, a buffer in tests. */
export interface OutputStreams {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

/**
 * Everything a client command prints goes through here, so the `--json`
 * contract holds in one place: under `--json`, stdout carries exactly one JSON
 * document (or one per line for `--follow`), progress is silent, and errors
 * are the gateway's error body on stdout plus a human line on stderr.
 * Without `--json`, results go to stdout and progress, warnings and errors to
 * stderr, so `brisk invoke f > out.json` still captures only the result.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly streams: OutputStreams = { stdout: process.stdout, stderr: process.stderr },
  ) {}

  /** A human-readable result line (ignored under `--json`). */
  line(text = ''): void {
    if (!this.json) this.streams.stdout.write(text + '\n');
  }

  /** The machine-readable result (only under `--json`). */
  data(value: unknown): void {
    if (this.json) this.streams.stdout.write(JSON.stringify(value) + '\n');
  }

  /** A progress line on stderr, e.g. `uploading…` (silent under `--json`). */
  progress(text: string): void {
    if (!this.json) this.streams.stderr.write(text + '\n');
  }

  warn(text: string): void {
    this.streams.stderr.write(`brisk: warning: ${text}\n`);
  }

  /** Plain text on stderr, e.g. a function's error report after its result. */
  note(text: string): void {
    this.streams.stderr.write(text + '\n');
  }

  error(err: CliError): void {
    if (this.json) this.streams.stdout.write(JSON.stringify(err.body) + '\n');
    const lines = [`brisk: ${err.message}`, ...err.details.map((d) => `  ${d.replace(/\n/g, '\n  ')}`)];
    if (err.hint !== undefined) lines.push(`  → ${err.hint}`);
    this.streams.stderr.write(lines.join('\n') + '\n');
  }

  /** Columns padded to the widest cell; the last column is not padded. */
  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    if (this.json) return;
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const fmt = (cells: readonly string[]): string =>
      cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
    this.line(fmt(headers));
    for (const r of rows) this.line(fmt(r));
  }

  /** `key  value` lines, keys aligned; undefined values are left out. */
  fields(pairs: readonly (readonly [string, string | undefined])[]): void {
    const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined);
    const width = Math.max(0, ...shown.map(([k]) => k.length));
    for (const [k, v] of shown) this.line(`${k.padEnd(width)}  ${v}`);
  }
}

/** `1234` → `1.2 KB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** Pretty JSON for humans (a bare string prints as JSON too, so it stays unambiguous). */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}
