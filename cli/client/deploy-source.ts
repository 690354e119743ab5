import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { CliError, ExitCode } from './cli-error.js';

/** What `brisk deploy` sends: one source file as JSON, or an archive body. */
export type DeployPayload =
  | { kind: 'source'; code: string; bytes: number; runtime: 'nodejs' | 'python' }
  | {
      kind: 'archive';
      /** What the folder holds, when we zipped it ourselves: Python without a package.json. */
      runtime?: 'nodejs' | 'python';
      archive: Uint8Array;
      contentType: 'application/zip' | 'application/gzip';
      /** Files in the archive (when we zipped it ourselves). */
      files?: number;
      /** Symlinks left out: the gateway rejects links in archives. */
      skippedLinks: number;
    };

const SOURCE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts', '.py'];
/**
 * Folders never shipped: version control metadata, Python's bytecode caches
 * (the instance's interpreter compiles for itself). `node_modules` is shipped
 * (the bundler needs it).
 */
const SKIPPED_DIRS = new Set(['.git', '.hg', '.svn', '__pycache__']);
/** Zip timestamps are fixed so the same folder zips to the same bytes. */
const ZIP_MTIME = new Date('2000-01-01T00:00:00Z');

/** Read a file or zip a directory for deploying. */
export async function readDeploySource(target: string): Promise<DeployPayload> {
  const stat = await lstat(target).catch((err: NodeJS.ErrnoException) => {
    throw new CliError('NO_SUCH_PATH', `cannot read ${target}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, {
      exitCode: ExitCode.USAGE,
      hint: 'give a .js/.ts file or a folder with an index.js/index.ts (or package.json + --handler)',
    });
  });
  if (stat.isDirectory()) return zipDirectory(target);
  const lower = target.toLowerCase();
  if (lower.endsWith('.zip')) return { kind: 'archive', archive: await readFile(target), contentType: 'application/zip', skippedLinks: 0 };
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) {
    return { kind: 'archive', archive: await readFile(target), contentType: 'application/gzip', skippedLinks: 0 };
  }
  if (!SOURCE_EXTENSIONS.some((ext) => lower.endsWith(ext))) {
    throw new CliError('UNSUPPORTED_SOURCE', `cannot deploy ${target}: expected a ${SOURCE_EXTENSIONS.join('/')} file, a .zip/.tar.gz, or a directory`, {
      exitCode: ExitCode.USAGE,
      hint: 'see `brisk deploy --help`',
    });
  }
  const code = await readFile(target, 'utf8');
  if (code.trim().length === 0) throw new CliError('EMPTY_SOURCE', `${target} is empty`, { exitCode: ExitCode.USAGE });
  return { kind: 'source', code, bytes: Buffer.byteLength(code), runtime: lower.endsWith('.py') ? 'python' : 'nodejs' };
}

/**
 * The handler a deploy of `target` gets when `--handler` does not say: a
 * Python file's own module (`app.py` → `app.handler`; the runtime falls back
 * to `main` and `lambda_handler`), else `index.handler`.
 */
export function defaultHandler(target: string, payload: DeployPayload): string {
  if (payload.kind === 'source' && payload.runtime === 'python') {
    const module = path.basename(target).replace(/\.py$/i, '');
    return /^[A-Za-z_][A-Za-z0-9_]*$/.test(module) ? `${module}.handler` : 'index.handler';
  }
  return 'index.handler';
}

/** Zip a folder as `brisk deploy` sends it (sorted, fixed times, no VCS folders or bytecode caches, no symlinks). */
export async function zipDirectory(root: string): Promise<Extract<DeployPayload, { kind: 'archive' }>> {
  const files: Zippable = {};
  let count = 0;
  let skippedLinks = 0;
  let python = false;
  let packageJson = false;
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const relPath = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isSymbolicLink()) {
        skippedLinks++;
      } else if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(e.name)) await walk(path.join(dir, e.name), relPath);
      } else if (e.isFile()) {
        files[relPath] = [await readFile(path.join(dir, e.name)), { mtime: ZIP_MTIME }];
        count++;
        if (rel === '' && e.name === 'package.json') packageJson = true;
        if (rel === '' && (e.name.endsWith('.py') || e.name === 'requirements.txt')) python = true;
      }
    }
  };
  await walk(root, '');
  if (count === 0) {
    throw new CliError('EMPTY_SOURCE', `${root} holds no files to deploy`, { exitCode: ExitCode.USAGE });
  }
  const runtime = python && !packageJson ? 'python' : 'nodejs';
  return { kind: 'archive', archive: zipSync(files, { level: 6 }), contentType: 'application/zip', files: count, skippedLinks, runtime };
}

/**
 * A function name from a path: `./My Handler.ts` → `my-handler`, a folder by
 * its own name. Names are `[a-z0-9][a-z0-9-_]{0,62}`; undefined if nothing usable is left.
 */
export function defaultFunctionName(target: string): string | undefined {
  const base = path.basename(path.resolve(target)).replace(/\.(tar\.gz|tgz|zip|[cm]?[jt]s|py)$/i, '');
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name === '' ? undefined : name;
}
