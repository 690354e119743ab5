import { describe, expect, it } from 'vitest';
import { startStandalone, TEST_ADMIN_KEY, useCluster } from '../helpers/cluster.js';
import { api } from '../e2e/scenarios.js';
import { createTenant, deploy, isRoot } from './tenants.js';

/**
 * Finding F13 (rows B7p, B20 of the probe): on the process backend — the
 * default — a function read the executor's BRISK_ADMIN_KEY and
 * BRISK_SECRET_KEY from /proc/<ppid>/environ, ran as root, and reached a
 * sibling instance's runtime socket to run another tenant's function.
 *
 * With the executor running as root (as CI does), every instance now runs
 * as a uid of its own, in a directory only that uid can enter. Not root:
 * uid separation is impossible, and the executor warns at start instead.
 */

/** Tells where its own runtime listens and where its code is: what an attacker would go after. */
const VAULT = `
import { fileURLToPath } from 'node:url';
export const handler = async () => ({
  socket: process.env.BRISK_RUNTIME_SOCKET ?? null,
  code: fileURLToPath(import.meta.url),
  pid: process.pid,
  uid: process.getuid(),
  secret: 'vault-only',
});`;

/** Tries everything the probe did, against the executor and against the vault's instance. */
const PROBE = `
import fs from 'node:fs';
import net from 'node:net';
const read = (p) => { try { return { ok: true, text: fs.readFileSync(p, 'latin1') }; } catch (err) { return { ok: false, code: err.code }; } };
const connect = (p) => new Promise((resolve) => {
  const s = net.connect(p);
  s.once('connect', () => { s.destroy(); resolve('connected'); });
  s.once('error', (err) => resolve(err.code));
});
export const handler = async (e) => {
  const environ = read('/proc/' + process.ppid + '/environ');
  return {
    uid: process.getuid(),
    gid: process.getgid(),
    executorEnviron: environ.ok ? { readable: true, hasAdminKey: environ.text.includes('BRISK_ADMIN_KEY') } : environ.code,
    siblingEnviron: read('/proc/' + e.pid + '/environ').code ?? 'read',
    siblingSocket: await connect(e.socket),
    siblingCode: read(e.code).code ?? 'read',
    siblingCodeDir: (() => { try { return fs.readdirSync(e.code.replace(/\\/[^/]+$/, '')); } catch (err) { return err.code; } })(),
  };
};`;

describe.skipIf(!isRoot)('process backend instances are kept apart (executor running as root)', () => {
  const cluster = useCluster(() => startStandalone());
  const admin = api(() => cluster.url, TEST_ADMIN_KEY);

  it('a function cannot read the executor\'s environment, nor reach or read a sibling instance', async () => {
    const vaultNs = await createTenant(admin, 'vault-owner');
    const attacker = await createTenant(admin, 'prober');
    await deploy(vaultNs, 'vault', VAULT);
    await deploy(attacker, 'probe', PROBE);
    const vault = await vaultNs.req('POST', '/v1/functions/vault/invoke', {});
    expect(vault.status, vault.text).toBe(200);
    expect(vault.json.socket).toMatch(/\.sock$/);

    const r = await attacker.req('POST', '/v1/functions/probe/invoke', { socket: vault.json.socket, code: vault.json.code, pid: vault.json.pid });
    expect(r.status, r.text).toBe(200);
    expect(r.json.uid).not.toBe(0);
    expect(r.json.gid).not.toBe(0);
    expect(r.json.uid).not.toBe(vault.json.uid);
    // The probe read BRISK_ADMIN_KEY=… and BRISK_SECRET_KEY=… here.
    expect(r.json.executorEnviron).toBe('EACCES');
    expect(r.json.siblingEnviron).toBe('EACCES');
    // The probe connected here and ran the other tenant's function with POST /run.
    expect(r.json.siblingSocket).toBe('EACCES');
    expect(r.json.siblingCode).toBe('EACCES');
    expect(r.json.siblingCodeDir).toBe('EACCES');

    // The vault itself is untouched and still serves its owner.
    const again = await vaultNs.req('POST', '/v1/functions/vault/invoke', {});
    expect(again.status).toBe(200);
    expect(again.json.secret).toBe('vault-only');
  });
});

// Not root, uid separation is impossible: the executor runs every instance as
// its own user and warns at start (test/integration/process-backend.test.ts,
// "without per-instance uids").
