import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BuildError, ValidationError } from '../../core/errors.js';
import { Bundler, parseHandler, type BundleOutput } from '../../gateway/deploy/bundler.js';
import { PACKAGE_ROOT_KEY } from '../../runtime/protocol.js';
import { tgzOf, tgzOfTree, zipOf, type FileTree } from '../fixtures/archives.js';

const MiB = 1024 * 1024;

let work: string;
let tmpDir: string;
let bundler: Bundler;
let loaded = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'brisk-bundler-test-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  // A private parent for the bundler's temp dirs, so the tests can see they are removed.
  tmpDir = await mkdtemp(path.join(work, 'tmp-'));
  bundler = new Bundler({ maxUnpackedBytes: 50 * MiB, maxFiles: 1000, tmpDir });
});

/** Import a bundle the way the runtime does: as an ESM file. */
async function load(bundle: BundleOutput): Promise<Record<string, unknown>> {
  const file = path.join(work, `bundle-${++loaded}.mjs`);
  await writeFile(file, bundle.code);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** The handler as the runtime finds it: a named export, or on `default` for CommonJS. */
async function handlerOf(bundle: BundleOutput): Promise<(...args: unknown[]) => unknown> {
  const mod = await load(bundle);
  const fromDefault = (mod['default'] as Record<string, unknown> | undefined)?.[bundle.exportName];
  const fn = mod[bundle.exportName] ?? fromDefault;
  expect(typeof fn).toBe('function');
  return fn as (...args: unknown[]) => unknown;
}

async function buildError(promise: Promise<unknown>): Promise<BuildError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BuildError);
  return err as BuildError;
}

async function expectTmpDirEmpty(): Promise<void> {
  expect(await readdir(tmpDir)).toEqual([]);
}

describe('parseHandler', () => {
  it('splits file and export at the last dot', () => {
    expect(parseHandler('index.handler')).toEqual({ file: 'index', exportName: 'handler' });
    expect(parseHandler('handler')).toEqual({ file: undefined, exportName: 'handler' });
    expect(parseHandler('src/app.v2.main')).toEqual({ file: 'src/app.v2', exportName: 'main' });
    expect(parseHandler('src/@scope/my-app.$run')).toEqual({ file: 'src/@scope/my-app', exportName: '$run' });
  });

  it.each(['', 'index.', '.handler', 'index.1abc', '../x.handler', 'src/../x.handler', '/abs.handler', 'src//a.h', 'a\\b.h', 'index.hand-ler', '.hidden/x.h', 'x'.repeat(300)])(
    'rejects %j with INVALID_HANDLER',
    (h) => {
      let err: unknown;
      try {
        parseHandler(h);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).code).toBe('INVALID_HANDLER');
    },
  );
});

describe('Bundler.bundleSource', () => {
  it('bundles TypeScript with types, generics and builtins', async () => {
    const source = [
      "import { createHash } from 'node:crypto';",
      "import os from 'os';",
      'interface Event { name: string; times?: number }',
      'type Result<T> = { ok: true; value: T };',
      'function wrap<T>(value: T): Result<T> { return { ok: true, value }; }',
      'export async function handler(event: Event): Promise<Result<string>> {',
      "  const digest = createHash('sha1').update(event.name).digest('hex').slice(0, 6);",
      "  return wrap(`${event.name.repeat(event.times ?? 1)}:${digest}:${typeof os.cpus}`);",
      '}',
    ].join('\n');
    const bundle = await bundler.bundleSource(source, 'index.handler');
    expect(bundle.exportName).toBe('handler');
    expect(bundle.warnings).toEqual([]);
    expect(bundle.codeHash).toBe(createHash('sha256').update(bundle.code).digest('hex'));
    const handler = await handlerOf(bundle);
    const digest = createHash('sha1').update('ab').digest('hex').slice(0, 6);
    expect(await handler({ name: 'ab', times: 2 })).toEqual({ ok: true, value: `abab:${digest}:function` });
    await expectTmpDirEmpty();
  });

  it('bundles CommonJS (exports.handler) — the runtime finds it on default', async () => {
    const source = "const path = require('path');\nexports.handler = async (e) => path.posix.join('a', e.x);\n";
    const bundle = await bundler.bundleSource(source, 'handler');
    expect(bundle.exportName).toBe('handler');
    const mod = await load(bundle);
    const fn = (mod['default'] as { handler: (e: { x: string }) => Promise<string> }).handler;
    expect(await fn({ x: 'b' })).toBe('a/b');
  });

  it('bundles CommonJS (module.exports = { main })', async () => {
    const source = "function main(e) { return { doubled: e * 2, fs: typeof require('node:fs').readFileSync }; }\nmodule.exports = { main };\n";
    const bundle = await bundler.bundleSource(source, 'index.main');
    expect(bundle.exportName).toBe('main');
    expect(await (await handlerOf(bundle))(21)).toEqual({ doubled: 42, fs: 'function' });
  });

  it("does not collide with the user's own __dirname / require declarations", async () => {
    const source = [
      "import { createRequire } from 'node:module';",
      "import { fileURLToPath } from 'node:url';",
      "import { dirname } from 'node:path';",
      'const __filename = fileURLToPath(import.meta.url);',
      'const __dirname = dirname(__filename);',
      'const require = createRequire(import.meta.url);',
      "export const handler = () => ({ dir: __dirname, file: __filename, os: typeof require('os').platform });",
    ].join('\n');
    const bundle = await bundler.bundleSource(source, 'index.handler');
    const result = (await (await handlerOf(bundle))()) as { dir: string; file: string; os: string };
    // Without a package root the bundle's directory stands in for it; import.meta.url names the source file there.
    expect(result.dir).toBe(work);
    expect(result.file).toBe(path.join(work, 'index.ts'));
    expect(result.os).toBe('function');
  });

  it('gives the same bytes and hash for the same source', async () => {
    const source = 'export const handler = (e: { n: number }) => e.n + 1;';
    const a = await bundler.bundleSource(source, 'index.handler');
    const b = await new Bundler({ maxUnpackedBytes: MiB, maxFiles: 10, tmpDir: work }).bundleSource(source, 'index.handler');
    expect(b.codeHash).toBe(a.codeHash);
    expect(b.code.equals(a.code)).toBe(true);
    expect(a.code.toString()).not.toContain(work);
    expect(a.code.toString()).not.toContain('brisk-bundle-');
    const c = await bundler.bundleSource(source.replace('+ 1', '+ 2'), 'index.handler');
    expect(c.codeHash).not.toBe(a.codeHash);
  });

  it('reports a syntax error with file, line, column and line text', async () => {
    const err = await buildError(bundler.bundleSource('export const handler = () => {\n  return 1 +;\n};\n', 'index.handler'));
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.status).toBe(400);
    const errors = err.data?.['errors'] as Array<Record<string, unknown>>;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: 'index.ts', line: 2, column: 12, lineText: '  return 1 +;' });
    expect(errors[0]?.['text']).toMatch(/Unexpected ";"/);
    expect(err.message).toBe(`index.ts:2:12: ${String(errors[0]?.['text'])}`);
    await expectTmpDirEmpty();
  });

  it('reports an unresolved package import', async () => {
    const err = await buildError(bundler.bundleSource("import leftpad from 'leftpad';\nexport const handler = () => leftpad('a', 3);\n", 'index.handler'));
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.message).toMatch(/Could not resolve "leftpad"/);
    expect(err.data?.['errors']).toEqual([expect.objectContaining({ file: 'index.ts', line: 1, lineText: "import leftpad from 'leftpad';" })]);
    await expectTmpDirEmpty();
  });

  it('reports an unresolved relative import (a single source has no siblings)', async () => {
    const err = await buildError(bundler.bundleSource("import { x } from './util';\nexport const handler = () => x;\n", 'index.handler'));
    expect(err.message).toMatch(/Could not resolve "\.\/util"/);
  });

  it('rejects a handler naming another file', async () => {
    await expect(bundler.bundleSource('export const h = 1;', 'app.h')).rejects.toMatchObject({ code: 'INVALID_HANDLER', status: 400 });
    await expect(bundler.bundleSource('export const h = 1;', 'index.')).rejects.toBeInstanceOf(ValidationError);
  });

  it("passes esbuild's warnings through with their location", async () => {
    const bundle = await bundler.bundleSource("export const handler = (x: unknown) => typeof x === 'bogus';\n", 'index.handler');
    expect(bundle.warnings).toHaveLength(1);
    expect(bundle.warnings[0]).toMatch(/^index\.ts:1:\d+: The "typeof" operator will never evaluate to "bogus"/);
  });

  it('warns when an ESM entry lacks the export but has a fallback the runtime will call', async () => {
    const bundle = await bundler.bundleSource('export const main = () => 1;', 'index.handler');
    expect(bundle.warnings).toEqual(["entry does not export 'handler'; 'main' will be called instead (exports: main)"]);
    const dflt = await bundler.bundleSource('export default () => 1;', 'index.run');
    expect(dflt.warnings).toEqual(["entry does not export 'run'; its default export will be called (exports: default)"]);
  });
});

/** A package with a relative import, a type-only import and a CommonJS dependency in node_modules. */
const pkg: FileTree = {
  'package.json': JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'module', dependencies: { leftpad: '1.0.0' } }),
  'src/types.ts': 'export interface Greeting { message: string; eol: string }\n',
  'src/util.ts': 'export const shout = (s: string): string => s.toUpperCase();\n',
  'src/index.ts': [
    "import type { Greeting } from './types';",
    "import { shout } from './util';",
    "import leftpad from 'leftpad';",
    'export async function handler(event: { name: string }): Promise<Greeting> {',
    "  return { message: leftpad(shout(`hi ${event.name}`), 12, '*'), eol: leftpad.eol };",
    '}',
  ].join('\n'),
  'node_modules/leftpad/package.json': JSON.stringify({ name: 'leftpad', version: '1.0.0', main: 'index.js' }),
  // CommonJS requiring a builtin: only works in the ESM bundle thanks to the createRequire banner.
  'node_modules/leftpad/index.js': [
    "const os = require('os');",
    'module.exports = function leftpad(s, n, c) { while (s.length < n) s = c + s; return s; };',
    'module.exports.eol = JSON.stringify(os.EOL);',
  ].join('\n'),
};

describe('Bundler.bundleArchive', () => {
  it('bundles a zip package (relative + type-only imports, node_modules dependency) into a runnable module', async () => {
    const bundle = await bundler.bundleArchive(zipOf(pkg), 'zip', 'src/index.handler');
    expect(bundle.exportName).toBe('handler');
    expect(bundle.warnings).toEqual([]);
    expect(bundle.code.toString()).not.toMatch(/from ['"]leftpad['"]/); // inlined, not external
    expect(await (await handlerOf(bundle))({ name: 'bo' })).toEqual({ message: '*******HI BO', eol: '"\\n"' });
    await expectTmpDirEmpty();
  });

  it('bundles the same package as a tgz, to the very same bytes', async () => {
    const fromZip = await bundler.bundleArchive(zipOf(pkg), 'zip', 'src/index.handler');
    const fromTgz = await bundler.bundleArchive(tgzOfTree(pkg), 'tgz', 'src/index.handler');
    // A second extraction lands in a different temp dir; the hash must not notice.
    const again = await bundler.bundleArchive(tgzOfTree(pkg), 'tgz', 'src/index.handler');
    expect(fromTgz.codeHash).toBe(fromZip.codeHash);
    expect(again.codeHash).toBe(fromTgz.codeHash);
    expect(await (await handlerOf(fromTgz))({ name: 'x' })).toEqual({ message: '********HI X', eol: '"\\n"' });
    await expectTmpDirEmpty();
  });

  it('accepts a GitHub-style tarball with one top-level folder, and says so', async () => {
    const entries = Object.entries(pkg).map(([name, body]) => ({ name: `greeter-1a2b3c/${name}`, body }));
    const bundle = await bundler.bundleArchive(tgzOf(entries), 'tgz', 'src/index.handler');
    expect(bundle.warnings).toEqual(["archive: stripped the single top-level folder 'greeter-1a2b3c/'"]);
    const direct = await bundler.bundleArchive(zipOf(pkg), 'zip', 'src/index.handler');
    expect(bundle.codeHash).toBe(direct.codeHash);
  });

  it('resolves a handler to dir/index.* and to other extensions', async () => {
    const files: FileTree = {
      'package.json': '{}',
      'src/app/index.mjs': 'export const run = () => "from app/index.mjs";',
      'lib/legacy.cjs': 'module.exports.go = () => "from legacy.cjs";',
      'index.js': 'export const handler = () => "root index";',
    };
    const archive = zipOf(files);
    expect(await (await handlerOf(await bundler.bundleArchive(archive, 'zip', 'src/app.run')))()).toBe('from app/index.mjs');
    expect(await (await handlerOf(await bundler.bundleArchive(archive, 'zip', 'lib/legacy.go')))()).toBe('from legacy.cjs');
    expect(await (await handlerOf(await bundler.bundleArchive(archive, 'zip', 'handler')))()).toBe('root index');
  });

  it('fails with HANDLER_FILE_NOT_FOUND when the entry file is missing', async () => {
    const err = await buildError(bundler.bundleArchive(zipOf(pkg), 'zip', 'src/missing.handler'));
    expect(err.code).toBe('HANDLER_FILE_NOT_FOUND');
    expect(err.status).toBe(400);
    expect(err.data).toMatchObject({ handler: 'src/missing.handler' });
    expect(err.data?.['tried']).toContain('src/missing.ts');
    await expectTmpDirEmpty();
  });

  it('reports build errors with the path inside the package', async () => {
    const broken = { ...pkg, 'src/util.ts': 'export const shout = (s: string): string => s.toUpperCase(;\n' };
    const err = await buildError(bundler.bundleArchive(zipOf(broken), 'zip', 'src/index.handler'));
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.data?.['errors']).toEqual([expect.objectContaining({ file: 'src/util.ts', line: 1 })]);

    const missingDep = { ...pkg, 'src/util.ts': "import 'not-installed';\nexport const shout = (s: string) => s;\n" };
    const err2 = await buildError(bundler.bundleArchive(zipOf(missingDep), 'zip', 'src/index.handler'));
    expect(err2.message).toMatch(/^src\/util\.ts:1:7: Could not resolve "not-installed"/);
    await expectTmpDirEmpty();
  });

  it('refuses imports that resolve outside the package', async () => {
    // The bundler's temp dirs live in tmpDir, so '../secret.js' from the package root points here.
    await writeFile(path.join(tmpDir, 'secret.js'), 'export const secret = "host file";');
    const escaping = { 'package.json': '{}', 'index.ts': "import { secret } from '../secret.js';\nexport const handler = () => secret;\n" };
    const err = await buildError(bundler.bundleArchive(zipOf(escaping), 'zip', 'index.handler'));
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.message).toMatch(/inside the package/);
    expect(JSON.stringify(err.data)).not.toContain('host file');
    expect(await readdir(tmpDir)).toEqual(['secret.js']);
  });

  it('ignores a node_modules or tsconfig.json above the package root', async () => {
    await mkdir(path.join(tmpDir, 'node_modules', 'hostdep'), { recursive: true });
    await writeFile(path.join(tmpDir, 'node_modules', 'hostdep', 'index.js'), 'module.exports = "host";');
    const viaNodeModules = await buildError(
      bundler.bundleArchive(zipOf({ 'index.ts': "import h from 'hostdep';\nexport const handler = () => h;\n" }), 'zip', 'index.handler'),
    );
    expect(viaNodeModules.message).toMatch(/inside the package/);

    // esbuild would normally discover this tsconfig by walking up from the package.
    await writeFile(path.join(tmpDir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { baseUrl: '.', paths: { magic: ['./magic.ts'] } } }));
    await writeFile(path.join(tmpDir, 'magic.ts'), 'export default "host";');
    const viaTsconfig = await buildError(
      bundler.bundleArchive(zipOf({ 'index.ts': "import m from 'magic';\nexport const handler = () => m;\n" }), 'zip', 'index.handler'),
    );
    expect(viaTsconfig.message).toMatch(/Could not resolve "magic"/);
    expect((await readdir(tmpDir)).sort()).toEqual(['magic.ts', 'node_modules', 'tsconfig.json']);
  });

  it("honours the package's own tsconfig.json (paths)", async () => {
    const files: FileTree = {
      'package.json': '{}',
      'tsconfig.json': JSON.stringify({ compilerOptions: { baseUrl: '.', paths: { '@lib/*': ['lib/*'] } } }),
      'lib/answer.ts': 'export const answer = 42;',
      'index.ts': "import { answer } from '@lib/answer';\nexport const handler = () => answer;\n",
    };
    const bundle = await bundler.bundleArchive(zipOf(files), 'zip', 'index.handler');
    expect(await (await handlerOf(bundle))()).toBe(42);
  });

  it('passes archive rejections through, and still cleans up', async () => {
    const evil = zipOf({ 'package.json': '{}', '../evil.js': 'x' });
    await expect(bundler.bundleArchive(evil, 'zip', 'index.handler')).rejects.toMatchObject({ code: 'ARCHIVE_PATH_TRAVERSAL' });
    const tiny = new Bundler({ maxUnpackedBytes: 100, maxFiles: 1000, tmpDir });
    await expect(tiny.bundleArchive(zipOf(pkg), 'zip', 'src/index.handler')).rejects.toMatchObject({ code: 'ARCHIVE_TOO_LARGE' });
    await expect(bundler.bundleArchive(Buffer.from('not an archive'), 'tgz', 'index.handler')).rejects.toMatchObject({ code: 'ARCHIVE_INVALID' });
    await expectTmpDirEmpty();
  });

  it('rejects a malformed handler before touching the archive', async () => {
    await expect(bundler.bundleArchive(zipOf(pkg), 'zip', 'src/../x.handler')).rejects.toMatchObject({ code: 'INVALID_HANDLER' });
    await expectTmpDirEmpty();
  });
});

/**
 * Run a bundle the way the runtime does: its package files unpacked into a
 * directory, the bundle imported with that directory as its `root`, the
 * handler found and called by the runtime's own functions.
 */
async function runPackaged(bundle: BundleOutput, event: unknown = {}): Promise<unknown> {
  const { extractArchive } = await import('../../core/archive.js');
  const { invokeHandler, resolveHandler } = await import('../../runtime/handler.js');
  const pkg = path.join(work, `pkg-${++loaded}`);
  await mkdir(pkg);
  if (bundle.files) await extractArchive(bundle.files.archive, 'tgz', pkg, { maxUnpackedBytes: 50 * MiB, maxFiles: 10_000, hoistTopFolder: false });
  const file = path.join(work, `bundle-${loaded}.mjs`);
  await writeFile(file, bundle.code);
  const key = Symbol.for(PACKAGE_ROOT_KEY);
  (globalThis as Record<symbol, unknown>)[key] = pkg;
  let mod: unknown;
  try {
    mod = await import(pathToFileURL(file).href);
  } finally {
    delete (globalThis as Record<symbol, unknown>)[key];
  }
  const h = resolveHandler(mod, bundle.exportName);
  if (h === undefined) throw new Error(`no handler '${bundle.exportName}' in ${JSON.stringify(Object.keys(mod as object))}`);
  return invokeHandler(h, event, {});
}

describe('Node built-ins and npm polyfills named like them', () => {
  it("bundles `require('process/')` (the npm package) while `require('process')` stays the built-in", async () => {
    const files: FileTree = {
      'package.json': JSON.stringify({ name: 'uses-polyfills', dependencies: { process: '0.11.10', events: '3.3.0' } }),
      'node_modules/process/package.json': JSON.stringify({ name: 'process', version: '0.11.10', main: './index.js', browser: './browser.js' }),
      'node_modules/process/index.js': "module.exports = { polyfill: 'process', nextTick: (fn) => fn() };",
      'node_modules/events/package.json': JSON.stringify({ name: 'events', version: '3.3.0', main: './events.js' }),
      'node_modules/events/events.js': "module.exports = { polyfill: 'events' };",
      'index.js': [
        "const polyfill = require('process/');",
        "const events = require('events/');",
        "const builtin = require('process');",
        "const { EventEmitter } = require('events');",
        'exports.handler = async () => ({ polyfill: polyfill.polyfill, events: events.polyfill, builtinPid: typeof builtin.pid, emitter: typeof EventEmitter });',
      ].join('\n'),
    };
    const bundle = await bundler.bundleArchive(zipOf(files), 'zip', 'index.handler');
    expect(bundle.code.toString()).not.toMatch(/__require\("process\/"\)|__require\("events\/"\)/);
    expect(await runPackaged(bundle)).toEqual({ polyfill: 'process', events: 'events', builtinPid: 'number', emitter: 'function' });
  });
});

describe('package files beside the bundle', () => {
  const app: FileTree = {
    'package.json': JSON.stringify({ name: 'renderer', version: '1.0.0' }),
    'templates/page.html': '<h1>{{title}}</h1>',
    'data/colors.json': '["red","green"]',
    'src/lib/render.js': [
      "const fs = require('fs'); const path = require('path');",
      "exports.render = (title) => fs.readFileSync(path.join(__dirname, '../../templates/page.html'), 'utf8').replace('{{title}}', title);",
      'exports.where = () => __filename;',
    ].join('\n'),
    'src/esm.mjs': "import { readFileSync } from 'node:fs';\nexport const colors = () => JSON.parse(readFileSync(new URL('../data/colors.json', import.meta.url), 'utf8'));\n",
    // A dependency reading its own data file through __dirname, as pdfkit and friends do.
    'node_modules/fonts/package.json': JSON.stringify({ name: 'fonts', main: 'lib/index.js' }),
    'node_modules/fonts/lib/index.js': "module.exports = () => require('fs').readFileSync(require('path').join(__dirname, '..', 'data', 'font.afm'), 'utf8');",
    'node_modules/fonts/data/font.afm': 'StartFontMetrics 4.1',
    'src/index.ts': [
      "import path from 'node:path';",
      "import { render, where } from './lib/render.js';",
      "import { colors } from './esm.mjs';",
      "import font from 'fonts';",
      'export const handler = async () => ({',
      "  page: render('Hi'),",
      '  colors: colors(),',
      '  font: font(),',
      "  self: path.relative(process.cwd(), __filename),",
      '  renderFile: where(),',
      "  templateFromDir: require('fs').existsSync(path.join(__dirname, '..', 'templates', 'page.html')),",
      '});',
    ].join('\n'),
  };

  it("ships every file of the archive, and each module's __dirname / import.meta.url names its own place in the package", async () => {
    const bundle = await bundler.bundleArchive(zipOf(app), 'zip', 'src/index.handler');
    expect(bundle.files?.count).toBe(Object.keys(app).length);
    const before = process.cwd();
    try {
      const pkgRoot = path.join(work, `pkg-${loaded + 1}`);
      const r = (await runPackaged(bundle)) as Record<string, unknown>;
      expect(r).toMatchObject({ page: '<h1>Hi</h1>', colors: ['red', 'green'], font: 'StartFontMetrics 4.1', templateFromDir: true });
      expect(r['renderFile']).toBe(path.join(pkgRoot, 'src/lib/render.js'));
    } finally {
      process.chdir(before);
    }
  });

  it('packs the same package to the same bytes, from a zip or a tgz, and a changed template changes the hash', async () => {
    const a = await bundler.bundleArchive(zipOf(app), 'zip', 'src/index.handler');
    const b = await bundler.bundleArchive(tgzOfTree(app), 'tgz', 'src/index.handler');
    expect(b.files?.hash).toBe(a.files?.hash);
    expect(b.codeHash).toBe(a.codeHash);
    const c = await bundler.bundleArchive(zipOf({ ...app, 'templates/page.html': '<h2>{{title}}</h2>' }), 'zip', 'src/index.handler');
    expect(c.codeHash).toBe(a.codeHash); // the bundle itself did not change …
    expect(c.files?.hash).not.toBe(a.files?.hash); // … but its files did
    await expectTmpDirEmpty();
  });

  it('resolves a dynamic require of a shipped file at run time', async () => {
    const files: FileTree = {
      'package.json': '{}',
      'routes/a.js': "module.exports = 'route a';",
      'routes/b.js': "module.exports = 'route b';",
      'index.js': "const fs = require('fs'); const path = require('path');\nexports.handler = () => fs.readdirSync(path.join(__dirname, 'routes')).sort().map((f) => require('./routes/' + f));\n",
    };
    const bundle = await bundler.bundleArchive(zipOf(files), 'zip', 'index.handler');
    expect(await runPackaged(bundle)).toEqual(['route a', 'route b']);
  });

  it('a single source has no package files', async () => {
    expect((await bundler.bundleSource('export const handler = () => 1;', 'index.handler')).files).toBeUndefined();
  });
});

describe('OpenWhisk action forms', () => {
  // The shapes OpenWhisk's Node.js runtime accepts for `main` (and custom names).
  it.each([
    ['a bare top-level function', 'function main(params) { return { greeting: `Hello ${params.name}` }; }', 'main'],
    ['a bare function using require', "const os = require('os');\nfunction main(params) { return { greeting: `Hello ${params.name}`, eol: os.EOL.length }; }", 'main'],
    ['a custom name', 'function greet(params) {\n  return { greeting: `Hello ${params.name}` };\n}\n', 'greet'],
    ['a promise', 'function main(params) { return new Promise((resolve) => setTimeout(() => resolve({ greeting: `Hello ${params.name}` }), 1)); }', 'main'],
    ['global.main (webpacked)', 'function run(params) { return { greeting: `Hello ${params.name}` }; }\nglobal.main = run;\n', 'main'],
    ['module.exports = main', 'function main(params) { return { greeting: `Hello ${params.name}` }; }\nmodule.exports = main;\n', 'main'],
    ['module.exports.main', 'module.exports.main = (params) => ({ greeting: `Hello ${params.name}` });', 'main'],
    ['exports.main', 'exports.main = async function (params) { return { greeting: `Hello ${params.name}` }; };', 'main'],
    ['a var holding an arrow function', 'var main = (params) => ({ greeting: `Hello ${params.name}` });', 'main'],
  ])('%s', async (_label, source, handler) => {
    const bundle = await bundler.bundleSource(source, handler);
    expect(bundle.warnings).toEqual([]);
    expect(await runPackaged(bundle, { name: 'Ada' })).toMatchObject({ greeting: 'Hello Ada' });
  });

  it("a zip whose package.json names the entry (handler 'main', no index.js)", async () => {
    const files: FileTree = {
      'package.json': JSON.stringify({ name: 'ow-zip', main: './lib/action' }),
      'lib/action.js': "const { greet } = require('./greet');\nfunction main(params) { return { greeting: greet(params.name) }; }\nexports.main = main;\n",
      'lib/greet.js': 'exports.greet = (n) => `Hello ${n}`;',
    };
    const bundle = await bundler.bundleArchive(zipOf(files), 'zip', 'main');
    expect(await runPackaged(bundle, { name: 'Ada' })).toEqual({ greeting: 'Hello Ada' });
    // An explicit file still wins over package.json.
    await expect(bundler.bundleArchive(zipOf(files), 'zip', 'index.main')).rejects.toMatchObject({ code: 'HANDLER_FILE_NOT_FOUND' });
  });

  it('keeps an ES module as it is (the appended line does nothing there)', async () => {
    const bundle = await bundler.bundleSource('export function main(p) { return { ok: p.n }; }\nconst handler = 5;\n', 'main');
    expect(bundle.warnings).toEqual([]);
    expect(await runPackaged(bundle, { n: 1 })).toEqual({ ok: 1 });
  });
});

describe('handler checks at deploy', () => {
  it('refuses an ES module that exports none of the names (HANDLER_NOT_FOUND, 400)', async () => {
    const err = await buildError(bundler.bundleSource('import os from "node:os";\nfunction handler() { return os.EOL; }\nexport const other = 1;\n', 'index.handler'));
    expect(err.code).toBe('HANDLER_NOT_FOUND');
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/does not export it \(exports: other\)/);
    await expectTmpDirEmpty();
  });

  it('refuses a script that never mentions the handler', async () => {
    const err = await buildError(bundler.bundleSource('function helper(p) { return p; }\n', 'index.run'));
    expect(err.code).toBe('HANDLER_NOT_FOUND');
    expect(err.message).toMatch(/neither exports nor declares 'run', 'handler', 'main'/);
  });

  it('a handler named like a keyword is looked up as an export only', async () => {
    const bundle = await bundler.bundleSource('export default async () => "dflt";', 'index.default');
    expect(await runPackaged(bundle)).toBe('dflt');
  });

  it('reports a syntax error in a module that uses __dirname with its place in the file', async () => {
    const err = await buildError(bundler.bundleSource("const p = __dirname;\nexport const handler = () => {\n  return 1 +;\n};\n", 'index.handler'));
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.data?.['errors']).toEqual([expect.objectContaining({ file: 'index.ts', line: 3, lineText: '  return 1 +;' })]);
  });

  it('lets CommonJS through (its exports are known at run time only)', async () => {
    const bundle = await bundler.bundleSource('module.exports = async () => 7;', 'index.handler');
    expect(bundle.warnings).toEqual([]);
    expect(await runPackaged(bundle)).toBe(7);
  });
});
