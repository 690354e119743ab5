import { createHash } from 'node:crypto';
import { PlatformError } from '../core/errors.js';
import type { BundleStore } from '../storage/bundles.js';
import { codeKey } from '../storage/types.js';

/**
 * Bundles by content hash, fetched from the object store once per executor and
 * kept in memory (least recently used first out, bounded in bytes). Concurrent
 * requests for the same hash share one fetch. The hash is checked on arrival,
 * so a corrupt object never reaches an instance.
 */
export class CodeCache {
  private readonly entries = new Map<string, string>();
  private readonly loading = new Map<string, Promise<string>>();
  private bytes = 0;

  constructor(
    private readonly bundles: Pick<BundleStore, 'get'>,
    private readonly maxBytes = 256 * 1024 * 1024,
  ) {}

  /** The bundle's text; `size` (the version's `codeSize`) lets a small one come from its hot copy (see {@link BundleStore}). */
  async get(codeHash: string, size?: number): Promise<string> {
    const hit = this.entries.get(codeHash);
    if (hit !== undefined) {
      this.entries.delete(codeHash);
      this.entries.set(codeHash, hit);
      return hit;
    }
    let p = this.loading.get(codeHash);
    if (!p) {
      p = this.fetch(codeHash, size).finally(() => this.loading.delete(codeHash));
      this.loading.set(codeHash, p);
    }
    return p;
  }

  /**
   * Start fetching a bundle that is about to be needed (a dispatch has just
   * arrived) while the run's other preparations go on; errors are left to the
   * {@link get} that follows.
   */
  prefetch(codeHash: string, size?: number): void {
    if (this.entries.has(codeHash) || this.loading.has(codeHash)) return;
    this.get(codeHash, size).catch(() => undefined);
  }

  private async fetch(codeHash: string, size: number | undefined): Promise<string> {
    const matches = (buf: Buffer): boolean => createHash('sha256').update(buf).digest('hex') === codeHash;
    const buf = await this.bundles.get(codeKey(codeHash), { ...(size !== undefined ? { size } : {}), check: matches });
    if (!buf) throw new PlatformError('CODE_NOT_FOUND', `bundle ${codeHash} is missing from the object store`, { retryable: false });
    if (!matches(buf)) {
      throw new PlatformError('CODE_CORRUPT', `bundle ${codeHash} does not match its hash`, { retryable: false });
    }
    const text = buf.toString('utf8');
    this.entries.set(codeHash, text);
    this.bytes += text.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes || k === codeHash) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
    return text;
  }
}
