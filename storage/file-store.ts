import path from 'node:path';
import { FINAL_STATUSES, type Activation, type FunctionRecord, type FunctionVersion } from '../core/types.js';
import { Journal } from './journal.js';
import {
  sameDeployment,
  type ListActivationsQuery,
  type MetadataStore,
  type PutVersionResult,
  type StoreStatus,
} from './types.js';

type FunctionEntry = { op: 'version'; v: FunctionVersion } | { op: 'delete'; namespace: string; name: string; at: string };

/** A namespace's activation records removed (it was deleted): one journal line for all of them. */
interface ActivationPurge {
  purgeNamespace: string;
}
type ActivationEntry = Activation | ActivationPurge;

interface FunctionState {
  versions: FunctionVersion[];
  createdAt: string;
}

/**
 * Standalone {@link MetadataStore}: everything in memory, persisted to two
 * journals under `dir` (`functions.jsonl`, `activations.jsonl`) so a restart
 * keeps functions and activation records. Activation records older than the
 * retention, or beyond `maxActivations` per namespace, are dropped at
 * compaction.
 */
export class FileStore implements MetadataStore {
  private readonly functions = new Map<string, FunctionState>();
  /** Ordered by first write (queued), oldest first. */
  private readonly activations = new Map<string, Activation>();
  private readonly fnJournal: Journal<FunctionEntry>;
  private readonly actJournal: Journal<ActivationEntry>;
  private state: StoreStatus = 'connecting';

  constructor(
    dir: string,
    private readonly opts: { activationTtlS: number; maxActivations?: number } = { activationTtlS: 7 * 24 * 3600 },
  ) {
    this.fnJournal = new Journal(path.join(dir, 'functions.jsonl'));
    this.actJournal = new Journal(path.join(dir, 'activations.jsonl'));
  }

  get status(): StoreStatus {
    return this.state;
  }

  async waitUntilReady(): Promise<void> {
    if (this.state !== 'connecting') return;
    for (const e of this.fnJournal.open()) this.applyFunctionEntry(e);
    for (const e of this.actJournal.open()) {
      if ('purgeNamespace' in e) this.dropActivations(e.purgeNamespace);
      else this.activations.set(key(e.namespace, e.activationId), e);
    }
    this.compactActivations();
    this.fnJournal.compact(this.functionSnapshot());
    this.state = 'ready';
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.fnJournal.close();
    this.actJournal.close();
    this.state = 'closed';
  }

  async putFunctionVersion(draft: Omit<FunctionVersion, 'version' | 'createdAt'>): Promise<PutVersionResult> {
    const existing = this.functions.get(key(draft.namespace, draft.name));
    const latest = existing?.versions.at(-1);
    if (latest && sameDeployment(latest, draft)) return { version: latest, created: false };
    const v: FunctionVersion = { ...draft, version: (latest?.version ?? 0) + 1, createdAt: new Date().toISOString() };
    this.fnJournal.append({ op: 'version', v });
    this.applyFunctionEntry({ op: 'version', v });
    return { version: v, created: true };
  }

  async getFunction(namespace: string, name: string): Promise<FunctionRecord | undefined> {
    const st = this.functions.get(key(namespace, name));
    return st ? toRecord(st) : undefined;
  }

  async getFunctionVersion(namespace: string, name: string, version: number): Promise<FunctionVersion | undefined> {
    return this.functions.get(key(namespace, name))?.versions.find((v) => v.version === version);
  }

  async listFunctions(namespace: string): Promise<FunctionRecord[]> {
    const out: FunctionRecord[] = [];
    for (const st of this.functions.values()) {
      if (st.versions[0]?.namespace === namespace) out.push(toRecord(st));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async deleteFunction(namespace: string, name: string): Promise<boolean> {
    if (!this.functions.has(key(namespace, name))) return false;
    const entry: FunctionEntry = { op: 'delete', namespace, name, at: new Date().toISOString() };
    this.fnJournal.append(entry);
    this.applyFunctionEntry(entry);
    return true;
  }

  async putActivation(activation: Activation): Promise<void> {
    const k = key(activation.namespace, activation.activationId);
    const current = this.activations.get(k);
    if (current && FINAL_STATUSES.has(current.status)) return;
    this.storeActivation(k, activation);
  }

  async finishActivation(activation: Activation): Promise<boolean> {
    const k = key(activation.namespace, activation.activationId);
    const current = this.activations.get(k);
    if (current && FINAL_STATUSES.has(current.status)) return false;
    this.storeActivation(k, activation);
    return true;
  }

  async getActivation(namespace: string, activationId: string): Promise<Activation | undefined> {
    return this.activations.get(key(namespace, activationId));
  }

  async listActivations(namespace: string, query: ListActivationsQuery): Promise<Activation[]> {
    const all = [...this.activations.values()];
    const out: Activation[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < query.limit; i--) {
      const a = all[i] as Activation;
      if (a.namespace !== namespace) continue;
      if (query.function !== undefined && a.function !== query.function) continue;
      out.push(a);
    }
    return out;
  }

  async deleteActivations(namespace: string): Promise<number> {
    // Journal first: if the append fails nothing is dropped, and a retry does it all.
    let held = 0;
    for (const a of this.activations.values()) if (a.namespace === namespace) held++;
    if (held === 0) return 0;
    this.actJournal.append({ purgeNamespace: namespace });
    return this.dropActivations(namespace);
  }

  /** In memory only: one pass over the records (no I/O per record). */
  private dropActivations(namespace: string): number {
    let removed = 0;
    for (const [k, a] of this.activations) {
      if (a.namespace !== namespace) continue;
      this.activations.delete(k);
      removed++;
    }
    return removed;
  }

  private storeActivation(k: string, activation: Activation): void {
    this.actJournal.append(activation);
    // An update keeps the record's place: the map stays ordered by first write
    // (when it was queued), like the Redis store's index by queuedAt.
    this.activations.set(k, activation);
    if (this.actJournal.needsCompaction) this.compactActivations();
  }

  private compactActivations(): void {
    const cutoff = Date.now() - this.opts.activationTtlS * 1000;
    const max = this.opts.maxActivations ?? 10_000;
    const perNs = new Map<string, number>();
    const keep: [string, Activation][] = [];
    const all = [...this.activations.entries()];
    for (let i = all.length - 1; i >= 0; i--) {
      const [k, a] = all[i] as [string, Activation];
      const n = perNs.get(a.namespace) ?? 0;
      if (n >= max || Date.parse(a.queuedAt) < cutoff) continue;
      perNs.set(a.namespace, n + 1);
      keep.push([k, a]);
    }
    keep.reverse();
    this.activations.clear();
    for (const [k, a] of keep) this.activations.set(k, a);
    this.actJournal.compact(this.activations.values());
  }

  private applyFunctionEntry(e: FunctionEntry): void {
    if (e.op === 'delete') {
      this.functions.delete(key(e.namespace, e.name));
      return;
    }
    const k = key(e.v.namespace, e.v.name);
    const st = this.functions.get(k);
    if (st) st.versions.push(e.v);
    else this.functions.set(k, { versions: [e.v], createdAt: e.v.createdAt });
  }

  private *functionSnapshot(): Iterable<FunctionEntry> {
    for (const st of this.functions.values()) for (const v of st.versions) yield { op: 'version', v };
  }
}

function key(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}

function toRecord(st: FunctionState): FunctionRecord {
  const latest = st.versions.at(-1) as FunctionVersion;
  return {
    namespace: latest.namespace,
    name: latest.name,
    latest,
    versions: st.versions.map((v) => v.version),
    createdAt: st.createdAt,
    updatedAt: latest.createdAt,
  };
}
