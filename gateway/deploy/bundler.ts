/**
 * Deploy-time bundling: turns a single source file or a package archive into
 * one self-contained ESM file the runtime can `import()` without any
 * `node_modules`, plus, for an archive, the package's files as they were
 * (templates, data, `.wasm`, `node_modules` for dynamic `require`s), which
 * the function sees beside its bundle at run time.
 *
 * Paths inside the bundle behave as in the package: each module's
 * `__dirname`, `__filename`, `import.meta.url` / `dirname` / `filename` name
 * its own file under the package root the runtime gives the bundle (see
 * {@link modulePathsPrelude}), and `require` resolves from the entry file.
 *
 * Node built-ins are left to esbuild's own `platform: 'node'` rules, which
 * tell `require('process')` (the built-in) from `require('process/')` (the
 * npm polyfill of that name, bundled).
 *
 * OpenWhisk's forms work: a plain script's top-level `function main` (or
 * `global.main = …`) is exported by a line appended to a script or CommonJS
 * entry (see {@link entryAppendix}).
 *
 * Every build runs in a fresh temp directory (removed in a `finally`) with that
 * directory as esbuild's `absWorkingDir`, so paths in the output (the
 * `// src/app.ts` comments, CommonJS wrapper keys) are relative and the same
 * code always yields the same bytes and the same sha256, whichever temp dir it
 * was built in.
 *
 * The build is confined to the package: a file that resolves outside the temp
 * dir (`import '../../etc/x'`, a `paths` alias pointing up, a `node_modules` in
 * a parent directory) is refused, tsconfig discovery never climbs above the
 * package root, and error locations outside the package are redacted.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { BuildError, ValidationError } from '../../core/errors.js';
import { FALLBACK_EXPORTS } from '../../runtime/handler.js';
import { PACKAGE_ROOT_KEY } from '../../runtime/protocol.js';
import { extractArchive, type ArchiveKind } from '../../core/archive.js';
import { packFiles, type PackedFiles } from './package-files.js';

export interface BundleOutput {
  /** The bundled ESM module. */
  code: Buffer;
  /** sha256 (hex) of `code`. */
  codeHash: string;
  /** Export to call; for a CommonJS entry the runtime finds it on `mod.default`. */
  exportName: string;
  /** Non-fatal notes from esbuild and extraction, one line each. */
  warnings: string[];
  /** An archive's files, shipped beside the bundle (absent for a single source). */
  files?: PackedFiles;
}

export interface BundlerOptions {
  /** Largest total size of an extracted archive, in bytes. */
  maxUnpackedBytes: number;
  /** Largest number of files in an archive. */
  maxFiles: number;
  /** Parent of the per-build temp dirs; defaults to `os.tmpdir()`. */
  tmpDir?: string;
}

/** One esbuild diagnostic as it appears in `BuildError.data.errors`. */
export interface BuildDiagnostic {
  text: string;
  /** Path relative to the package root (`index.ts`, `src/app.ts`), or null when unknown. */
  file: string | null;
  /** 1-based line, or null. */
  line: number | null;
  /** 0-based column, as esbuild reports it, or null. */
  column: number | null;
  lineText: string | null;
}

/** Extensions tried, in order, for the file part of a handler. */
export const ENTRY_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.tsx', '.jsx'] as const;

/**
 * `file.export`: the file part is a relative path of plain segments (no `.`,
 * `..` or hidden segments, no extension needed); the export is a JS identifier.
 * The file part is optional (`handler` alone means `index.handler`).
 */
const HANDLER_PATTERN =
  /^(?:(?<file>[A-Za-z0-9_@][\w@.-]*(?:\/[A-Za-z0-9_@][\w@.-]*)*)\.)?(?<exportName>[A-Za-z_$][\w$]*)$/;
const MAX_HANDLER_LENGTH = 256;

/** At most this many esbuild errors (or warnings) are reported, in the message and in `data`. */
const MAX_DIAGNOSTICS = 20;

/** Parsed `file.export` handler string. */
export interface ParsedHandler {
  file: string | undefined;
  exportName: string;
}

/** @throws ValidationError `INVALID_HANDLER` */
export function parseHandler(handler: string): ParsedHandler {
  const match = handler.length <= MAX_HANDLER_LENGTH ? HANDLER_PATTERN.exec(handler) : null;
  const exportName = match?.groups?.['exportName'];
  if (!match || exportName === undefined) {
    throw new ValidationError(
      'INVALID_HANDLER',
      `handler '${handler}' is not of the form 'file.export' (e.g. 'index.handler' or 'src/app.handler')`,
      { handler },
    );
  }
  return { file: match.groups?.['file'], exportName };
}

/**
 * Bundles function code with esbuild (`platform: node`, `target: node20`,
 * `format: esm`); Node built-ins stay external, everything else is inlined.
 */
export class Bundler {
  constructor(private readonly opts: BundlerOptions) {}

  /**
   * Bundle a single source file (JS or TS, ESM or CommonJS). It is compiled as
   * `index.ts`, so that is the file named in build errors.
   *
   * @param handler `index.handler` or just `handler`; any other file part is rejected.
   * @throws ValidationError `INVALID_HANDLER`; BuildError `BUILD_FAILED`.
   */
  async bundleSource(source: string, handler: string): Promise<BundleOutput> {
    const { file, exportName } = parseHandler(handler);
    if (file !== undefined && file !== 'index') {
      throw new ValidationError('INVALID_HANDLER', `a single-source deploy is compiled as 'index'; use 'index.${exportName}'`, { handler });
    }
    return this.inWorkDir(async (root) => {
      await writeFile(path.join(root, 'index.ts'), source, { flag: 'wx' });
      return this.build(root, 'index.ts', exportName, []);
    });
  }

  /**
   * Bundle a package archive (its own `package.json`, optional `node_modules`).
   * `src/app.handler` looks for `src/app.<ext>` then `src/app/index.<ext>`,
   * trying {@link ENTRY_EXTENSIONS} in order; no file part means the file
   * named by `package.json`'s `main`, else `index` (as Node's `require(dir)`
   * and OpenWhisk's zipped actions do). Every file of the archive is packed
   * into {@link BundleOutput.files}.
   *
   * @throws ValidationError `INVALID_HANDLER`; BuildError `HANDLER_FILE_NOT_FOUND`,
   *   `BUILD_FAILED` or an `ARCHIVE_*` code from {@link extractArchive}.
   */
  async bundleArchive(archive: Buffer, kind: ArchiveKind, handler: string): Promise<BundleOutput> {
    const { file, exportName } = parseHandler(handler);
    return this.inWorkDir(async (root) => {
      const extracted = await extractArchive(archive, kind, root, {
        maxUnpackedBytes: this.opts.maxUnpackedBytes,
        maxFiles: this.opts.maxFiles,
      });
      const candidates = [...(file === undefined ? await packageMainCandidates(root) : []), ...entryCandidates(file ?? 'index')];
      const entry = await firstRegularFile(root, candidates);
      if (entry === undefined) {
        throw new BuildError(
          `handler '${handler}': none of ${candidates.join(', ')} exists in the archive`,
          { handler, tried: candidates },
          'HANDLER_FILE_NOT_FOUND',
        );
      }
      const notes = extracted.strippedPrefix !== undefined
        ? [`archive: stripped the single top-level folder '${extracted.strippedPrefix}'`]
        : [];
      const files = await packFiles(root);
      return { ...(await this.build(root, entry, exportName, notes)), files };
    });
  }

  /** Run `fn` in a fresh temp dir that is always removed afterwards. */
  private async inWorkDir<T>(fn: (root: string) => Promise<T>): Promise<T> {
    const parent = this.opts.tmpDir ?? os.tmpdir();
    const created = await mkdtemp(path.join(parent, 'brisk-bundle-'));
    try {
      // esbuild reports real paths; resolve symlinks (macOS /tmp) so the confinement check compares like with like.
      return await fn(await realpath(created));
    } finally {
      await rm(created, { recursive: true, force: true });
    }
  }

  private async build(root: string, entry: string, exportName: string, notes: string[]): Promise<BundleOutput> {
    const tsconfigPath = path.join(root, 'tsconfig.json');
    const tsconfig = await lstat(tsconfigPath).then((s) => (s.isFile() ? readFile(tsconfigPath, 'utf8') : undefined), () => undefined);
    const names = handlerNames(exportName);
    const sources = new PackageSources(root, entry, names, tsconfig);
    let result: esbuild.BuildResult<{ write: false; metafile: true }>;
    try {
      result = await esbuild.build({
        absWorkingDir: root,
        entryPoints: [entry],
        outfile: 'bundle.mjs',
        write: false,
        metafile: true,
        bundle: true,
        // Built-ins stay external by esbuild's own list, which knows `process/` is not `process`.
        platform: 'node',
        target: 'node20',
        format: 'esm',
        minify: false,
        sourcemap: false,
        charset: 'utf8',
        logLevel: 'silent',
        // Either the package's own tsconfig or none: never one discovered above the root.
        ...(tsconfig !== undefined ? { tsconfig: tsconfigPath } : { tsconfigRaw: {} }),
        plugins: [sources.plugin()],
      });
    } catch (err) {
      if (isBuildFailure(err)) throw buildFailed(err.errors, root);
      throw err;
    }
    const output = result.outputFiles[0];
    if (output === undefined) throw new BuildError('esbuild produced no output', { entry });
    const code = Buffer.concat([Buffer.from(modulePathsPrelude(entry, sources.modulePaths()), 'utf8'), Buffer.from(output.contents)]);
    const own = result.warnings.filter((w) => !sources.isAppendix(w, root));
    const warnings = [...notes, ...own.slice(0, MAX_DIAGNOSTICS).map((w) => formatDiagnostic(toDiagnostic(w, root)))];
    if (own.length > MAX_DIAGNOSTICS) warnings.push(`(and ${own.length - MAX_DIAGNOSTICS} more warnings)`);
    const check = checkHandler(result.metafile, entry, exportName, sources.scriptWithoutHandler());
    if (check.fatal) throw new BuildError(check.message, { handler: exportName, entry }, 'HANDLER_NOT_FOUND');
    if (check.message !== undefined) warnings.push(check.message);
    return { code, codeHash: createHash('sha256').update(code).digest('hex'), exportName, warnings };
  }
}

/** The configured export first, then the runtime's fallbacks. */
function handlerNames(exportName: string): string[] {
  return [exportName, ...FALLBACK_EXPORTS.filter((n) => n !== exportName)];
}

/** JS and TS sources the bundler reads itself (to give each module its own paths). */
const SOURCE_FILE = /\.(?:[cm]?[jt]s|[jt]sx)$/;
/** A module that names its own location: it gets per-module values for these. */
const MODULE_PATH_REF = /\b__dirname\b|\b__filename\b|\bimport\.meta\.(?:url|dirname|filename)\b/;

/** Whether `name` occurs in `text` as a whole identifier. */
function mentions(text: string, name: string): boolean {
  return new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`).test(text);
}

function loaderOf(file: string): esbuild.Loader {
  if (/\.[cm]?ts$/.test(file)) return 'ts';
  if (file.endsWith('.tsx')) return 'tsx';
  if (file.endsWith('.jsx')) return 'jsx';
  return 'js';
}

/** Identifier suffix for one module, stable across builds (the bytes, and so the hash, must not depend on load order). */
function moduleId(rel: string): string {
  return createHash('sha256').update(rel).digest('hex').slice(0, 12);
}

/**
 * What the bundler's esbuild plugin sees of the package: it confines loads to
 * the package, rewrites each module's own-location references to per-module
 * constants, appends the OpenWhisk export line to the entry, and notes which
 * of the handler's names the package's own files mention.
 */
class PackageSources {
  private readonly paths = new Map<string, string>();
  private mentioned = false;
  /** Whether the entry's own text uses `module` or `exports` (it is CommonJS, not a plain script). */
  private entryIsCommonJs = false;
  /** Lines of the entry before the appendix, to tell our own warnings apart. */
  private entryLines = Number.POSITIVE_INFINITY;

  constructor(
    private readonly root: string,
    private readonly entry: string,
    private readonly names: readonly string[],
    private readonly tsconfig: string | undefined,
  ) {}

  plugin(): esbuild.Plugin {
    return {
      name: 'brisk-package-sources',
      setup: (build) => {
        build.onLoad({ filter: /.*/, namespace: 'file' }, async (args) => {
          if (!args.path.startsWith(this.root + path.sep)) {
            return { errors: [{ text: 'imports must resolve to files inside the package (and its node_modules)' }] };
          }
          if (!SOURCE_FILE.test(args.path)) return undefined; // default loading (JSON, text …)
          return this.load(args.path);
        });
      },
    };
  }

  private async load(file: string): Promise<esbuild.OnLoadResult> {
    const rel = path.relative(this.root, file).split(path.sep).join('/');
    let contents = await readFile(file, 'utf8');
    let loader = loaderOf(file);
    const isEntry = rel === this.entry;
    if (!rel.startsWith('node_modules/') && this.names.some((n) => mentions(contents, n))) {
      this.mentioned = true;
    }
    if (MODULE_PATH_REF.test(contents)) {
      const id = moduleId(rel);
      this.paths.set(id, rel);
      let transformed: esbuild.TransformResult;
      try {
        transformed = await esbuild.transform(contents, {
          loader,
          sourcefile: rel,
          logLevel: 'silent',
          // Only free references are replaced: a module's own `const __dirname = …` stays its own.
          define: {
            __dirname: `__brisk_dir_${id}`,
            __filename: `__brisk_file_${id}`,
            'import.meta.dirname': `__brisk_dir_${id}`,
            'import.meta.filename': `__brisk_file_${id}`,
            'import.meta.url': `__brisk_url_${id}`,
          },
          ...(this.tsconfig !== undefined && loader !== 'js' ? { tsconfigRaw: this.tsconfig } : {}),
        });
      } catch (err) {
        // A syntax error: reported with its place in the file, like any other build error.
        if (isBuildFailure(err)) return { errors: err.errors };
        throw err;
      }
      contents = transformed.code;
      loader = 'js';
    }
    if (isEntry) {
      this.entryIsCommonJs = /(?<![\w$.])(?:module|exports)(?![\w$])/.test(contents);
      this.entryLines = contents.split('\n').length;
      contents += entryAppendix(this.names);
    }
    return { contents, loader, resolveDir: path.dirname(file) };
  }

  /** Module id → its path in the package, for modules that name their own location. */
  modulePaths(): Map<string, string> {
    return this.paths;
  }

  /**
   * A plain script entry (no `export`, no `module`/`exports`) whose package's
   * own files (not node_modules) never mention any of the handler's names:
   * nothing can define the handler.
   */
  scriptWithoutHandler(): boolean {
    return !this.entryIsCommonJs && !this.mentioned;
  }

  /** A warning about the line this plugin appended to the entry (e.g. `module` in an ES module). */
  isAppendix(w: esbuild.Message, root: string): boolean {
    const loc = w.location;
    if (!loc) return false;
    const rel = path.isAbsolute(loc.file) ? path.relative(root, loc.file) : loc.file;
    return rel.split(path.sep).join('/') === this.entry && loc.line > this.entryLines;
  }
}

/** Words that cannot name a variable (so `typeof <word>` would not parse). */
const RESERVED_WORDS = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface ' +
    'package private protected public await arguments eval').split(' '),
);

/**
 * Appended to the entry. In a plain script (OpenWhisk's `function main(params)`
 * with no export, or a webpacked `global.main = main`) or a CommonJS module,
 * `module` is the module's own and this exports each name the module declares
 * or finds globally, unless the module already exports it. In an ES module
 * `module` is not defined and this does nothing. A script becomes CommonJS by
 * it, so esbuild keeps its top-level code instead of dropping it as unused.
 */
function entryAppendix(names: readonly string[]): string {
  // A handler named like a keyword (`index.default`) cannot be a declared name; only an export.
  const lines = names.filter((n) => !RESERVED_WORDS.has(n)).map(
    (n) => `if (!Object.prototype.hasOwnProperty.call(module.exports, ${JSON.stringify(n)}) && typeof ${n} === "function") module.exports[${JSON.stringify(n)}] = ${n};`,
  );
  return `\n;if (typeof module === "object" && module !== null && typeof module.exports === "object" && module.exports !== null) { ${lines.join(' ')} }\n`;
}

/**
 * Code put before the bundle: `require` resolving from the entry file, and
 * the per-module paths. The package root is what the runtime put under
 * `PACKAGE_ROOT_KEY` (runtime/protocol.ts); without it (the bundle imported by hand) it is
 * the bundle's directory.
 */
export function modulePathsPrelude(entry: string, modules: ReadonlyMap<string, string>): string {
  const lines = [
    "import { createRequire as __brisk_createRequire } from 'node:module';",
    "import { fileURLToPath as __brisk_fileURLToPath, pathToFileURL as __brisk_pathToFileURL } from 'node:url';",
    "import { dirname as __brisk_pathDirname, join as __brisk_pathJoin } from 'node:path';",
    `const __brisk_root = globalThis[Symbol.for(${JSON.stringify(PACKAGE_ROOT_KEY)})] ?? __brisk_pathDirname(__brisk_fileURLToPath(import.meta.url));`,
    `const require = __brisk_createRequire(__brisk_pathJoin(__brisk_root, ${JSON.stringify(entry)}));`,
  ];
  for (const [id, rel] of [...modules].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    lines.push(
      `const __brisk_file_${id} = __brisk_pathJoin(__brisk_root, ${JSON.stringify(rel)});`,
      `const __brisk_dir_${id} = __brisk_pathDirname(__brisk_file_${id});`,
      `const __brisk_url_${id} = __brisk_pathToFileURL(__brisk_file_${id}).href;`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `src/app` → `src/app.ts`, …, `src/app/index.ts`, …; a path with a known extension is tried as-is first. */
function entryCandidates(file: string): string[] {
  const own = ENTRY_EXTENSIONS.some((ext) => file.endsWith(ext)) ? [file] : [];
  return [
    ...own,
    ...ENTRY_EXTENSIONS.map((ext) => `${file}${ext}`),
    ...ENTRY_EXTENSIONS.map((ext) => `${file}/index${ext}`),
  ];
}

async function firstRegularFile(root: string, candidates: readonly string[]): Promise<string | undefined> {
  for (const rel of candidates) {
    const isFile = await lstat(path.join(root, rel)).then((s) => s.isFile(), () => false);
    if (isFile) return rel;
  }
  return undefined;
}

/**
 * Entry candidates from `package.json`'s `main` (`./lib/app`, `lib/app.js`),
 * tried before `index`. A `main` that climbs out of the package is ignored.
 */
async function packageMainCandidates(root: string): Promise<string[]> {
  let main: unknown;
  try {
    main = (JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { main?: unknown }).main;
  } catch {
    return [];
  }
  if (typeof main !== 'string') return [];
  const rel = path.posix.normalize(main.replace(/\\/g, '/')).replace(/^(\.\/)+/, '').replace(/\/$/, '');
  if (rel === '' || rel === '.' || rel.startsWith('../') || rel === '..' || path.posix.isAbsolute(rel)) return [];
  return entryCandidates(rel);
}

function isBuildFailure(err: unknown): err is esbuild.BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<esbuild.BuildFailure>).errors);
}

function toDiagnostic(msg: esbuild.Message, root: string): BuildDiagnostic {
  const loc = msg.location;
  if (!loc) return { text: msg.text, file: null, line: null, column: null, lineText: null };
  // esbuild gives paths relative to absWorkingDir; anything climbing out is not the user's to see.
  const rel = path.isAbsolute(loc.file) ? path.relative(root, loc.file) : loc.file;
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    return { text: msg.text, file: null, line: null, column: null, lineText: null };
  }
  return { text: msg.text, file: rel.split(path.sep).join('/'), line: loc.line, column: loc.column, lineText: loc.lineText };
}

function formatDiagnostic(d: BuildDiagnostic): string {
  return d.file === null ? d.text : `${d.file}:${d.line}:${d.column}: ${d.text}`;
}

function buildFailed(messages: readonly esbuild.Message[], root: string): BuildError {
  const errors = messages.slice(0, MAX_DIAGNOSTICS).map((m) => toDiagnostic(m, root));
  const more = messages.length - errors.length;
  const message = errors.map(formatDiagnostic).join('\n') + (more > 0 ? `\n(and ${more} more errors)` : '');
  return new BuildError(message || 'build failed', { errors });
}

/**
 * What can be told before the code runs about finding the handler. An ES
 * module's exports are known: with none of the handler's names and no
 * default export, the handler certainly cannot be found (fatal); with a
 * fallback name or a default only, that one is called (a warning). A plain
 * script's names are exported by the appendix: one whose own files never
 * mention any of them certainly has no handler. A CommonJS module's exports
 * are known at run time only (`module.exports = fn` names nothing).
 */
function checkHandler(metafile: esbuild.Metafile, entry: string, exportName: string, scriptWithoutHandler: boolean): { fatal: true; message: string } | { fatal: false; message?: string } {
  const format = metafile.inputs[entry]?.format;
  const names = handlerNames(exportName);
  if (format === 'esm') {
    const exports = Object.values(metafile.outputs)[0]?.exports ?? [];
    if (exports.includes(exportName)) return { fatal: false };
    const listed = `exports: ${exports.length > 0 ? exports.join(', ') : 'none'}`;
    const fallback = names.find((n) => exports.includes(n));
    if (fallback !== undefined) return { fatal: false, message: `entry does not export '${exportName}'; '${fallback}' will be called instead (${listed})` };
    if (exports.includes('default')) return { fatal: false, message: `entry does not export '${exportName}'; its default export will be called (${listed})` };
    return { fatal: true, message: `handler '${exportName}' cannot be found: the entry ${entry} is an ES module that does not export it (${listed}); add \`export\` to it` };
  }
  if (scriptWithoutHandler) {
    return { fatal: true, message: `handler '${exportName}' cannot be found: the entry ${entry} neither exports nor declares ${names.map((n) => `'${n}'`).join(', ')}` };
  }
  return { fatal: false };
}
