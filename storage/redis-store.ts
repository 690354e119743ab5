import { FINAL_STATUSES, type Activation, type FunctionRecord, type FunctionVersion } from '../core/types.js';
import { RedisBackedStore, script, type RedisConnection, type RedisConnectionOptions } from './redis-connection.js';
import { deploymentSignature, type ListActivationsQuery, type MetadataStore, type PutVersionResult } from './types.js';

export interface RedisStoreOptions extends RedisConnectionOptions {
  /** A connection shared with other stores; when given, `url` etc. are ignored and close() leaves it open. */
  connection?: RedisConnection;
  /** Prefix of every key, e.g. `brisk:`. */
  prefix: string;
  /** Lifetime of an activation record after its last write. */
  activationTtlS: number;
  /** Activation ids kept in each list index (namespace, function). Default 10,000. */
  maxActivationsListed?: number;
}

type Draft = Omit<FunctionVersion, 'version' | 'createdAt'>;

/**
 * Record a version unless the latest one has the same deployment signature.
 * KEYS: meta hash, versions hash, namespace index. ARGV: signature, version
 * JSON without its closing brace's `version` field, now, name.
 * Returns {created (0/1), version JSON}.
 */
const PUT_VERSION = `
local latest = tonumber(redis.call('HGET', KEYS[1], 'latest') or '0')
if latest > 0 and redis.call('HGET', KEYS[1], 'sig') == ARGV[1] then
  local cur = redis.call('HGET', KEYS[2], tostring(latest))
  if cur then return {0, cur} end
end
local v = latest + 1
local json = string.sub(ARGV[2], 1, -2) .. ',"version":' .. v .. '}'
redis.call('HSET', KEYS[2], tostring(v), json)
redis.call('HSET', KEYS[1], 'latest', v, 'sig', ARGV[1], 'updatedAt', ARGV[3])
redis.call('HSETNX', KEYS[1], 'createdAt', ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
return {1, json}
`;

/** KEYS: meta, versions. Returns {} or {latest JSON, createdAt, updatedAt, version numbers}. */
const GET_FUNCTION = `
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return {} end
local m = redis.call('HMGET', KEYS[1], 'createdAt', 'updatedAt')
return {redis.call('HGET', KEYS[2], latest) or '', m[1] or '', m[2] or '', redis.call('HKEYS', KEYS[2])}
`;

/** KEYS: meta, versions, namespace index. ARGV: name. Returns 1 if it existed. */
const DELETE_FUNCTION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;

/**
 * Write an activation record unless a final one is stored (exactly-once finish,
 * and a late "running" never overwrites a result).
 * KEYS: record hash, namespace index, function index.
 * ARGV: json, status, ttl s, score (queuedAt ms), id, cap, ",final,statuses,".
 * Returns 1 if written.
 */
const PUT_ACTIVATION = `
local cur = redis.call('HGET', KEYS[1], 's')
if cur and string.find(ARGV[7], ',' .. cur .. ',', 1, true) then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 's', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local cap = tonumber(ARGV[6])
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -cap - 1)
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return 1
`;

/**
 * Most recent first from an index, skipping (and pruning) ids whose record
 * expired. KEYS: index. ARGV: limit, record key prefix.
 */
const LIST_ACTIVATIONS = `
local limit = tonumber(ARGV[1])
local batch = math.max(limit, 50)
local out, gone, start = {}, {}, 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', KEYS[1], start, start + batch - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local j = redis.call('HGET', ARGV[2] .. id, 'j')
    if j then
      out[#out + 1] = j
      if #out >= limit then break end
    else
      gone[#gone + 1] = id
    end
  end
  start = start + batch
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
return out
`;

const SCRIPTS = {
  putVersion: script(PUT_VERSION),
  getFunction: script(GET_FUNCTION),
  deleteFunction: script(DELETE_FUNCTION),
  putActivation: script(PUT_ACTIVATION),
  listActivations: script(LIST_ACTIVATIONS),
};

const FINAL_LIST = `,${[...FINAL_STATUSES].join(',')},`;

/**
 * {@link MetadataStore} on Redis (ioredis).
 *
 * Layout (all under `prefix`):
 * - `fn:<ns>:<name>` hash: latest, sig, createdAt, updatedAt
 * - `fnv:<ns>:<name>` hash: version number → FunctionVersion JSON
 * - `fns:<ns>` sorted set (score 0, so lexicographic) of function names
 * - `act:<ns>:<id>` hash: j (Activation JSON), s (status); expires after `activationTtlS`
 * - `acts:<ns>`, `actsfn:<ns>:<fn>` sorted sets of activation ids by queuedAt, capped
 *
 * Every multi-key operation is one Lua script: atomic, and one round trip.
 * Connection handling (bounded commands, fast 503s) is {@link RedisConnection}'s.
 * Scripts use keys they compute (activation records) and so target a single
 * Redis, not Redis Cluster.
 */
export class RedisStore extends RedisBackedStore implements MetadataStore {
  private readonly prefix: string;
  private readonly ttlS: number;
  private readonly cap: number;

  constructor(opts: RedisStoreOptions) {
    super(opts);
    this.prefix = opts.prefix;
    this.ttlS = opts.activationTtlS;
    this.cap = opts.maxActivationsListed ?? 10_000;
  }

  private get client(): RedisConnection['client'] {
    return this.conn.client;
  }

  // -------------------------------------------------------------------------
  // functions

  async putFunctionVersion(draft: Draft): Promise<PutVersionResult> {
    const { namespace, name } = draft;
    const now = new Date().toISOString();
    const { version: _v, createdAt: _c, ...rest } = draft as Draft & { version?: unknown; createdAt?: unknown };
    const json = JSON.stringify({ ...rest, createdAt: now });
    const reply = await this.run(
      SCRIPTS.putVersion,
      [this.fnKey(namespace, name), this.versionsKey(namespace, name), this.fnIndexKey(namespace)],
      [deploymentSignature(draft), json, now, name],
    );
    const [created, versionJson] = asArray(reply);
    return { version: JSON.parse(String(versionJson)) as FunctionVersion, created: Number(created) === 1 };
  }

  async getFunction(namespace: string, name: string): Promise<FunctionRecord | undefined> {
    const reply = asArray(
      await this.run(SCRIPTS.getFunction, [this.fnKey(namespace, name), this.versionsKey(namespace, name)], []),
    );
    if (reply.length === 0 || !reply[0]) return undefined;
    const latest = JSON.parse(String(reply[0])) as FunctionVersion;
    const versions = asArray(reply[3])
      .map(Number)
      .sort((a, b) => a - b);
    return {
      namespace,
      name,
      latest,
      versions,
      createdAt: String(reply[1] || latest.createdAt),
      updatedAt: String(reply[2] || latest.createdAt),
    };
  }

  async getFunctionVersion(namespace: string, name: string, version: number): Promise<FunctionVersion | undefined> {
    const json = await this.call(() => this.client.hget(this.versionsKey(namespace, name), String(version)));
    return json ? (JSON.parse(json) as FunctionVersion) : undefined;
  }

  async listFunctions(namespace: string): Promise<FunctionRecord[]> {
    const names = await this.call(() => this.client.zrange(this.fnIndexKey(namespace), '0', '-1'));
    // Sent together: the client writes them back to back (one round trip's worth of latency).
    const records = await Promise.all(names.map((n) => this.getFunction(namespace, n)));
    return records.filter((r): r is FunctionRecord => r !== undefined);
  }

  async deleteFunction(namespace: string, name: string): Promise<boolean> {
    const reply = await this.run(
      SCRIPTS.deleteFunction,
      [this.fnKey(namespace, name), this.versionsKey(namespace, name), this.fnIndexKey(namespace)],
      [name],
    );
    return Number(reply) === 1;
  }

  // -------------------------------------------------------------------------
  // activations

  async putActivation(activation: Activation): Promise<void> {
    await this.writeActivation(activation);
  }

  async finishActivation(activation: Activation): Promise<boolean> {
    return await this.writeActivation(activation);
  }

  async getActivation(namespace: string, activationId: string): Promise<Activation | undefined> {
    const json = await this.call(() => this.client.hget(this.actKey(namespace, activationId), 'j'));
    return json ? (JSON.parse(json) as Activation) : undefined;
  }

  async listActivations(namespace: string, query: ListActivationsQuery): Promise<Activation[]> {
    const limit = Math.max(0, Math.floor(query.limit));
    if (limit === 0) return [];
    const index = query.function === undefined ? this.actIndexKey(namespace) : this.actFnIndexKey(namespace, query.function);
    const reply = await this.run(SCRIPTS.listActivations, [index], [limit, `${this.prefix}act:${namespace}:`]);
    return asArray(reply).map((j) => JSON.parse(String(j)) as Activation);
  }

  async deleteActivations(namespace: string): Promise<number> {
    // Records first, by SCAN (the capped indexes need not name them all), then the indexes.
    const removed = await this.unlinkPrefix(`${this.prefix}act:${namespace}:`);
    await this.unlinkPrefix(`${this.prefix}actsfn:${namespace}:`);
    await this.call(() => this.client.unlink(this.actIndexKey(namespace)));
    return removed;
  }

  private async writeActivation(a: Activation): Promise<boolean> {
    const score = Date.parse(a.queuedAt);
    const reply = await this.run(
      SCRIPTS.putActivation,
      [this.actKey(a.namespace, a.activationId), this.actIndexKey(a.namespace), this.actFnIndexKey(a.namespace, a.function)],
      [
        JSON.stringify(a),
        a.status,
        this.ttlS,
        Number.isFinite(score) ? score : Date.now(),
        a.activationId,
        this.cap,
        FINAL_LIST,
      ],
    );
    return Number(reply) === 1;
  }

  // -------------------------------------------------------------------------
  // plumbing

  private fnKey(ns: string, name: string): string {
    return `${this.prefix}fn:${ns}:${name}`;
  }
  private versionsKey(ns: string, name: string): string {
    return `${this.prefix}fnv:${ns}:${name}`;
  }
  private fnIndexKey(ns: string): string {
    return `${this.prefix}fns:${ns}`;
  }
  private actKey(ns: string, id: string): string {
    return `${this.prefix}act:${ns}:${id}`;
  }
  private actIndexKey(ns: string): string {
    return `${this.prefix}acts:${ns}`;
  }
  private actFnIndexKey(ns: string, fn: string): string {
    return `${this.prefix}actsfn:${ns}:${fn}`;
  }

}


function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}



