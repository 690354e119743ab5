import { PlatformError } from '../core/errors.js';
import type { FunctionVersion } from '../core/types.js';
import type { MetadataStore } from '../storage/types.js';

/**
 * The function versions an executor runs, as the metadata store holds them.
 *
 * A dispatch names a version and describes it (code hash, secrets digest,
 * settings). The executor does not take the message's word for who it runs
 * as: it runs the stored record, and refuses a dispatch that names a version
 * the store does not have, or describes it otherwise than the store does
 * (another code hash, secrets digest, namespace). So even a message that got
 * onto the bus past its signature check cannot run one tenant's code with
 * another's identity, secrets or platform token.
 *
 * Versions are immutable, so a stored version is kept here (least recently
 * used first out, bounded in entries): one store read per version per
 * executor, none on the hot path. Entries are keyed by the claim's code hash
 * and secrets digest as well, so a function deleted and deployed again (its
 * version numbers start over) is read afresh instead of being mistaken for
 * the old one. Concurrent first uses of a version share one read; refusals
 * are not kept (a version may be deployed a moment after it was named).
 */
export class FunctionVersions {
  private readonly entries = new Map<string, FunctionVersion>();
  private readonly loading = new Map<string, Promise<FunctionVersion>>();

  constructor(
    private readonly store: Pick<MetadataStore, 'getFunctionVersion'>,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /**
   * The stored version `claimed` names. Throws a non-retryable PlatformError
   * (`FUNCTION_VERSION_NOT_FOUND`, `FUNCTION_VERSION_MISMATCH`) when it must
   * not run; a store outage propagates as it is (retryable).
   */
  async resolve(claimed: FunctionVersion): Promise<FunctionVersion> {
    const key = identity(claimed);
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(claimed, key).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  private async load(claimed: FunctionVersion, key: string): Promise<FunctionVersion> {
    const label = `${claimed.namespace}/${claimed.name}@${claimed.version}`;
    const stored = await this.store.getFunctionVersion(claimed.namespace, claimed.name, claimed.version);
    if (!stored) {
      throw new PlatformError('FUNCTION_VERSION_NOT_FOUND', `refused: ${label} is not in the metadata store (deleted, or never deployed)`, {
        status: 500,
        retryable: false,
      });
    }
    const differs = DESCRIBING_FIELDS.filter((f) => (claimed[f] ?? '') !== (stored[f] ?? ''));
    if (differs.length > 0) {
      throw new PlatformError('FUNCTION_VERSION_MISMATCH', `refused: the message describes ${label} otherwise than the metadata store (${differs.join(', ')})`, {
        status: 500,
        retryable: false,
        data: { differs },
      });
    }
    this.entries.set(key, stored);
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(k);
    }
    return stored;
  }
}

/** Versions kept per executor: far more than it runs at once; a few MB at most. */
const DEFAULT_MAX_ENTRIES = 4096;

/** What says who a version runs as and with what: it must be exactly as stored. */
const DESCRIBING_FIELDS = ['namespace', 'name', 'version', 'codeHash', 'secretsDigest'] as const;

function identity(fn: FunctionVersion): string {
  return `${fn.namespace}/${fn.name}@${fn.version}#${fn.codeHash}#${fn.secretsDigest ?? ''}`;
}
