/**
 * A package's files, as shipped beside its bundle: every regular file of the
 * extracted archive (sources, templates, data, `node_modules` …) packed into
 * one gzipped tar that the executors unpack once per hash and show each
 * instance read-only (see `executor/package-cache.ts`).
 *
 * The tar is deterministic (sorted names, no owners, no times, the modes the
 * extractor gave), so the same package always packs to the same bytes and
 * the same hash, and redeploying it changes nothing.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { create } from 'tar';

export interface PackedFiles {
  /** The gzipped tar. */
  archive: Buffer;
  /** sha256 (hex) of `archive`: its object key and what an executor checks on arrival. */
  hash: string;
  /** Regular files in it. */
  count: number;
}

/** Pack every regular file under `root` (relative paths, sorted). */
export async function packFiles(root: string): Promise<PackedFiles> {
  const files = await listFiles(root);
  const chunks: Buffer[] = [];
  const pack = create({ cwd: root, gzip: { level: 6 }, portable: true, noMtime: true, noDirRecurse: true }, files);
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  const archive = Buffer.concat(chunks);
  return { archive, hash: createHash('sha256').update(archive).digest('hex'), count: files.length };
}

/** Relative POSIX paths of the regular files under `root`, sorted by code unit. */
async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path.join(dir, e.name), r);
      else if (e.isFile()) out.push(r);
    }
  };
  await walk(root, '');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
