import { MIMEType } from 'node:util';
import express, { type Request } from 'express';
import { ValidationError } from '../../core/errors.js';
import { runtimeOf, type FunctionVersion } from '../../core/types.js';
import { assertName, settingsSchema, type DeployLimits, type FunctionService } from '../function-service.js';
import { declaredLengthGuard, limitedBody, namespaceOf, param, parseWith, requireWrite } from '../../web/http.js';
import type { Submitter } from '../../invocations/submit.js';
import type { Invoker } from '../invoker.js';
import type { RuntimeCatalog } from '../runtimes.js';
import type { ProvisionedService } from '../../releases/provisioned-service.js';
import { expressInvokeHandler } from './invoke.js';

export { eventPayload } from './invoke.js';

export interface FunctionRoutesDeps {
  functions: FunctionService;
  invoker: Invoker;
  /** What `GET /v1/runtimes` lists. */
  runtimes: RuntimeCatalog;
  submitter: Pick<Submitter, 'submitAsync'>;
  limits: DeployLimits & { maxPayloadBytes: number; maxCodeBytes: number };
  /** Namespace quotas for one invocation (rate, payload size); throws when over. */
  admit: (namespace: string, payloadBytes: number, mode: 'sync' | 'async') => Promise<void>;
  /** Provisioned instances, shown (ready / wanted) on a function's GET. */
  provisioned: Pick<ProvisionedService, 'summary'>;
}

const ARCHIVE_TYPES = ['application/zip', 'application/x-zip-compressed', 'application/gzip', 'application/x-gzip', 'application/x-tar+gzip', 'application/octet-stream'];

/** Deploy, list, get, delete and invoke functions: `/v1/functions…`. */
export function functionRoutes(deps: FunctionRoutesDeps): express.Router {
  const r = express.Router();
  const { limits } = deps;
  const schema = settingsSchema(limits);
  // An archive or a JSON body, under one limit checked once against the declared length.
  const deployGuard = declaredLengthGuard(limits.maxCodeBytes);
  const archiveBody = express.raw({ type: ARCHIVE_TYPES, limit: limits.maxCodeBytes });
  const jsonBody = express.json({ limit: limits.maxCodeBytes, strict: false });
  const eventBody = limitedBody(limits.maxPayloadBytes, (limit) => express.text({ type: () => true, limit }));

  r.put('/v1/functions/:name', deployGuard, archiveBody, jsonBody, async (req, res) => {
    requireWrite(res);
    const ns = namespaceOf(res);
    const name = param(req, 'name');
    assertName(name);
    let result;
    if (Buffer.isBuffer(req.body)) {
      const query = { ...req.query } as Record<string, unknown>;
      if (typeof query['env'] === 'string') query['env'] = parseJsonParam('env', query['env']);
      const settings = parseWith(schema, query, 'INVALID_SETTINGS');
      result = await deps.functions.deploy(ns, name, { kind: 'archive', archive: req.body, format: archiveFormat(req) }, settings);
    } else {
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ValidationError('INVALID_BODY', 'expected a JSON object { code, handler?, memoryMb?, timeoutMs?, env? } or a .zip/.tar.gz body');
      }
      const { code, ...rest } = body as Record<string, unknown>;
      // An image function has no code: its image is what runs.
      const imageWithoutCode = rest['runtime'] === 'image' && code === undefined;
      if (!imageWithoutCode && (typeof code !== 'string' || code.length === 0)) throw new ValidationError('INVALID_BODY', '`code` must be a non-empty string');
      result = await deps.functions.deploy(ns, name, { kind: 'source', code: imageWithoutCode ? '' : (code as string) }, parseWith(schema, rest, 'INVALID_SETTINGS'));
    }
    res.status(result.created ? 201 : 200).json({ ...describeVersion(result.fn, result.created), warnings: result.warnings });
  });

  r.get('/v1/runtimes', async (_req, res) => {
    res.json({ runtimes: await deps.runtimes.list(namespaceOf(res)) });
  });

  r.get('/v1/functions', async (_req, res) => {
    const list = await deps.functions.list(namespaceOf(res));
    res.json({ functions: list.map((f) => ({ ...describeVersion(f.latest), versions: f.versions, createdAt: f.createdAt, updatedAt: f.updatedAt })) });
  });

  r.get('/v1/functions/:name', async (req, res) => {
    const ns = namespaceOf(res);
    const f = await deps.functions.get(ns, param(req, 'name'));
    const provisioned = await deps.provisioned.summary(ns, f.name);
    res.json({ ...describeVersion(f.latest), versions: f.versions, createdAt: f.createdAt, updatedAt: f.updatedAt, ...(provisioned ? { provisioned } : {}) });
  });

  r.delete('/v1/functions/:name', async (req, res) => {
    requireWrite(res);
    await deps.functions.delete(namespaceOf(res), param(req, 'name'));
    res.status(204).end();
  });

  // The same route also answers in front of Express (rawInvokeHandler, gateway/app.ts); see routes/invoke.ts.
  r.post('/v1/functions/:name/invoke', eventBody, expressInvokeHandler(deps));

  return r;
}

function parseJsonParam(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('INVALID_SETTINGS', `${name} must be a JSON object`);
  }
}

function archiveFormat(req: Request): 'zip' | 'tgz' {
  return archiveFormatOf(req.headers['content-type'], req.body as Buffer);
}

/** Media types (their essence: no parameters, lower case) that name an archive format. */
const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed']);
const TGZ_TYPES = new Set(['application/gzip', 'application/x-gzip', 'application/x-tar+gzip']);

/**
 * The archive format a deploy body is in: by its media type, parsed (so
 * `application/gzip` is never mistaken for zip because it contains "zip"),
 * else (`application/octet-stream`, no or a malformed type) by its magic bytes.
 */
export function archiveFormatOf(contentType: string | undefined, body: Buffer): 'zip' | 'tgz' {
  const essence = mediaTypeEssence(contentType);
  if (essence !== undefined && ZIP_TYPES.has(essence)) return 'zip';
  if (essence !== undefined && TGZ_TYPES.has(essence)) return 'tgz';
  if (body[0] === 0x50 && body[1] === 0x4b) return 'zip';
  if (body[0] === 0x1f && body[1] === 0x8b) return 'tgz';
  throw new ValidationError('UNSUPPORTED_ARCHIVE', 'expected a .zip or .tar.gz body');
}

/** `type/subtype` of a Content-Type header, lower case, without parameters; undefined when absent or malformed. */
export function mediaTypeEssence(contentType: string | undefined): string | undefined {
  if (contentType === undefined || contentType.trim() === '') return undefined;
  try {
    return new MIMEType(contentType).essence;
  } catch {
    return undefined;
  }
}

/** What the API shows of a version (never secrets). */
export function describeVersion(fn: FunctionVersion, created?: boolean) {
  return {
    name: fn.name,
    namespace: fn.namespace,
    version: fn.version,
    codeHash: fn.codeHash,
    codeSize: fn.codeSize,
    ...(fn.filesHash !== undefined ? { filesHash: fn.filesHash, filesSize: fn.filesSize } : {}),
    handler: fn.handler,
    runtime: runtimeOf(fn),
    ...(fn.image !== undefined ? { image: fn.image } : {}),
    memoryMb: fn.memoryMb,
    timeoutMs: fn.timeoutMs,
    env: fn.env,
    maxConcurrency: fn.maxConcurrency,
    retries: fn.retries,
    concurrency: fn.concurrency ?? 1,
    allowEgress: fn.allowEgress,
    public: fn.public ?? false,
    secretNames: fn.secretNames ?? [],
    ...(fn.onFailure !== undefined ? { onFailure: fn.onFailure } : {}),
    ...(created !== undefined ? { created } : {}),
  };
}
