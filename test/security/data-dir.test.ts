import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, tempDir, useCluster } from '../helpers/cluster.js';
import { api } from '../e2e/scenarios.js';
import { createTenant, deploy, isRoot } from './tenants.js';

/**
 * Standalone keeps every tenant's records in BRISK_DATA_DIR: the journals of
 * activations (payloads, results, logs), function state, objects. On the
 * process backend run as root each instance runs as a uid of its own; the
 * data dir was made 0755 with 0644 files, so any function could read every
 * other tenant's records there. It is now 0700 with 0600 files.
 *
 * Not root: every function runs as the platform's own user, which owns the
 * data dir anyway; uid separation (and this test) needs root.
 */

/** Writes a secret into its state and returns it: what the attacker goes after. */
const VICTIM = `export const handler = async (_e, ctx) => {
  await ctx.state.set('secret', { v: 'VICTIM-STATE-7f3a' });
  return { secret: 'VICTIM-RESULT-7f3a' };
};`;

/** Tries to list and read the data dir, its journals and objects. */
const PROBE = `
import fs from 'node:fs';
const tryIt = (f) => { try { const v = f(); return typeof v === 'string' ? (v.includes('7f3a') ? 'LEAKED' : 'read') : v; } catch (err) { return err.code; } };
export const handler = async (e) => ({
  uid: process.getuid(),
  list: tryIt(() => fs.readdirSync(e.dir)),
  activations: tryIt(() => fs.readFileSync(e.dir + '/meta/activations.jsonl', 'utf8')),
  kv: tryIt(() => fs.readFileSync(e.dir + '/meta/kv.jsonl', 'utf8')),
  functions: tryIt(() => fs.readFileSync(e.dir + '/meta/functions.jsonl', 'utf8')),
  object: tryIt(() => fs.readFileSync(e.dir + '/objects/' + e.object, 'utf8')),
});`;

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

describe.skipIf(!isRoot)('the standalone data dir is private to the platform (process backend, executor as root)', () => {
  // A parent anyone may enter, so only the data dir's own mode keeps functions out.
  const parent = tempDir('datadir');
  fs.chmodSync(parent, 0o755);
  const dataDir = path.join(parent, 'data');
  // Registered before the cluster's own hook, so it runs after the cluster stopped.
  afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));
  const cluster = useCluster(() => startStandalone({ BRISK_DATA_DIR: dataDir }));
  const admin = api(() => cluster.url, TEST_ADMIN_KEY);

  it('a function can neither list nor read it: no other tenant\'s activations, state or objects', async () => {
    const victim = await createTenant(admin, 'dd-victim');
    const attacker = await createTenant(admin, 'dd-attacker');
    await deploy(victim, 'keeper', VICTIM);
    expect((await victim.req('POST', '/v1/functions/keeper/invoke', {})).json).toEqual({ secret: 'VICTIM-RESULT-7f3a' });
    expect((await victim.req('PUT', '/v1/objects/bkt/secret.txt', 'VICTIM-OBJECT-7f3a', { 'content-type': 'text/plain' })).status).toBe(200);
    const objectFile = fs.readdirSync(path.join(dataDir, 'objects'), { recursive: true, withFileTypes: true }).find((d) => d.isFile() && d.name.startsWith('secret.txt'));
    expect(objectFile).toBeDefined();
    const object = path.relative(path.join(dataDir, 'objects'), path.join(objectFile!.parentPath, objectFile!.name));

    await deploy(attacker, 'probe', PROBE);
    const r = await attacker.req('POST', '/v1/functions/probe/invoke', { dir: dataDir, object });
    expect(r.status, r.text).toBe(200);
    expect(r.json.uid).not.toBe(0);
    // Before: the listing, and LEAKED for the journals and the object.
    expect(r.json).toMatchObject({ list: 'EACCES', activations: 'EACCES', kv: 'EACCES', functions: 'EACCES', object: 'EACCES' });

    // The modes themselves: private dirs, private files.
    expect(mode(dataDir)).toBe(0o700);
    for (const d of ['meta', 'objects']) expect(mode(path.join(dataDir, d)), d).toBe(0o700);
    for (const f of ['meta/activations.jsonl', 'meta/kv.jsonl', 'meta/functions.jsonl', 'admin-key']) {
      if (fs.existsSync(path.join(dataDir, f))) expect(mode(path.join(dataDir, f)), f).toBe(0o600);
    }
    expect(mode(path.join(dataDir, 'objects', object))).toBe(0o600);
  });
});
