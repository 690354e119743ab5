import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BriskError, NotFoundError, PayloadTooLargeError, ValidationError } from '../core/errors.js';
import { FUNCTION_TARGET_PATTERN, NAME_PATTERN } from '../core/schemas.js';
import type { FunctionRecord, FunctionRuntime, FunctionVersion } from '../core/types.js';
import type { BundleStore } from '../storage/bundles.js';
import { codeKey, filesKey, type MetadataStore } from '../storage/types.js';
import type { AliasStore } from '../releases/alias-store.js';
import type { ProvisionedStore } from '../releases/provisioned-store.js';
import type { FunctionRouter, RoutedFunction } from '../releases/function-router.js';
import type { FunctionTarget } from '../releases/function-target.js';
import type { FunctionSecrets } from '../tenancy/function-secrets.js';
import type { NamespaceQuotas } from '../tenancy/types.js';
import type { BundleOutput, Bundler } from './deploy/bundler.js';
import type { PythonBuilder } from './deploy/python-build.js';
import type { RuntimeCatalog } from './runtimes.js';

/** Limits and defaults that shape a deploy (from the config). */
export interface DeployLimits {
  defaultMemoryMb: number;
  maxMemoryMb: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
}

/** Settings accepted at deploy time, from a JSON body or an archive's query string. */
export function settingsSchema(limits: DeployLimits) {
  return z.object({
    handler: z.string().min(1).max(200).optional(),
    /** `nodejs` (default), `python` or `image`; checked by the runtime catalog (INVALID_RUNTIME, not INVALID_SETTINGS). */
    runtime: z.string().max(32).optional(),
    /** `runtime: image` only: the image to run. */
    image: z.string().max(256).optional(),
    // Unset: the installation's default, lowered to the namespace's ceiling (see FunctionService.deploy).
    memoryMb: z.coerce.number().int().min(64).max(limits.maxMemoryMb).optional(),
    timeoutMs: z.coerce.number().int().min(100).max(limits.maxTimeoutMs).optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(32 * 1024))
      .refine((e) => Object.keys(e).length <= 100, 'at most 100 environment variables')
      .default({}),
    maxConcurrency: z.coerce.number().int().min(0).max(100_000).default(0),
    retries: z.coerce.number().int().min(0).max(10).default(2),
    /** Calls one warm instance takes at once (an I/O-bound handler can serve many). */
    concurrency: z.coerce.number().int().min(1).max(100).default(1),
    allowEgress: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .default(false),
    /** A function of the same namespace that receives this one's dead letters (`name` or `name:alias`). */
    onFailure: z.string().regex(FUNCTION_TARGET_PATTERN, 'must be a function name or name:alias').optional(),
    /** `/fn/{name}` answers without an API key. */
    public: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .default(false),
    /** Secret values for the function's environment: encrypted at rest, never shown again. */
    secrets: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(32 * 1024))
      .refine((e) => Object.keys(e).length <= 100, 'at most 100 secrets')
      .optional(),
  });
}

export type DeploySettings = z.infer<ReturnType<typeof settingsSchema>>;

/** What a deploy returns to the user. */
export interface DeployResult {
  created: boolean;
  fn: FunctionVersion;
  /** Non-fatal notes from the build (esbuild's warnings, a handler that may not be what was meant …). */
  warnings: string[];
}

export type DeploySource =
  | { kind: 'source'; code: string }
  | { kind: 'archive'; archive: Buffer; format: 'zip' | 'tgz' };

/**
 * Deploys and looks up functions: bundles the code, stores the bundle
 * content-addressed (sha256) in the object store, and records an immutable
 * version in the metadata store.
 */
export class FunctionService {
  constructor(
    private readonly deps: {
      store: MetadataStore;
      /** Where bundles go (content-addressed; see {@link BundleStore}). */
      bundles: Pick<BundleStore, 'put'>;
      /** A bundler honouring a namespace's archive limits. */
      bundler: (limits: { maxUnpackedBytes: number }) => Bundler;
      /** The Python build (compile check, packaging), honouring the same limits. */
      pythonBuilder: (limits: { maxUnpackedBytes: number }) => PythonBuilder;
      /** Which runtimes a namespace may deploy on. */
      runtimes: RuntimeCatalog;
      secrets: FunctionSecrets;
      quotas: (namespace: string) => Promise<NamespaceQuotas>;
      /** Memory and timeout of a function whose deploy does not say. */
      defaults: { memoryMb: number; timeoutMs: number };
      /** The function's aliases (deleted with it). */
      aliases: Pick<AliasStore, 'deleteFunction'>;
      /** The function's provisioned-instance configs (deleted with it). */
      provisioned: Pick<ProvisionedStore, 'deleteWhere'>;
      /** Resolves `name:alias` calls (and forgets a function's aliases when it changes). */
      router: Pick<FunctionRouter, 'resolve' | 'forget'>;
      /** Told after every deploy, delete or alias change (the gateway tells the other gateways). */
      onChange?: (namespace: string, name: string) => void;
    },
  ) {}

  /**
   * Latest versions by `<ns>/<name>`, read on every invocation, kept for
   * {@link LATEST_CACHE_MS}: a deploy through this gateway, or a change notice
   * from another, drops the entry at once; the time bound covers a lost notice.
   */
  private readonly latest = new Map<string, { fn: FunctionVersion; until: number }>();

  /** Drop what is cached of a function (it was deployed or deleted, here or elsewhere). */
  forget(namespace: string, name: string): void {
    this.latest.delete(`${namespace}/${name}`);
    this.deps.router.forget(namespace, name);
  }

  /** Something of the function changed here (a deploy, a delete, an alias move): forget it and tell the others. */
  changed(namespace: string, name: string): void {
    this.forget(namespace, name);
    this.deps.onChange?.(namespace, name);
  }

  async deploy(namespace: string, name: string, source: DeploySource, requested: DeploySettings): Promise<DeployResult> {
    assertName(name);
    const quotas = await this.deps.quotas(namespace);
    const settings = {
      ...requested,
      memoryMb: requested.memoryMb ?? Math.min(this.deps.defaults.memoryMb, quotas.maxMemoryMb),
      timeoutMs: requested.timeoutMs ?? Math.min(this.deps.defaults.timeoutMs, quotas.maxTimeoutMs),
    };
    const { runtime, image } = await this.deps.runtimes.check(namespace, settings.runtime, settings.image);
    await this.checkQuotas(namespace, name, source, settings, quotas);
    const handler = settings.handler ?? 'index.handler';
    const bundle = await this.build(source, runtime, settings.handler, quotas.maxUnpackedBytes);
    const secrets = settings.secrets && Object.keys(settings.secrets).length > 0
      ? await this.deps.secrets.store(namespace, name, settings.secrets)
      : undefined;
    await this.deps.bundles.put(codeKey(bundle.codeHash), bundle.code);
    if (bundle.files) await this.deps.bundles.put(filesKey(bundle.files.hash), bundle.files.archive);
    const { version, created } = await this.deps.store.putFunctionVersion({
      namespace,
      name,
      codeHash: bundle.codeHash,
      codeSize: bundle.code.length,
      ...(bundle.files ? { filesHash: bundle.files.hash, filesSize: bundle.files.archive.length } : {}),
      exportName: bundle.exportName,
      handler,
      memoryMb: settings.memoryMb,
      timeoutMs: settings.timeoutMs,
      env: settings.env,
      maxConcurrency: settings.maxConcurrency,
      retries: settings.retries,
      ...(settings.concurrency > 1 ? { concurrency: settings.concurrency } : {}),
      allowEgress: settings.allowEgress,
      ...(settings.onFailure !== undefined ? { onFailure: settings.onFailure } : {}),
      public: settings.public,
      // Node.js versions are stored without it, as they were before runtimes existed (same bytes, same version).
      ...(runtime !== 'nodejs' ? { runtime } : {}),
      ...(image !== undefined ? { image } : {}),
      ...(secrets ?? {}),
    });
    if (created) {
      this.changed(namespace, name);
      // Its first call through this gateway runs it without reading it back (the others were told to forget theirs).
      this.remember(namespace, name, version);
    }
    return { created, fn: version, warnings: bundle.warnings };
  }

  /**
   * The code of a version, by runtime. Node.js: bundled (no handler given: an
   * archive's entry is package.json's `main`, else index). Python: compiled
   * and packed as it is. Image: the image is the code; an empty source (any
   * `code` sent is refused, the image would never see it).
   */
  private async build(source: DeploySource, runtime: FunctionRuntime, handler: string | undefined, maxUnpackedBytes: number): Promise<BundleOutput> {
    if (runtime === 'image') {
      if (source.kind === 'archive' || source.code !== '') {
        throw new ValidationError('INVALID_BODY', "an image function's code is its image: send no `code` and no archive");
      }
      const code = Buffer.alloc(0);
      return { code, codeHash: createHash('sha256').update(code).digest('hex'), exportName: parseExportName(handler), warnings: [] };
    }
    if (runtime === 'python') {
      const py = this.deps.pythonBuilder({ maxUnpackedBytes });
      return source.kind === 'source' ? py.buildSource(source.code, handler ?? 'index.handler') : py.buildArchive(source.archive, source.format, handler ?? 'index.handler');
    }
    const bundler = this.deps.bundler({ maxUnpackedBytes });
    return source.kind === 'source' ? bundler.bundleSource(source.code, handler ?? 'index.handler') : bundler.bundleArchive(source.archive, source.format, handler ?? 'handler');
  }

  /** Namespace quotas that a deploy can break; each has its own error code. */
  private async checkQuotas(namespace: string, name: string, source: DeploySource, settings: DeploySettings & { memoryMb: number; timeoutMs: number }, q: NamespaceQuotas): Promise<void> {
    const size = source.kind === 'source' ? Buffer.byteLength(source.code) : source.archive.length;
    if (size > q.maxCodeBytes) throw new PayloadTooLargeError(q.maxCodeBytes, 'QUOTA_CODE_SIZE');
    if (settings.memoryMb > q.maxMemoryMb) {
      throw new ValidationError('QUOTA_MEMORY', `memoryMb ${settings.memoryMb} is over this namespace's ceiling of ${q.maxMemoryMb}`);
    }
    if (settings.timeoutMs > q.maxTimeoutMs) {
      throw new ValidationError('QUOTA_TIMEOUT', `timeoutMs ${settings.timeoutMs} is over this namespace's ceiling of ${q.maxTimeoutMs}`);
    }
    if ((await this.deps.store.getFunction(namespace, name)) === undefined) {
      const count = (await this.deps.store.listFunctions(namespace)).length;
      if (count >= q.maxFunctions) {
        throw new BriskError('QUOTA_FUNCTIONS', `this namespace already has ${count} functions (quota ${q.maxFunctions})`, { status: 403 });
      }
    }
  }

  async get(namespace: string, name: string): Promise<FunctionRecord> {
    assertName(name);
    const rec = await this.deps.store.getFunction(namespace, name);
    if (!rec) throw new NotFoundError('function', name);
    return rec;
  }

  /** A specific version, or the latest when `version` is undefined. */
  private remember(namespace: string, name: string, fn: FunctionVersion): void {
    if (this.latest.size >= LATEST_CACHE_MAX) this.latest.clear();
    this.latest.set(`${namespace}/${name}`, { fn, until: Date.now() + LATEST_CACHE_MS });
  }

  async resolve(namespace: string, name: string, version?: number): Promise<FunctionVersion> {
    if (version === undefined) {
      const key = `${namespace}/${name}`;
      const hit = this.latest.get(key);
      if (hit && hit.until > Date.now()) return hit.fn;
      const fn = (await this.get(namespace, name)).latest;
      this.remember(namespace, name, fn);
      return fn;
    }
    assertName(name);
    const v = await this.deps.store.getFunctionVersion(namespace, name, version);
    if (!v) throw new NotFoundError('function', `${name}@${version}`);
    return v;
  }

  /**
   * The version one call runs: `alias` routes by the alias's weights (drawn
   * per call), `version` is exact, neither is the latest.
   */
  async route(namespace: string, target: FunctionTarget): Promise<RoutedFunction> {
    assertName(target.name);
    if (target.alias === undefined) return { fn: await this.resolve(namespace, target.name, target.version) };
    return this.deps.router.resolve(namespace, target);
  }

  list(namespace: string): Promise<FunctionRecord[]> {
    return this.deps.store.listFunctions(namespace);
  }

  async delete(namespace: string, name: string): Promise<void> {
    assertName(name);
    if (!(await this.deps.store.deleteFunction(namespace, name))) throw new NotFoundError('function', name);
    // Before a redeploy can number versions from 1 again, so no alias points at a stranger's version.
    await this.deps.aliases.deleteFunction(namespace, name);
    await this.deps.provisioned.deleteWhere(namespace, name);
    this.changed(namespace, name);
    await this.deps.secrets.drop(namespace, name);
  }
}

/** How long a gateway reuses a function's latest version without asking the store. */
export const LATEST_CACHE_MS = 1000;
const LATEST_CACHE_MAX = 10_000;

/** Names: `[a-z0-9][a-z0-9-_]{0,62}` — safe in URLs, keys, queue names and file paths. */
export function assertName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError('INVALID_NAME', `invalid name '${name.slice(0, 80)}': use [a-z0-9][a-z0-9-_]{0,62}`);
  }
}

/** The function part of an image function's handler (passed to its /init as `exportName`); `handler` by default. */
function parseExportName(handler: string | undefined): string {
  if (handler === undefined) return 'handler';
  const name = handler.slice(handler.lastIndexOf('.') + 1);
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new ValidationError('INVALID_HANDLER', `handler '${handler}' does not end in a function name`, { handler });
  return name;
}
