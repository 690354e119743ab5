import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zipSync, strToU8 } from 'fflate';
import { BriskError, BuildError, ValidationError } from '../../core/errors.js';
import { pythonModuleOf } from '../../core/python.js';
import { parsePythonHandler, PythonBuilder } from '../../gateway/deploy/python-build.js';
import { RuntimeCatalog } from '../../gateway/runtimes.js';
import { pythonAvailable, TEST_PYTHON } from '../helpers/python.js';
import { requireService } from '../helpers/services.js';

/** The deploy side of Python: handler names, the compile check (the real interpreter), the runtime catalog. */
const available = requireService('python3 (3.11+)', await pythonAvailable());

describe('Python handler names', () => {
  it('module.function, with / or . between packages; index by default', () => {
    expect(parsePythonHandler('lambda_function.lambda_handler')).toEqual({ module: 'lambda_function', files: ['lambda_function.py', 'lambda_function/__init__.py'], exportName: 'lambda_handler' });
    expect(parsePythonHandler('src/app.handler')).toMatchObject({ module: 'src.app', files: ['src/app.py', 'src/app/__init__.py'] });
    expect(parsePythonHandler('src.app.handler')).toMatchObject({ module: 'src.app' });
    expect(parsePythonHandler('main')).toMatchObject({ module: 'index', exportName: 'main' });
    for (const bad of ['../x.handler', 'a-b.handler', 'x.', '1x.handler', 'x..y', '']) {
      expect(() => parsePythonHandler(bad), bad).toThrow(ValidationError);
    }
    // The executor's view of the same names (core/python.ts) agrees.
    expect(pythonModuleOf('src/app.handler')).toBe('src.app');
    expect(pythonModuleOf('lambda_function.lambda_handler')).toBe('lambda_function');
    expect(pythonModuleOf('handler')).toBe('index');
  });
});

describe.skipIf(!available)('PythonBuilder (compile at deploy)', () => {
  let tmp: string;
  let builder: PythonBuilder;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'brisk-pybuild-test-'));
    builder = new PythonBuilder({ python: TEST_PYTHON, maxUnpackedBytes: 10 * 2 ** 20, maxFiles: 100, tmpDir: tmp });
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a source: its bytes are the code, the same source the same hash', async () => {
    const src = 'def handler(event, context):\n    return 1\n';
    const a = await builder.buildSource(src, 'index.handler');
    const b = await builder.buildSource(src, 'index.handler');
    expect(a.code.toString('utf8')).toBe(src);
    expect(a.codeHash).toBe(b.codeHash);
    expect(a).toMatchObject({ exportName: 'handler', warnings: [] });
    expect(a.files).toBeUndefined();
  });

  it('a syntax error is BUILD_FAILED with file, line, 0-based column and the line', async () => {
    const err = await builder.buildSource('import os\n\ndef handler(event, context)\n    return 1\n', 'app.handler').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect(err).toMatchObject({ code: 'BUILD_FAILED', status: 400 });
    const d = (err as BuildError).data as { errors: { file: string; line: number; column: number; text: string; lineText: string }[] };
    expect(d.errors).toEqual([{ file: 'app.py', line: 3, column: 27, text: "SyntaxError: expected ':'", lineText: 'def handler(event, context)' }]);
  });

  it('the handler: missing is HANDLER_NOT_FOUND; a fallback name is a warning; a * import or a conditional definition is left to run time', async () => {
    await expect(builder.buildSource('def other(e, c):\n    pass\n', 'index.handler')).rejects.toMatchObject({ code: 'HANDLER_NOT_FOUND' });
    expect((await builder.buildSource('def main(args):\n    return args\n', 'index.handler')).warnings).toEqual(["index.py does not define 'handler'; 'main' will be called instead"]);
    expect((await builder.buildSource('from impl import *\n', 'index.handler')).warnings).toEqual([]);
    expect((await builder.buildSource('import os\nif os.environ.get("X"):\n    def handler(e, c):\n        pass\n', 'index.handler')).warnings).toEqual([]);
    expect((await builder.buildSource('from impl import handler\n', 'index.handler')).warnings).toEqual([]);
    expect((await builder.buildSource('handler = lambda e, c: 1\n', 'index.handler')).warnings).toEqual([]);
  });

  it('an archive: the entry module found, the own modules compiled, vendored distributions left alone, every file packed', async () => {
    const zip = Buffer.from(
      zipSync({
        'app/__init__.py': strToU8(''),
        'app/main.py': strToU8('from lib import x\ndef handler(e, c):\n    return x\n'),
        'vendored/__init__.py': strToU8('print "python 2 only"\n'),
        'vendored-1.0.dist-info/RECORD': strToU8('vendored/__init__.py,sha256=x,10\n'),
        'data.txt': strToU8('data'),
      }),
    );
    const out = await builder.buildArchive(zip, 'zip', 'app/main.handler');
    expect(out.code.toString('utf8')).toContain('def handler');
    expect(out.files?.count).toBe(5);
    const broken = Buffer.from(zipSync({ 'app/main.py': strToU8('def handler(e, c):\n    return 1\n'), 'app/util.py': strToU8('x = (\n') }));
    await expect(builder.buildArchive(broken, 'zip', 'app/main.handler')).rejects.toMatchObject({ code: 'BUILD_FAILED', data: { errors: [{ file: 'app/util.py', line: 1 }] } });
    await expect(builder.buildArchive(zip, 'zip', 'nope.handler')).rejects.toMatchObject({ code: 'HANDLER_FILE_NOT_FOUND' });
  });
});

describe('RuntimeCatalog', () => {
  const catalog = new RuntimeCatalog({ python: TEST_PYTHON, allowImages: ['team-a'] });

  it('refuses unknown runtimes (INVALID_RUNTIME) and images outside BRISK_ALLOW_IMAGES (403 IMAGES_NOT_ALLOWED)', async () => {
    await expect(catalog.check('default', 'ruby', undefined)).rejects.toMatchObject({ code: 'INVALID_RUNTIME', status: 400 });
    await expect(catalog.check('default', 'nodejs', 'x:1')).rejects.toMatchObject({ code: 'INVALID_RUNTIME' });
    const denied = await catalog.check('default', 'image', 'x:1').catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(BriskError);
    expect(denied).toMatchObject({ code: 'IMAGES_NOT_ALLOWED', status: 403 });
    await expect(catalog.check('team-a', 'image', undefined)).rejects.toMatchObject({ code: 'INVALID_RUNTIME' });
    await expect(catalog.check('team-a', 'image', 'Not A Ref')).rejects.toMatchObject({ code: 'INVALID_RUNTIME' });
    expect(await catalog.check('team-a', 'image', 'registry.example.com:5000/team/fn:1.2')).toEqual({ runtime: 'image', image: 'registry.example.com:5000/team/fn:1.2' });
    expect(await catalog.check('default', undefined, undefined)).toEqual({ runtime: 'nodejs' });
    expect(await new RuntimeCatalog({ python: '*', allowImages: ['*'] }).check('any', 'image', 'fn:1')).toEqual({ runtime: 'image', image: 'fn:1' });
  });

  it('python is offered only when its interpreter runs', async () => {
    const none = new RuntimeCatalog({ python: '/nonexistent/python3', allowImages: [] });
    await expect(none.check('default', 'python', undefined)).rejects.toMatchObject({ code: 'INVALID_RUNTIME' });
    expect((await none.list('default'))[1]).toMatchObject({ name: 'python', available: false });
    if (available) expect((await catalog.list('default'))[1]).toMatchObject({ name: 'python', available: true, version: expect.stringMatching(/^3\./) });
  });
});
