/**
 * Deploy-time bundling: turns a single source file or a package archive into
 * one self-contained ESM file the runtime can `import()` without any
 * `node_modules`.
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
import { lstat, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { BuildError, ValidationError } from '../../core/errors.js';
import { extractArchive, type ArchiveKind } from './archive.js';

export interface BundleOutput {
  /** The bundled ESM module. */
  code: Buffer;
  /** sha256 (hex) of `code`. */
  codeHash: string;
  /** Export to call; for a CommonJS entry the runtime finds it on `mod.default`. */
  exportName: string;
  /** Non-fatal notes from esbuild and extraction, one line each. */
  warnings: string[];
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

/**
 * Lets bundled CommonJS call `require('fs')` and read `__dirname` in an ESM
 * bundle. Only `require` is declared under its real name: esbuild reserves that
 * identifier and renames a user's own top-level `require` to `require2`. The
 * other two are declared under private names and wired in with `define`,
 * because esbuild does *not* rename a user's own top-level
 * `const __dirname = …` (a common ESM idiom), which would otherwise collide.
 */
const BANNER = [
  "import { createRequire as __brisk_createRequire } from 'node:module';",
  "import { fileURLToPath as __brisk_fileURLToPath } from 'node:url';",
  "import { dirname as __brisk_pathDirname } from 'node:path';",
  'const require = __brisk_createRequire(import.meta.url);',
  'const __brisk_filename = __brisk_fileURLToPath(import.meta.url);',
  'const __brisk_dirname = __brisk_pathDirname(__brisk_filename);',
].join('\n');

const EXTERNAL = ['node:*', ...builtinModules];

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
 * `format: esm`); Node builtins stay external, everything else is inlined.
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
   * trying {@link ENTRY_EXTENSIONS} in order; no file part means `index`.
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
      const candidates = entryCandidates(file ?? 'index');
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
      return this.build(root, entry, exportName, notes);
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
    const hasTsconfig = await lstat(path.join(root, 'tsconfig.json')).then((s) => s.isFile(), () => false);
    let result: esbuild.BuildResult<{ write: false; metafile: true }>;
    try {
      result = await esbuild.build({
        absWorkingDir: root,
        entryPoints: [entry],
        outfile: 'bundle.mjs',
        write: false,
        metafile: true,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        minify: false,
        sourcemap: false,
        charset: 'utf8',
        logLevel: 'silent',
        external: EXTERNAL,
        banner: { js: BANNER },
        define: { __dirname: '__brisk_dirname', __filename: '__brisk_filename' },
        // Either the package's own tsconfig or none: never one discovered above the root.
        ...(hasTsconfig ? { tsconfig: path.join(root, 'tsconfig.json') } : { tsconfigRaw: {} }),
        plugins: [confineToPackage(root)],
      });
    } catch (err) {
      if (isBuildFailure(err)) throw buildFailed(err.errors, root);
      throw err;
    }
    const output = result.outputFiles[0];
    if (output === undefined) throw new BuildError('esbuild produced no output', { entry });
    const code = Buffer.from(output.contents);
    const warnings = [...notes, ...result.warnings.slice(0, MAX_DIAGNOSTICS).map((w) => formatDiagnostic(toDiagnostic(w, root)))];
    if (result.warnings.length > MAX_DIAGNOSTICS) warnings.push(`(and ${result.warnings.length - MAX_DIAGNOSTICS} more warnings)`);
    const exportWarning = checkExport(result.metafile, exportName);
    if (exportWarning !== undefined) warnings.push(exportWarning);
    return { code, codeHash: createHash('sha256').update(code).digest('hex'), exportName, warnings };
  }
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

/** Refuse to load any file outside the package root. */
function confineToPackage(root: string): esbuild.Plugin {
  return {
    name: 'brisk-confine-to-package',
    setup(build) {
      build.onLoad({ filter: /.*/, namespace: 'file' }, (args) => {
        if (args.path.startsWith(root + path.sep)) return undefined; // default loading
        return { errors: [{ text: 'imports must resolve to files inside the package (and its node_modules)' }] };
      });
    },
  };
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
 * Warn (not fail) when an ESM entry visibly lacks the export. A CommonJS entry
 * only exposes `default`, and its real exports are known at run time only.
 */
function checkExport(metafile: esbuild.Metafile, exportName: string): string | undefined {
  const exports = Object.values(metafile.outputs)[0]?.exports ?? [];
  if (exports.includes(exportName) || exports.includes('default')) return undefined;
  return `entry does not export '${exportName}' (exports: ${exports.length > 0 ? exports.join(', ') : 'none'})`;
}
