import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseUidRange, UidLeases } from '../../executor/instance-uids.js';

/**
 * Per-instance uids of the process backend (finding F13): executors on one
 * host share a range through lease files, never hand one uid out twice, and
 * reclaim the leases of an executor that died.
 */

const dirs: string[] = [];
function leaseDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-leases-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A pid that certainly belongs to no process any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

// Far from anything real; as root, taking over a lease signals these uids' (absent) processes.
const RANGE = { first: 2099999990, last: 2099999992 };

describe('UidLeases', () => {
  it('parses `first-last` and `off`, and refuses ranges node cannot spawn with', () => {
    expect(parseUidRange('100-200')).toEqual({ first: 100, last: 200 });
    expect(parseUidRange('off')).toBeUndefined();
    for (const bad of ['0-5', '9-3', '1-2147483648', 'x']) expect(() => parseUidRange(bad), bad).toThrow(/uid range/);
  });

  it('two executors sharing a range never lease the same uid; a released uid can be leased again', async () => {
    const dir = leaseDir();
    const a = new UidLeases({ range: RANGE, dir });
    const b = new UidLeases({ range: RANGE, dir });
    const got = [await a.acquire(), await b.acquire(), await a.acquire()];
    expect(new Set(got).size).toBe(3);
    expect(got.every((u) => u >= RANGE.first && u <= RANGE.last)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort()).toEqual(got.map(String).sort());
    await expect(b.acquire()).rejects.toMatchObject({ code: 'INSTANCE_UIDS_EXHAUSTED' });
    await a.release(got[0] as number);
    expect(await b.acquire()).toBe(got[0]);
  });

  it('takes over the lease of a dead executor, not of a live one', async () => {
    const dir = leaseDir();
    fs.writeFileSync(path.join(dir, String(RANGE.first)), `${deadPid()}\n`);
    fs.writeFileSync(path.join(dir, String(RANGE.first + 1)), `${process.ppid}\n`);
    fs.writeFileSync(path.join(dir, String(RANGE.last)), `${process.ppid}\n`);
    const leases = new UidLeases({ range: RANGE, dir });
    expect(await leases.acquire()).toBe(RANGE.first);
    expect(fs.readFileSync(path.join(dir, String(RANGE.first)), 'utf8').trim()).toBe(String(process.pid));
    await expect(leases.acquire()).rejects.toMatchObject({ code: 'INSTANCE_UIDS_EXHAUSTED' });
    // The takeover lock is not left behind.
    expect(fs.existsSync(path.join(dir, '.takeover'))).toBe(false);
  });

  it('releases every lease at once for an exit handler', async () => {
    const dir = leaseDir();
    const leases = new UidLeases({ range: RANGE, dir });
    await leases.acquire();
    await leases.acquire();
    leases.releaseAllSync();
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('.'))).toEqual([]);
  });
});
