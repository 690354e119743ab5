import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, tempDir, waitForExecutors, type Cluster } from '../helpers/cluster.js';
import { waitFor as poll } from '../helpers/wait.js';

/**
 * The `brisk` client, tested as users run it: the real binary (`node
 * bin/brisk.js …`, built into dist/ first) against a real standalone server,
 * with its own config file (BRISK_CONFIG) in a temp dir. Checks stdout,
 * stderr and the exit codes scripts rely on.
 */

const BIN = path.resolve('bin/brisk.js');
/** Every real mode runs with an admin key; the CLI logs in with it. */
const ADMIN_KEY = 'cli-test-admin-key';
/** For tests that run the binary many times: each run loads the whole CLI (about a second on a busy machine). */
const SLOW_TEST_MS = 180_000;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of every run: the parent's, minus anything that would steer the client. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BRISK_')) env[k] = v;
  return { ...env, ...extra };
}

function spawnCli(args: string[], env: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: cleanEnv(env), stdio: [stdin, 'pipe', 'pipe'] });
}

function runCli(args: string[], env: Record<string, string>, opts: { input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child = spawnCli(args, env, opts.input !== undefined ? 'pipe' : 'ignore');
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`brisk ${args.join(' ')} did not exit in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  await poll(check, timeoutMs, 50).catch(() => {
    throw new Error(`timed out waiting for ${what}`);
  });
}

describe('brisk CLI against a standalone server', () => {
  let cluster: Cluster;
  let dir: string;
  let env: Record<string, string>;
  const brisk = (...args: string[]): Promise<CliRun> => runCli(args, env);
  const file = (rel: string, content: string): string => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    return p;
  };

  beforeAll(async () => {
    cluster = await startStandalone({ BRISK_ADMIN_KEY: ADMIN_KEY, BRISK_SECRET_KEY: 'cli-test-secret-key-0123456789' });
    dir = tempDir('cli');
    env = { BRISK_CONFIG: path.join(dir, 'home', 'brisk', 'config.json') };
    file('sum.ts', "export const handler = async (e: { a: number; b: number }) => { console.log('adding', e.a, e.b); return { sum: e.a + e.b }; };\n");
    file('boom.js', "export const handler = async () => { throw new TypeError('kaboom'); };\n");
    file('broken.js', 'export const handler = async () => {\n  return {;\n};\n');
    // A package with a dependency in node_modules, an entry under src/, and a .git folder that must stay home.
    file('app/package.json', '{ "name": "app", "type": "module" }\n');
    file('app/src/index.js', "import pad from 'leftpad';\nexport const handler = async (e) => ({ padded: pad(e.n, 3), greeting: process.env.GREETING ?? null });\n");
    file('app/node_modules/leftpad/package.json', '{ "name": "leftpad", "main": "index.js" }\n');
    file('app/node_modules/leftpad/index.js', "module.exports = (v, n) => String(v).padStart(n, '0');\n");
    file('app/.git/HEAD', 'ref: refs/heads/main\n');
    file('notes.txt', 'not code\n');
    // Every test below talks to this server through the stored login (the first test checks the file).
    const login = await runCli(['login', '--url', cluster.url, '--key', ADMIN_KEY], env);
    if (login.code !== 0) throw new Error(`brisk login failed: ${login.stderr}`);
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('login checks the gateway and stores the URL and key in a 0600 config file', async () => {
    // `--key -` reads the key from stdin (how a standalone server's admin-key file is passed in).
    const r = await runCli(['login', '--url', cluster.url, '--key', '-'], env, { input: `${ADMIN_KEY}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`logged in to ${cluster.url} with an API key`);
    const configPath = env['BRISK_CONFIG'] as string;
    expect(JSON.parse(fs.readFileSync(configPath, 'utf8'))).toEqual({ url: cluster.url, key: ADMIN_KEY });
    expect(fs.statSync(configPath).mode & 0o777).toBe(0o600);
  });

  it('deploys a file with progress on stderr and the version on stdout; the same code again changes nothing', async () => {
    const first = await brisk('deploy', path.join(dir, 'sum.ts'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^ready: sum v1 \(sha256 [0-9a-f]{12}…, [\d.]+ (B|KB)\)\n$/);
    expect(first.stderr).toContain('bundling');
    expect(first.stderr).toContain(`uploading to ${cluster.url}`);

    const again = await brisk('deploy', path.join(dir, 'sum.ts'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^unchanged: sum v1 /);
  });

  it('deploy --json sends the settings and prints only the gateway JSON', async () => {
    const r = await brisk('deploy', path.join(dir, 'sum.ts'), '--memory', '128', '--timeout', '5s', '--env', 'MODE=test', '--json');
    expect(r.code, r.stderr).toBe(0);
    const fn = JSON.parse(r.stdout);
    expect(fn).toMatchObject({ name: 'sum', version: 2, created: true, memoryMb: 128, timeoutMs: 5000, env: { MODE: 'test' } });
    expect(r.stderr).toBe('');
  });

  it('deploys a directory (zipped with node_modules, without .git) with env in the query', async () => {
    const r = await brisk('deploy', path.join(dir, 'app'), '--name', 'padder', '--handler', 'src/index.handler', '--env', 'GREETING=hi');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/bundling .*app: 4 files, /);
    expect(r.stdout).toMatch(/^ready: padder v1 /);
    const inv = await brisk('invoke', 'padder', '--data', '{"n":7}', '--json');
    expect(inv.code, inv.stderr).toBe(0);
    expect(JSON.parse(inv.stdout)).toEqual({ padded: '007', greeting: 'hi' });
  });

  it('deploy --secret: the value reaches the function and is never printed', async () => {
    const r = await brisk('deploy', file('secret.js', 'export const handler = async () => ({ token: process.env.TOKEN ?? null });\n'), '--secret', 'TOKEN=s3cr3t-value', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('s3cr3t-value');
    const inv = await brisk('invoke', 'secret', '--json');
    expect(inv.code, inv.stderr).toBe(0);
    expect(JSON.parse(inv.stdout)).toEqual({ token: 's3cr3t-value' });
    const dirWithSecret = await brisk('deploy', path.join(dir, 'app'), '--secret', 'TOKEN=x');
    expect(dirWithSecret.code).toBe(2);
    expect(dirWithSecret.stderr).toContain('--secret works with single-file deploys only');
  });

  it('reports a build error with file and line, exit 2', async () => {
    const r = await brisk('deploy', path.join(dir, 'broken.js'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('does not build');
    expect(r.stderr).toMatch(/index\.\w+:2:\d+: /);
    expect(r.stderr).toContain('run `brisk deploy` again');
  });

  it('lists functions as a table and as JSON', async () => {
    const human = await brisk('list');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^NAME\s+VERSION\s+RUNTIME\s+HANDLER/);
    expect(human.stdout).toMatch(/\bsum\s+v2\s+nodejs\s+index\.handler\s+128 MB/);
    expect(human.stdout).toMatch(/\bpadder\s+v1\s+nodejs\s+src\/index\.handler/);
    const json = await brisk('list', '--json');
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout).functions as { name: string }[]).map((f) => f.name).sort()).toEqual(['padder', 'secret', 'sum']);
  });

  it("prints the deploy's warnings on stderr, and a handler that cannot be found is refused (exit 2)", async () => {
    const warned = await brisk('deploy', file('fallback.mjs', "export const main = async () => 'from main';\n"));
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stdout).toMatch(/^ready: fallback v1 /);
    expect(warned.stderr).toContain("brisk: warning: entry does not export 'handler'; 'main' will be called instead (exports: main)");
    const refused = await brisk('deploy', file('no-export.mjs', 'const handler = async () => 1;\nexport const other = 2;\n'));
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain("handler 'handler' cannot be found");
  });

  it('invokes: the result on stdout, pretty or as the raw JSON', async () => {
    const human = await brisk('invoke', 'sum', '--data', '{"a":2,"b":3}');
    expect(human.code, human.stderr).toBe(0);
    expect(JSON.parse(human.stdout)).toEqual({ sum: 5 });
    const json = await brisk('invoke', 'sum', '--data', '{"a":20,"b":22}', '--json');
    expect(json.code).toBe(0);
    expect(json.stdout).toBe('{"sum":42}\n');
    const fromFile = await brisk('invoke', 'sum', '--file', file('event.json', '{"a":1,"b":1}'), '--version', '1');
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toEqual({ sum: 2 });
  });

  it('a function that throws: its error and stack on stderr, exit 1', async () => {
    expect((await brisk('deploy', path.join(dir, 'boom.js'))).code).toBe(0);
    const r = await brisk('invoke', 'boom');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('the function failed: TypeError: kaboom');
    expect(r.stderr).toMatch(/\n\s+at /);
    expect(r.stderr).toMatch(/brisk activations get [0-9a-zA-Z_-]+/);
    const json = await brisk('invoke', 'boom', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'TypeError', errorMessage: 'kaboom' });
  }, SLOW_TEST_MS);

  it('invoke --async prints the activation id; activations get --wait shows the outcome', async () => {
    const queued = await brisk('invoke', 'sum', '--data', '{"a":4,"b":5}', '--async');
    expect(queued.code, queued.stderr).toBe(0);
    const id = queued.stdout.trim();
    expect(id).toMatch(/^[0-9a-zA-Z_-]{8,64}$/);

    const json = await brisk('activations', 'get', id, '--wait', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ activationId: id, function: 'sum', status: 'success', result: { sum: 9 }, logs: ['adding 4 5'] });

    const human = await brisk('activations', 'get', id);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/status\s+success/);
    expect(human.stdout).toContain('adding 4 5');

    const failed = await brisk('invoke', 'boom', '--async');
    const waited = await brisk('activations', 'get', failed.stdout.trim(), '--wait');
    expect(waited.code).toBe(1);
    expect(waited.stdout).toContain('TypeError: kaboom');
  }, SLOW_TEST_MS);

  it('activations lists recent runs, filtered by function', async () => {
    const r = await brisk('activations', '--function', 'sum', '--limit', '2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout).activations as { function: string }[];
    expect(list).toHaveLength(2);
    expect(list.every((a) => a.function === 'sum')).toBe(true);
    const human = await brisk('activations');
    expect(human.stdout).toMatch(/^ID\s+FUNCTION\s+VERSION\s+STATUS/);
    expect(human.stdout).toMatch(/\bboom\s+v1\s+error\b/);
  });

  it('logs prints each activation with a header, oldest first', async () => {
    const r = await brisk('logs', 'sum');
    expect(r.code, r.stderr).toBe(0);
    const first = r.stdout.indexOf('adding 2 3');
    const later = r.stdout.indexOf('adding 4 5');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(later).toBeGreaterThan(first);
    expect(r.stdout).toMatch(/── \S+\s+[0-9a-zA-Z_-]+\s+sum v\d\s+success/);

    const json = await brisk('logs', 'sum', '--json');
    const acts = JSON.parse(json.stdout).activations as { queuedAt: string }[];
    expect(acts.map((a) => a.queuedAt)).toEqual([...acts.map((a) => a.queuedAt)].sort());

    const missing = await brisk('logs', 'no-such-fn');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("function 'no-such-fn' not found");
  });

  it('logs --follow prints new activations until Ctrl-C, then exits 0', async () => {
    const child = spawnCli(['logs', 'sum', '--follow', '--limit', '1'], env);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    try {
      await waitFor(() => stderr.includes('following'), 'the follow loop to start');
      expect((await brisk('invoke', 'sum', '--data', '{"a":100,"b":11}')).code).toBe(0);
      await waitFor(() => stdout.includes('adding 100 11'), 'the new activation in the follow output');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('triggers: a topic trigger runs its function on publish; list, get and delete it', async () => {
    expect((await brisk('deploy', file('echo.js', "export const handler = async (e) => { console.log('event', JSON.stringify(e.data)); return { ok: true }; };\n"))).code).toBe(0);
    const put = await brisk('triggers', 'put', 'on-order', '--function', 'echo', '--topic', 'orders');
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe('created trigger on-order: topic orders → echo\n');
    const listed = await brisk('triggers', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).triggers).toEqual([expect.objectContaining({ name: 'on-order', type: 'topic', function: 'echo', topic: 'orders' })]);
    expect((await brisk('triggers', 'list')).stdout).toMatch(/on-order\s+topic\s+echo\s+topic orders/);

    const pub = await brisk('publish', 'orders', '{"order":7}', '--json');
    expect(pub.code, pub.stderr).toBe(0);
    const delivery = JSON.parse(pub.stdout).events[0].deliveries[0];
    expect(delivery).toMatchObject({ function: 'echo' });
    const run = await brisk('activations', 'get', delivery.activationId, '--wait', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).logs).toEqual(['event {"order":7}']);
    const human = await brisk('publish', 'orders', '{"order":8}');
    expect(human.stdout).toMatch(/^published to orders: 1 delivery\n {2}echo \(trigger on-order\): activation \S+\n$/);

    const incomplete = await brisk('triggers', 'put', 'nothing', '--function', 'echo');
    expect(incomplete.code).toBe(2);
    expect(incomplete.stderr).toContain('say what fires it');
    expect((await brisk('triggers', 'delete', 'on-order')).code).toBe(0);
    const gone = await brisk('triggers', 'get', 'on-order');
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("trigger 'on-order' not found");
  }, SLOW_TEST_MS);

  it('aliases: set with weights, list, invoke through one, promote, roll back, remove', async () => {
    const src = (n: number) => file(`rel${n}.ts`, `export const handler = async () => ({ v: ${n} });\n`);
    for (const n of [1, 2, 3]) expect((await brisk('deploy', src(n), '--name', 'rel')).code).toBe(0);
    const set = await brisk('alias', 'set', 'rel:prod', '--version', '1', '--weight', '2=0.1', '--description', 'live');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('created rel:prod → v1 90% · v2 10%\n');
    // The spelling: a bare alias with --function.
    expect((await brisk('alias', 'set', 'canary', '--function', 'rel', '--version', '3')).stdout).toBe('created rel:canary → v3 100%\n');
    const ls = await brisk('alias', 'ls', 'rel');
    expect(ls.stdout).toMatch(/^ALIAS +ROUTING +DESCRIPTION +UPDATED\ncanary +v3 100% +\S+\nprod +v1 90% · v2 10% +live +\S+\n$/);
    const listed = JSON.parse((await brisk('alias', 'ls', 'rel', '--json')).stdout);
    expect(listed.aliases.map((a: { name: string }) => a.name)).toEqual(['canary', 'prod']);

    const inv = await brisk('invoke', 'rel:canary');
    expect([inv.code, JSON.parse(inv.stdout), inv.stderr]).toEqual([0, { v: 3 }, 'ran rel v3\n']);
    expect(JSON.parse((await brisk('invoke', 'rel', '--alias', 'canary')).stdout)).toEqual({ v: 3 });

    expect((await brisk('promote', 'rel:canary', 'prod')).stdout).toBe('promoted rel:prod → v3 100%\n');
    expect((await brisk('rollback', 'rel:prod')).stdout).toBe('rolled back rel:prod → v1 90% · v2 10%\n');
    // The set before the promotion was the alias's first: nothing earlier.
    const none = await brisk('rollback', 'rel:prod');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("alias 'rel:prod' has no earlier routing to go back to");
    expect(none.stderr).toContain('brisk alias set <fn>:<alias> --version N');

    const bad = await brisk('alias', 'set', 'rel:prod', '--version', '1', '--weight', '2=1.5');
    expect([bad.code, bad.stderr.includes('the weight of version 2 must be above 0 and below 1')]).toEqual([2, true]);
    expect((await brisk('alias', 'set', 'prod', '--version', '1')).code).toBe(2);
    expect((await brisk('alias', 'rm', 'rel:canary')).stdout).toBe('deleted alias rel:canary\n');
    expect((await brisk('alias', 'get', 'rel:canary')).code).toBe(2);
  }, SLOW_TEST_MS);

  it('provisioned: set on a version and an alias, list until ready reaches wanted, a refusal with its counter-offer, delete', async () => {
    // Configs are checked against the executors the gateway has heard.
    await waitForExecutors(cluster.url, ADMIN_KEY, 1);
    const src = (n: number) => file(`prov${n}.ts`, `export const handler = async () => ({ v: ${n} });\n`);
    for (const n of [1, 2]) expect((await brisk('deploy', src(n), '--name', 'prov', '--memory', '128')).code).toBe(0);
    expect((await brisk('alias', 'set', 'prov:live', '--version', '2')).code).toBe(0);

    const onVersion = await brisk('provisioned', 'set', 'prov', '1', '2');
    expect(onVersion.code, onVersion.stderr).toBe(0);
    expect(onVersion.stdout).toMatch(/^created prov:1: 2 provisioned instances \(ready \d\/2\)\n$/);
    // A window that fires only on 29 February (so not while this test runs): the peak counts, the count now does not.
    const onAlias = await brisk('provisioned', 'set', 'prov', 'live', '1', '--window', '0 3 29 2 *,60,3,Europe/Paris');
    expect(onAlias.code, onAlias.stderr).toBe(0);
    expect(onAlias.stdout).toMatch(/^created prov:live: 1 provisioned instance, 1 window \(ready \d\/1\)\n {2}window 0 3 29 2 \* Europe\/Paris: 3 for 1h\n$/);

    // The provisioner loads them: ls shows ready reaching wanted, per config and per version.
    let table = '';
    await poll(async () => {
      table = (await brisk('provisioned', 'ls', 'prov')).stdout;
      return /^v1 .* 2\/2 +v1 2\/2 /m.test(table) && /^live .* 1\/1 +v2 1\/1 /m.test(table);
    }, 60_000, 250).catch(() => undefined); // the assertion below shows the last table
    expect(table).toMatch(/^QUALIFIER +INSTANCES +READY +VERSIONS +WINDOWS +PROBLEM\nv1 +2 +2\/2 +v1 2\/2 +—\nlive +1 +1\/1 +v2 1\/1 +0 3 29 2 \* Europe\/Paris: 3 for 1h\n$/);
    const listed = JSON.parse((await brisk('provisioned', 'ls', 'prov', '--json')).stdout);
    expect(listed.provisioned.map((p: { qualifier: string; status: { ready: number } }) => [p.qualifier, p.status.ready])).toEqual([['1', 2], ['live', 1]]);
    expect((await brisk('get', 'prov')).stdout).toMatch(/^provisioned +3\/3 ready \(`brisk provisioned ls prov`\)$/m);
    const got = await brisk('provisioned', 'get', 'prov', 'live');
    expect(got.stdout).toMatch(/^target +prov:live\ninstances +1\nready +1\/1\nversions +v2 1\/1\n/);

    // More than the namespace's quota (2048 MB; live holds 3 × 128 MB at its peak): refused, with how many fit.
    const fit = Math.floor((2048 - 3 * 128) / 128);
    const refused = await brisk('provisioned', 'set', 'prov', '1', '100');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`brisk: 100 provisioned instances of 128 MB of prov:1 do not fit: the namespace's provisioned memory quota can hold ${fit}`);
    expect(refused.stderr).toContain(`→ ask for ${fit}: \`brisk provisioned set prov 1 ${fit}\``);
    const refusedJson = await brisk('provisioned', 'set', 'prov', '1', '100', '--json');
    expect(JSON.parse(refusedJson.stdout).error).toMatchObject({ code: 'INSUFFICIENT_CAPACITY', details: { requested: 100, available: fit, limitedBy: 'quota', memoryMb: 128 } });
    // The refused change left the config as it was.
    expect(JSON.parse((await brisk('provisioned', 'get', 'prov', '1', '--json')).stdout).instances).toBe(2);

    const badWindow = await brisk('provisioned', 'set', 'prov', 'live', '1', '--window', '0 9 * * *,480');
    expect([badWindow.code, badWindow.stderr.includes("--window wants '<cron>,<minutes>,<instances>[,<timezone>]'")]).toEqual([2, true]);
    const badCron = await brisk('provisioned', 'set', 'prov', 'live', '1', '--window', '0 9 * *,480,2');
    expect([badCron.code, badCron.stderr.includes('INVALID_CRON') || badCron.stderr.includes('must have 5 fields')]).toEqual([2, true]);

    expect((await brisk('provisioned', 'rm', 'prov', '1')).stdout).toBe('deleted the provisioned instances of prov:1\n');
    const gone = await brisk('provisioned', 'get', 'prov', '1');
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("provisioned 'prov:1' not found");
    expect(gone.stderr).toContain('brisk provisioned ls <fn>');
    expect((await brisk('provisioned', 'delete', 'prov', 'live')).code).toBe(0);
    expect((await brisk('provisioned', 'ls', 'prov')).stdout).toBe('no provisioned instances: `brisk provisioned set prov <version|alias> <instances>`\n');
    expect((await brisk('help')).stdout).toContain('provisioned  set | ls | get | rm');
  }, SLOW_TEST_MS);

  it('dead letters: a failed async run is listed and can be redriven', async () => {
    expect((await brisk('deploy', path.join(dir, 'boom.js'), '--name', 'doomed', '--retries', '0')).code).toBe(0);
    const id = (await brisk('invoke', 'doomed', '--async')).stdout.trim();
    expect((await brisk('activations', 'get', id, '--wait')).code).toBe(1);
    // The dead letter is written when the activation ends: wait until the CLI lists it.
    let letters: { activationId: string; reason: string }[] = [];
    await poll(async () => {
      letters = JSON.parse((await brisk('dead-letters', 'list', '--function', 'doomed', '--json')).stdout).deadLetters;
      return letters.some((l) => l.activationId === id);
    }, 10_000, 250).catch(() => undefined); // the assertion below says what is missing
    expect(letters.map((l) => l.activationId)).toContain(id);
    const table = await brisk('dead-letters', 'list');
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+doomed v1\\s+\\S+\\s+error\\s+1\\s+\\S+\\s+TypeError: kaboom`));

    const redrive = await brisk('dead-letters', 'redrive', id);
    expect(redrive.code, redrive.stderr).toBe(0);
    const again = redrive.stdout.trim();
    expect(again).toMatch(/^[0-9a-zA-Z_-]{8,64}$/);
    expect(again).not.toBe(id);
    expect((await brisk('activations', 'get', again, '--wait')).code).toBe(1);
  }, SLOW_TEST_MS);

  it('delete removes a function; using it afterwards says what to do (exit 2)', async () => {
    const del = await brisk('delete', 'padder');
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toBe('deleted padder\n');
    const get = await brisk('get', 'padder');
    expect(get.code).toBe(2);
    expect(get.stderr).toContain("function 'padder' not found");
    expect(get.stderr).toContain('brisk list');
  });

  it('bad arguments exit 2 and point at the help', async () => {
    const cases: string[][] = [
      ['invoke'],
      ['invoke', 'sum', '--data', '{not json'],
      ['invoke', 'sum', '--data', '{}', '--file', 'x.json'],
      ['deploy', path.join(dir, 'notes.txt')],
      ['deploy', path.join(dir, 'sum.ts'), '--memory', 'lots'],
      ['deploy', path.join(dir, 'sum.ts'), '--env', 'NOEQUALS'],
      ['list', '--nmae', 'x'],
      ['frobnicate'],
    ];
    const runs = await Promise.all(cases.map((args) => brisk(...args)));
    for (const [i, r] of runs.entries()) {
      const args = cases[i] as string[];
      expect(r.code, `brisk ${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^brisk: /);
      expect(r.stderr).toMatch(/→ see `brisk (\w+ )?(--)?help`/);
    }
  }, SLOW_TEST_MS);

  it('help and --help show usage on stdout', async () => {
    const top = await brisk('help');
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('standalone');
    expect(top.stdout).toContain('deploy');
    const deployHelp = await brisk('deploy', '--help');
    expect(deployHelp.code).toBe(0);
    expect(deployHelp.stdout).toContain('Usage: brisk deploy');
    expect((await brisk('help', 'invoke')).stdout).toContain('Usage: brisk invoke');
  });

  it('an unreachable gateway: exit 3 with a hint', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await brisk('list', '--url', url);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach ${url}`);
    expect(r.stderr).toContain('is `brisk standalone` running?');
    const json = await runCli(['invoke', 'sum', '--json'], { ...env, BRISK_URL: url });
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout).error.code).toBe('UNREACHABLE');
    expect(json.stderr).toContain('BRISK_URL');
  });
});

describe('brisk CLI against a gateway with BRISK_ADMIN_KEY', () => {
  let cluster: Cluster;
  let dir: string;
  let env: Record<string, string>;
  const brisk = (...args: string[]): Promise<CliRun> => runCli(args, env);

  beforeAll(async () => {
    cluster = await startStandalone({ BRISK_ADMIN_KEY: 'cli-sekret' });
    dir = tempDir('cli-auth');
    env = { BRISK_CONFIG: path.join(dir, 'config.json') };
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits 4 without a key, refuses a wrong key, and works after login --key', async () => {
    const noKey = await brisk('login', '--url', cluster.url);
    expect(noKey.code).toBe(4);
    expect(noKey.stderr).toContain('brisk login --key');
    const list = await brisk('list');
    expect(list.code).toBe(4);
    expect(list.stderr).toContain('the gateway wants an API key: `brisk login --key …`');

    const wrong = await brisk('login', '--key', 'nope');
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('refused the API key');
    expect(JSON.parse(fs.readFileSync(env['BRISK_CONFIG'] as string, 'utf8'))).toEqual({ url: cluster.url });

    const ok = await brisk('login', '--key', 'cli-sekret');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(env['BRISK_CONFIG'] as string, 'utf8'))).toEqual({ url: cluster.url, key: 'cli-sekret' });
    const listed = await brisk('list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ functions: [] });

    const envKey = await runCli(['list'], { ...env, BRISK_KEY: 'wrong' });
    expect(envKey.code).toBe(4);
    expect(envKey.stderr).toContain('BRISK_KEY');
  }, SLOW_TEST_MS);
});

/**
 * How the client classifies answers it cannot get from a healthy standalone
 * server on demand: a gateway without a route (older version), a platform
 * fault, throttling. A scripted HTTP server plays the gateway.
 */
describe('brisk CLI against scripted gateway answers', () => {
  let server: http.Server;
  let url: string;
  let dir: string;
  let answer: { status: number; body: unknown; headers?: Record<string, string> };
  const brisk = (...args: string[]): Promise<CliRun> => runCli([...args, '--url', url], { BRISK_CONFIG: path.join(dir, 'config.json') });

  beforeAll(async () => {
    dir = tempDir('cli-scripted');
    server = http.createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a missing route says to upgrade the server (exit 2)', async () => {
    answer = { status: 404, body: { error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' } } };
    const cases = [
      [['triggers', 'list'], 'triggers'],
      [['publish', 'orders', '{"id":1}'], 'publishing events'],
      [['dead-letters', 'list'], 'dead letters'],
      [['usage'], 'usage'],
    ] as const;
    const runs = await Promise.all(cases.map(([args]) => brisk(...args)));
    for (const [i, r] of runs.entries()) {
      const feature = cases[i]?.[1] ?? '';
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`does not support ${feature}`);
      expect(r.stderr).toContain('upgrade the server');
    }
  });

  it('a platform fault exits 3; throttling exits 3 with when to retry', async () => {
    answer = { status: 503, body: { error: { code: 'NO_CAPACITY', message: 'no executor has room' } }, headers: { 'x-brisk-fault': 'platform' } };
    const fault = await brisk('invoke', 'sum');
    expect(fault.code).toBe(3);
    expect(fault.stderr).toContain('no executor has room');
    expect(fault.stderr).toContain('platform error');

    answer = { status: 429, body: { error: { code: 'CONCURRENCY_LIMIT', message: 'too many' } }, headers: { 'retry-after': '2' } };
    const throttled = await brisk('invoke', 'sum', '--json');
    expect(throttled.code).toBe(3);
    expect(JSON.parse(throttled.stdout).error.code).toBe('CONCURRENCY_LIMIT');
    expect(throttled.stderr).toContain('retry in 2 s');
  });

  it('a timeout of the function exits 1', async () => {
    answer = { status: 504, body: { error: { code: 'FUNCTION_TIMEOUT', message: 'ran past 100 ms' } }, headers: { 'x-brisk-fault': 'function' } };
    const r = await brisk('invoke', 'slow');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the function timed out: ran past 100 ms');
  });
});
