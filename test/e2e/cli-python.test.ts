import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, tempDir, type Cluster } from '../helpers/cluster.js';
import { pythonAvailable, TEST_PYTHON } from '../helpers/python.js';
import { requireService } from '../helpers/services.js';

/**
 * `brisk deploy app.py` and `brisk package`, as a Python user runs them: the
 * real binary against a real standalone server. pip installs from a local
 * wheel directory (PIP_NO_INDEX + PIP_FIND_LINKS, pip's own settings): no
 * index is reachable here, and `brisk package` must not need one of its own.
 */
const BIN = path.resolve('bin/brisk.js');
const ADMIN_KEY = 'cli-python-admin-key';
const available = requireService('python3 (3.11+) with pip', await pythonAvailable());

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!available)('brisk CLI with Python functions', () => {
  let cluster: Cluster;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const brisk = (...args: string[]): Promise<CliRun> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const file = (rel: string, content: string | Uint8Array): string => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    return p;
  };

  beforeAll(async () => {
    cluster = await startStandalone({ BRISK_ADMIN_KEY: ADMIN_KEY, BRISK_PYTHON: TEST_PYTHON });
    dir = tempDir('cli-py');
    // A wheel as an index would serve it: greet 1.0, pure Python.
    const wheel = zipSync({
      'greet/__init__.py': Buffer.from('def greet(name):\n    return "hello " + name\n'),
      'greet-1.0.dist-info/METADATA': Buffer.from('Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n'),
      'greet-1.0.dist-info/WHEEL': Buffer.from('Wheel-Version: 1.0\nGenerator: brisk-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'),
      'greet-1.0.dist-info/RECORD': Buffer.from('greet/__init__.py,,\ngreet-1.0.dist-info/METADATA,,\ngreet-1.0.dist-info/WHEEL,,\ngreet-1.0.dist-info/RECORD,,\n'),
    });
    file('wheels/greet-1.0-py3-none-any.whl', wheel);
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BRISK_') && !k.startsWith('PIP_')) clean[k] = v;
    env = { ...clean, BRISK_CONFIG: path.join(dir, 'config.json'), PIP_NO_INDEX: '1', PIP_FIND_LINKS: path.join(dir, 'wheels') };
    const login = await brisk('login', '--url', cluster.url, '--key', ADMIN_KEY);
    if (login.code !== 0) throw new Error(`brisk login failed: ${login.stderr}`);
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('deploy app.py: the runtime and handler come from the file; invoke and list show it', async () => {
    file('greeter.py', 'def lambda_handler(event, context):\n    print("greeting", event["name"])\n    return {"greeting": "hi " + event["name"]}\n');
    const d = await brisk('deploy', 'greeter.py');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^ready: greeter v1 /);
    expect(d.stderr).toContain('compiling greeter.py');
    // No `handler` in the file: the runtime's fallback `lambda_handler` is called, and the deploy says so.
    expect(d.stderr).toContain("'lambda_handler' will be called instead");
    const r = await brisk('invoke', 'greeter', '--data', '{"name":"ada"}', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ greeting: 'hi ada' });
    const list = await brisk('list');
    expect(list.stdout).toMatch(/RUNTIME/);
    expect(list.stdout).toMatch(/greeter\s+v1\s+python\s+greeter\.handler/);
  });

  it('a syntax error is refused with file, line and column (exit 2)', async () => {
    file('broken.py', 'def handler(event, context):\n    return {"a": 1\n');
    const d = await brisk('deploy', 'broken.py');
    expect(d.code, d.stderr).toBe(2);
    expect(d.stderr).toMatch(/broken\.py:2:11: SyntaxError: '\{' was never closed/);
  });

  it('brisk package vendors requirements.txt with pip --target into a zip that deploys and runs', async () => {
    file('shop/main.py', 'from greet import greet\n\ndef handler(event, context):\n    return {"text": greet(event["name"])}\n');
    file('shop/requirements.txt', 'greet==1.0\n');
    file('shop/__pycache__/main.cpython-311.pyc', 'stale');
    const p = await brisk('package', 'shop', '--out', 'shop.zip', '--python', TEST_PYTHON);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^packaged: shop\.zip \(\d+ files, /);
    expect(fs.existsSync(path.join(dir, 'shop', 'greet')), 'the user\'s folder is left as it was').toBe(false);
    const d = await brisk('deploy', 'shop.zip', '--runtime', 'python', '--handler', 'main.handler', '--name', 'shop');
    expect(d.code, d.stderr).toBe(0);
    const r = await brisk('invoke', 'shop', '--data', '{"name":"bob"}', '--json');
    expect(JSON.parse(r.stdout)).toEqual({ text: 'hello bob' });
    // A requirement pip cannot find: the package is refused with pip's own words (exit 2).
    file('shop/requirements.txt', 'no-such-package-anywhere==9.9\n');
    const bad = await brisk('package', 'shop', '--python', TEST_PYTHON);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('pip could not vendor requirements.txt');
    expect(bad.stderr).toContain('no-such-package-anywhere');
  });

  it('deploy <folder> of Python files (no package.json) deploys it as Python', async () => {
    file('tool/handler.py', 'import pathlib\n\ndef handler(event, context):\n    return {"motd": pathlib.Path("motd.txt").read_text().strip()}\n');
    file('tool/motd.txt', 'from the folder\n');
    const d = await brisk('deploy', 'tool', '--handler', 'handler.handler');
    expect(d.code, d.stderr).toBe(0);
    const r = await brisk('invoke', 'tool', '--json');
    expect(JSON.parse(r.stdout)).toEqual({ motd: 'from the folder' });
  });
});
