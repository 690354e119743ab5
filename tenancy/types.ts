/**
 * Tenancy: namespaces own functions, versions, activations, triggers, state,
 * objects and dead letters. API keys belong to one namespace; the operator's
 * admin key (BRISK_ADMIN_KEY) manages namespaces and keys.
 */

/** Limits per namespace; defaults from the config, overridable per namespace. */
export interface NamespaceQuotas {
  /** In-flight invocations. */
  maxConcurrency: number;
  /** Token-bucket rate; the burst is twice this. */
  invocationsPerSecond: number;
  maxFunctions: number;
  /** Deploy body (source or zipped archive). */
  maxCodeBytes: number;
  /** Unpacked archive. */
  maxUnpackedBytes: number;
  maxSyncPayloadBytes: number;
  maxAsyncPayloadBytes: number;
  maxTimeoutMs: number;
  maxMemoryMb: number;
  /** Memory its provisioned instances may hold at their peak (instances × memoryMb, windows included); 0: none. */
  maxProvisionedMb: number;
}

export interface NamespaceRecord {
  name: string;
  createdAt: string;
  /** Overrides of the default quotas. */
  quotas: Partial<NamespaceQuotas>;
  /**
   * Set when a delete began: its keys are revoked and its data is being
   * purged. Until the purge ends (and the record goes) the name cannot be
   * created again, so a new tenant never meets the old one's data.
   */
  deletingSince?: string;
}

/** What is stored of an API key: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  namespace: string;
  readOnly: boolean;
  /** sha256 of the full key, hex. */
  hash: string;
  description?: string;
  createdAt: string;
}
