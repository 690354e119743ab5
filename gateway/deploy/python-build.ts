/**
 * Deploy-time build of a Python function: no bundling (Python imports its
 * modules from the package at run time), but the same guarantees as the
 * Node bundler give a deploy: the handler's module exists, every module of
 * the user's own compiles (a syntax error is `BUILD_FAILED` with file, line
 * and column, before anything is stored), and a module that certainly does
 * not define the handler is `HANDLER_NOT_FOUND`.
 *
 * What is stored: the entry module's source as the version's "code" (its
 * hash names the version's code, as a bundle's does) and, for an archive,
 * every file of it packed as for a Node package (`package-files.ts`); the
 * runtime imports the entry module from there, so the package's other
 * modules and vendored libraries import as they would locally.
 *
 * Vendored distributions (directories an `*.dist-info` or `*.egg-info` of the
 * package claims, as `pip install --target` and Debian packages lay them out)
 * are not compiled: they are someone else's code, and only fail when imported.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError, ValidationError } from '../../core/errors.js';
import { extractArchive, type ArchiveKind } from '../../core/archive.js';
import type { BuildDiagnostic, BundleOutput } from './bundler.js';
import { packFiles } from './package-files.js';

export interface PythonBuildOptions {
  /** The interpreter that compiles (BRISK_PYTHON). */
  python: string;
  maxUnpackedBytes: number;
  maxFiles: number;
  tmpDir?: string;
}

/** The names a handler falls back to, in the runtime's order (runtime/python/brisk_runtime.py). */
export const PYTHON_FALLBACK_HANDLERS: readonly string[] = ['handler', 'main', 'lambda_handler'];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** At most this many compile errors are reported. */
const MAX_DIAGNOSTICS = 20;

export interface PythonHandler {
  /** Dotted module name (`src.app`). */
  module: string;
  /** Its file inside the package, tried in order (`src/app.py`, `src/app/__init__.py`). */
  files: string[];
  exportName: string;
}

/**
 * `module.function`: `lambda_function.lambda_handler`, `src/app.handler` or
 * `src.app.handler`; `handler` alone is `index.handler`. Every part a Python
 * identifier.
 *
 * @throws ValidationError `INVALID_HANDLER`
 */
export function parsePythonHandler(handler: string): PythonHandler {
  const parts = handler.length <= 256 ? handler.split(/[./]/) : [];
  if (parts.length === 0 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw new ValidationError('INVALID_HANDLER', `handler '${handler}' is not of the form 'module.function' (e.g. 'lambda_function.lambda_handler' or 'src/app.handler'), each part a Python identifier`, { handler });
  }
  const exportName = parts.pop() as string;
  const segments = parts.length > 0 ? parts : ['index'];
  const rel = segments.join('/');
  return { module: segments.join('.'), files: [`${rel}.py`, `${rel}/__init__.py`], exportName };
}

/**
 * Python checked by the interpreter itself: compile every listed file, and
 * list the entry module's top-level names (None when a `*` import makes them
 * unknowable). Reads `{ files, entry }` as JSON on stdin; prints JSON.
 */
const CHECK_SCRIPT = String.raw`
import ast, json, sys
req = json.load(sys.stdin)
errors, names = [], []
for rel in req["files"]:
    try:
        with open(rel, "rb") as f:
            src = f.read()
        tree = compile(src, rel, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        compile(tree, rel, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        col = getattr(e, "offset", None)
        text = getattr(e, "text", None)
        errors.append({"file": rel, "line": line, "column": (col - 1) if isinstance(col, int) and col > 0 else None,
                       "text": "%s: %s" % (type(e).__name__, getattr(e, "msg", None) or str(e)),
                       "lineText": text.rstrip("\r\n") if isinstance(text, str) else None})
        continue
    if rel == req["entry"] and names is not None:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    if a.name == "*":
                        names = None
                        break
                    names.append(a.asname or a.name.split(".")[0])
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            names.append(n.id)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                names = None  # conditional definitions: decided at run time
            if names is None:
                break
json.dump({"errors": errors, "names": names}, sys.stdout)
`;

interface CheckResult {
  errors: BuildDiagnostic[];
  /** Top-level names of the entry; null when unknowable. */
  names: string[] | null;
}

export class PythonBuilder {
  constructor(private readonly opts: PythonBuildOptions) {}

  /**
   * One module's source. It is the module the handler names
   * (`lambda_function.lambda_handler`: `lambda_function.py`), `index` by default.
   *
   * @throws ValidationError `INVALID_HANDLER`; BuildError `BUILD_FAILED`, `HANDLER_NOT_FOUND`.
   */
  async buildSource(source: string, handler: string): Promise<BundleOutput> {
    const h = parsePythonHandler(handler);
    if (h.module.includes('.')) {
      throw new ValidationError('INVALID_HANDLER', `a single Python source is one module; name it without a package ('${h.module.split('.').pop() ?? 'index'}.${h.exportName}')`, { handler });
    }
    return this.inWorkDir(async (root) => {
      const entry = `${h.module}.py`;
      await writeFile(path.join(root, entry), source, { flag: 'wx' });
      const warnings = await this.check(root, [entry], entry, h.exportName);
      const code = Buffer.from(source, 'utf8');
      return { code, codeHash: sha256(code), exportName: h.exportName, warnings };
    });
  }

  /**
   * A zip or tar.gz of modules and vendored packages; the handler's module
   * must be in it.
   *
   * @throws ValidationError `INVALID_HANDLER`; BuildError `HANDLER_FILE_NOT_FOUND`,
   *   `BUILD_FAILED`, `HANDLER_NOT_FOUND` or an `ARCHIVE_*` code.
   */
  async buildArchive(archive: Buffer, kind: ArchiveKind, handler: string): Promise<BundleOutput> {
    const h = parsePythonHandler(handler);
    return this.inWorkDir(async (root) => {
      const extracted = await extractArchive(archive, kind, root, { maxUnpackedBytes: this.opts.maxUnpackedBytes, maxFiles: this.opts.maxFiles });
      let entry: string | undefined;
      for (const f of h.files) {
        if (await lstat(path.join(root, f)).then((s) => s.isFile(), () => false)) {
          entry = f;
          break;
        }
      }
      if (entry === undefined) {
        throw new BuildError(`handler '${handler}': none of ${h.files.join(', ')} exists in the archive`, { handler, tried: h.files }, 'HANDLER_FILE_NOT_FOUND');
      }
      const notes = extracted.strippedPrefix !== undefined ? [`archive: stripped the single top-level folder '${extracted.strippedPrefix}'`] : [];
      const own = await ownModules(root);
      const warnings = await this.check(root, own.includes(entry) ? own : [entry, ...own], entry, h.exportName);
      const code = await readFile(path.join(root, entry));
      const files = await packFiles(root);
      return { code, codeHash: sha256(code), exportName: h.exportName, warnings: [...notes, ...warnings], files };
    });
  }

  /** Compile `files` and look for the handler in `entry`; throws on failure, returns warnings. */
  private async check(root: string, files: string[], entry: string, exportName: string): Promise<string[]> {
    const result = await this.runCheck(root, files, entry);
    if (result.errors.length > 0) {
      const shown = result.errors.slice(0, MAX_DIAGNOSTICS);
      const more = result.errors.length - shown.length;
      const message = shown.map((d) => `${d.file}:${d.line}:${d.column}: ${d.text}`).join('\n') + (more > 0 ? `\n(and ${more} more errors)` : '');
      throw new BuildError(message, { errors: shown });
    }
    if (result.names === null) return [];
    const wanted = [exportName, ...PYTHON_FALLBACK_HANDLERS.filter((n) => n !== exportName)];
    const found = wanted.find((n) => result.names?.includes(n));
    if (found === undefined) {
      throw new BuildError(
        `handler '${exportName}' cannot be found: ${entry} defines none of ${wanted.map((n) => `'${n}'`).join(', ')} at its top level`,
        { handler: exportName, entry },
        'HANDLER_NOT_FOUND',
      );
    }
    return found === exportName ? [] : [`${entry} does not define '${exportName}'; '${found}' will be called instead`];
  }

  private runCheck(root: string, files: string[], entry: string): Promise<CheckResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.opts.python,
        ['-I', '-c', CHECK_SCRIPT],
        // -I: isolated (no user site, no PYTHON* env); nothing of the package runs, it is only compiled.
        // biome-ignore lint/style/noProcessEnv: the compiler child inherits only the gateway's own PATH, not a setting
        { cwd: root, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } },
        (err, stdout, stderr) => {
          if (err) {
            reject(new BuildError(`the Python compile check failed to run (${this.opts.python}): ${stderr.trim() || err.message}`, { python: this.opts.python }));
            return;
          }
          try {
            resolve(JSON.parse(stdout) as CheckResult);
          } catch {
            reject(new BuildError('the Python compile check gave no answer', { stderr: stderr.slice(0, 2000) }));
          }
        },
      );
      child.stdin?.end(JSON.stringify({ files, entry }));
    });
  }

  private async inWorkDir<T>(fn: (root: string) => Promise<T>): Promise<T> {
    const created = await mkdtemp(path.join(this.opts.tmpDir ?? os.tmpdir(), 'brisk-pybuild-'));
    try {
      return await fn(await realpath(created));
    } finally {
      await rm(created, { recursive: true, force: true });
    }
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * The package's own `.py` files: every one except those of vendored
 * distributions, i.e. under a top-level name that an `*.dist-info` (its
 * `RECORD`, `top_level.txt`) or `*.egg-info` (`top_level.txt`) claims.
 */
async function ownModules(root: string): Promise<string[]> {
  const vendored = new Set<string>();
  const top = await readdir(root, { withFileTypes: true });
  for (const e of top) {
    if (!e.isDirectory() || !/\.(dist|egg)-info$/.test(e.name)) continue;
    vendored.add(e.name);
    for (const [file, firstSegments] of [['top_level.txt', false], ['RECORD', true]] as const) {
      const text = await readFile(path.join(root, e.name, file), 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        const name = firstSegments ? line.split(',')[0]?.split('/')[0] : line.trim();
        if (name) vendored.add(name.replace(/\.py$/, ''));
      }
    }
  }
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (rel === '' && vendored.has(e.name.replace(/\.py$/, ''))) continue;
      if (e.isDirectory() && e.name !== '__pycache__') await walk(path.join(dir, e.name), r);
      else if (e.isFile() && e.name.endsWith('.py')) out.push(r);
    }
  };
  await walk(root, '');
  return out.sort();
}
