import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError, ExitCode } from './cli-error.js';

/** What `brisk login` stores. */
export interface StoredLogin {
  url?: string;
  key?: string;
  /** Namespace to act in (sent as `x-brisk-namespace`; only the admin key may pick one). */
  namespace?: string;
}

/** Where the client talks to, after the file, the environment and flags are merged. */
export interface ClientSettings {
  url: string;
  key: string | undefined;
  /** Where `url` came from, for error hints ("set by BRISK_URL"). */
  urlSource: 'flag' | 'env' | 'config' | 'default';
  keySource: 'flag' | 'env' | 'config' | 'none';
  namespace: string | undefined;
  configPath: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/**
 * The client's own environment. The `brisk` client is a separate program from
 * the servers (whose config is `core/config.ts`), so it reads its few
 * variables here, once, and passes them down:
 *
 * - `BRISK_CONFIG`: the config file (default `~/.config/brisk/config.json`,
 *   or `$XDG_CONFIG_HOME/brisk/config.json`)
 * - `BRISK_URL`, `BRISK_KEY`, `BRISK_NAMESPACE`: override the stored gateway
 *   URL, API key and namespace
 */
export interface ClientEnv {
  configPath: string;
  url: string | undefined;
  key: string | undefined;
  namespace: string | undefined;
}

export function readClientEnv(env: NodeJS.ProcessEnv = process.env): ClientEnv {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());
  const configHome = nonEmpty(env['XDG_CONFIG_HOME']) ?? path.join(os.homedir(), '.config');
  return {
    configPath: nonEmpty(env['BRISK_CONFIG']) ?? path.join(configHome, 'brisk', 'config.json'),
    url: nonEmpty(env['BRISK_URL']),
    key: nonEmpty(env['BRISK_KEY']),
    namespace: nonEmpty(env['BRISK_NAMESPACE']),
  };
}

/**
 * The user's login file (JSON `{ url, key }`). It holds an API key, so it is
 * written with mode 0600 in a 0700 directory, through a temp file and a rename
 * so a crash never leaves half a file.
 */
export class ConfigFile {
  constructor(readonly filePath: string) {}

  /** The stored login, or `{}` when there is no file yet. */
  async read(): Promise<StoredLogin> {
    let text: string;
    try {
      text = await readFile(this.filePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new CliError('CONFIG_UNREADABLE', `cannot read ${this.filePath}: ${(err as Error).message}`, {
        exitCode: ExitCode.USAGE,
        hint: 'fix its permissions, or point BRISK_CONFIG at another file',
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new CliError('CONFIG_INVALID', `${this.filePath} is not a JSON object`, {
        exitCode: ExitCode.USAGE,
        hint: 'delete it and run `brisk login --url …` again',
      });
    }
    const obj = parsed as Record<string, unknown>;
    return {
      ...(typeof obj['url'] === 'string' ? { url: obj['url'] } : {}),
      ...(typeof obj['key'] === 'string' ? { key: obj['key'] } : {}),
      ...(typeof obj['namespace'] === 'string' ? { namespace: obj['namespace'] } : {}),
    };
  }

  async write(login: StoredLogin): Promise<void> {
    const dir = path.dirname(this.filePath);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.filePath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(login, null, 2) + '\n', { mode: 0o600 });
    // writeFile's mode only applies to a new file; make sure of it either way.
    await chmod(tmp, 0o600);
    await rename(tmp, this.filePath);
  }
}

/** Merge flags over the environment over the file over the default. */
export function resolveSettings(
  env: ClientEnv,
  stored: StoredLogin,
  flags: { url?: string | undefined; key?: string | undefined; namespace?: string | undefined },
): ClientSettings {
  const [url, urlSource] =
    flags.url !== undefined
      ? [flags.url, 'flag' as const]
      : env.url !== undefined
        ? [env.url, 'env' as const]
        : stored.url !== undefined
          ? [stored.url, 'config' as const]
          : [DEFAULT_URL, 'default' as const];
  const [key, keySource] =
    flags.key !== undefined
      ? [flags.key, 'flag' as const]
      : env.key !== undefined
        ? [env.key, 'env' as const]
        : stored.key !== undefined
          ? [stored.key, 'config' as const]
          : [undefined, 'none' as const];
  const namespace = flags.namespace ?? env.namespace ?? stored.namespace;
  return { url: normalizeUrl(url), key, urlSource, keySource, namespace, configPath: env.configPath };
}

/** `localhost:8080` → `http://localhost:8080`; no trailing slash; reject what is not http(s). */
export function normalizeUrl(input: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `http://${input}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw CliError.usage(`'${input}' is not a URL (expected e.g. http://127.0.0.1:8080)`, 'login');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw CliError.usage(`'${input}' must be an http:// or https:// URL`, 'login');
  }
  return u.toString().replace(/\/+$/, '');
}
