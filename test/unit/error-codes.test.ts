import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, INTERNAL_ERROR_CODES } from '../../core/error-codes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The codes the README documents: every backticked code in a table row.
 * A `PREFIX_*` entry stands for every code that starts with `PREFIX_`.
 */
function documentedCodes(): { exact: Set<string>; prefixes: string[] } {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const line of readme.split('\n')) {
    if (!line.trimStart().startsWith('|')) continue;
    for (const m of line.matchAll(/`([A-Z][A-Z0-9_]*)(\*)?`/g)) {
      if (m[2] === '*') prefixes.push(m[1] as string);
      else exact.add(m[1] as string);
    }
  }
  return { exact, prefixes };
}

/** The TypeScript sources of the server roles and the runtime (not the CLI client, the console or the tests). */
function serverSources(): string[] {
  const dirs = ['core', 'bus', 'storage', 'gateway', 'scheduler', 'executor', 'runtime', 'tenancy', 'metering', 'triggers', 'cli'];
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) {
        // The CLI client's own codes (CliError) never leave the client.
        if (p !== path.join(root, 'cli', 'client')) walk(p);
      } else if (name.endsWith('.ts')) files.push(p);
    }
  };
  for (const d of dirs) walk(path.join(root, d));
  return files;
}

describe('error codes (core/error-codes.ts)', () => {
  it('lists each code once', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(new Set(INTERNAL_ERROR_CODES).size).toBe(INTERNAL_ERROR_CODES.length);
  });

  it('has every code a client can receive in one of the README tables', () => {
    const { exact, prefixes } = documentedCodes();
    const internal = new Set<string>(INTERNAL_ERROR_CODES);
    const missing = ERROR_CODES.filter((c) => !internal.has(c) && !exact.has(c) && !prefixes.some((p) => c.startsWith(p)));
    expect(missing).toEqual([]);
  });

  it('holds every code the sources write outside a typed error constructor', () => {
    // `BriskError.code` is typed, so the compiler checks the constructors; these
    // are the places it cannot see: error bodies built as object literals and
    // the runtime's answers (it bundles nothing from core/).
    const patterns = [
      /\bcode: '([A-Z][A-Z0-9_]+)'/g,
      /\bsendError\(res, \d+, '([A-Z][A-Z0-9_]+)'/g,
      /\bnew PlatformApiError\('([A-Z][A-Z0-9_]+)'/g,
      /\bnotFoundAs\('([A-Z][A-Z0-9_]+)'\)/g,
    ];
    // The runtime's answer to an unknown route of its own protocol: the
    // executor treats it as a garbled answer, never as a code of its own.
    const notCodes = new Set(['NOT_FOUND']);
    const listed = new Set<string>(ERROR_CODES);
    const unlisted: string[] = [];
    let seen = 0;
    for (const file of serverSources()) {
      const text = readFileSync(file, 'utf8');
      for (const re of patterns) {
        for (const m of text.matchAll(re)) {
          seen++;
          const code = m[1] as string;
          if (!listed.has(code) && !notCodes.has(code)) unlisted.push(`${path.relative(root, file)}: ${code}`);
        }
      }
    }
    expect(seen).toBeGreaterThan(10);
    expect(unlisted).toEqual([]);
  });
});
