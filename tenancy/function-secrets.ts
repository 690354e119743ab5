import { ValidationError } from '../core/errors.js';
import type { SecretBox } from '../core/secret-box.js';
import type { KeyValueStore } from '../storage/types.js';

/**
 * Per-function secret values: sealed with the {@link SecretBox} and kept in the
 * KeyValueStore (collection `secrets:<ns>:<fn>`, one entry per distinct set,
 * keyed by its digest), so a version names its secrets by digest and the
 * values never enter a function record, a bus message, a log or an API answer.
 * Only an executor opens them, to put them in the instance's environment.
 */
export class FunctionSecrets {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly box: SecretBox | undefined,
  ) {}

  /** Seal and store; returns what the version records. */
  async store(namespace: string, name: string, values: Record<string, string>): Promise<{ secretNames: string[]; secretsDigest: string }> {
    const box = this.requireBox();
    const digest = box.digest(values);
    const coll = collection(namespace, name);
    if ((await this.kv.hget(coll, digest)) === undefined) await this.kv.hset(coll, digest, box.seal(values));
    return { secretNames: Object.keys(values).sort(), secretsDigest: digest };
  }

  /** The values of a version's secrets (empty when it has none). */
  async load(namespace: string, name: string, digest: string | undefined): Promise<Record<string, string>> {
    if (digest === undefined || digest === '') return {};
    const sealed = await this.kv.hget(collection(namespace, name), digest);
    if (sealed === undefined) return {};
    return this.requireBox().open(sealed);
  }

  /** Forget every secret of a function (it was deleted). */
  async drop(namespace: string, name: string): Promise<void> {
    const coll = collection(namespace, name);
    for (const digest of Object.keys(await this.kv.hgetall(coll))) await this.kv.hdel(coll, digest);
  }

  /** Forget every secret of every function of a namespace (it is being deleted). */
  async dropNamespace(namespace: string): Promise<void> {
    await this.kv.deleteByPrefix(`secrets:${namespace}:`);
  }

  private requireBox(): SecretBox {
    if (!this.box) {
      throw new ValidationError('SECRETS_DISABLED', 'this installation has no BRISK_SECRET_KEY, so it cannot keep secrets');
    }
    return this.box;
  }
}

function collection(namespace: string, name: string): string {
  return `secrets:${namespace}:${name}`;
}
