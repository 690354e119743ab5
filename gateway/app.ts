import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { AuthError, BriskError, PayloadTooLargeError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DEFAULT_NAMESPACE, type FunctionVersion } from '../core/types.js';
import type { MetadataStore } from '../storage/types.js';
import { assertName, settingsSchema, type DeployLimits, type FunctionService } from './function-service.js';
import type { Invoker } from './invoker.js';
import { ACTIVATION_HEADER, sendOutcome } from './responses.js';
import { sendWebResult, toHttpEvent } from './web-endpoint.js';

export interface GatewayAppDeps {
  functions: FunctionService;
  invoker: Invoker;
  store: MetadataStore;
  logger: Logger;
  limits: DeployLimits & { maxPayloadBytes: number; maxCodeBytes: number };
  adminKey?: string;
  /** Extra readiness checks for /healthz (bus and stores connected). */
  health: () => Record<string, string>;
}

/**
 * The gateway's HTTP front end (the lecture's "front end"): the v1 API, the
 * web endpoints under /fn, and /healthz. Everything is stored under the
 * `default` namespace until tenancy arrives.
 */
export function createGatewayApp(deps: GatewayAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const ns = DEFAULT_NAMESPACE;
  const { limits } = deps;

  const jsonBody = express.json({ limit: limits.maxCodeBytes, strict: false });
  const archiveBody = express.raw({ type: ['application/zip', 'application/gzip', 'application/x-gzip', 'application/x-tar+gzip', 'application/octet-stream'], limit: limits.maxCodeBytes });
  const eventBody = express.text({ type: () => true, limit: limits.maxPayloadBytes });
  const rawBody = express.raw({ type: () => true, limit: limits.maxPayloadBytes });

  app.get('/healthz', (_req, res) => {
    const checks = deps.health();
    const ok = Object.values(checks).every((s) => s === 'ready');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', checks });
  });

  app.use('/v1', authenticate(deps.adminKey));

  app.put('/v1/functions/:name', archiveBody, jsonBody, async (req, res) => {
    const name = param(req, 'name');
    assertName(name);
    const schema = settingsSchema(limits);
    const result = Buffer.isBuffer(req.body)
      ? await deps.functions.deploy(
          ns,
          name,
          { kind: 'archive', archive: req.body, format: archiveFormat(req) },
          parseSettings(schema, req.query),
        )
      : await deployFromJson(req.body);
    res.status(result.created ? 201 : 200).json(describeVersion(result.fn, result.created));

    async function deployFromJson(body: unknown) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ValidationError('INVALID_BODY', 'expected a JSON object { code, handler?, memoryMb?, timeoutMs?, env? } or a .zip/.tar.gz body');
      }
      const { code, ...rest } = body as Record<string, unknown>;
      if (typeof code !== 'string' || code.length === 0) throw new ValidationError('INVALID_BODY', '`code` must be a non-empty string');
      return deps.functions.deploy(ns, name, { kind: 'source', code }, parseSettings(schema, rest));
    }
  });

  app.get('/v1/functions', async (_req, res) => {
    const list = await deps.functions.list(ns);
    res.json({ functions: list.map((r) => ({ ...describeVersion(r.latest), versions: r.versions, createdAt: r.createdAt, updatedAt: r.updatedAt })) });
  });

  app.get('/v1/functions/:name', async (req, res) => {
    const r = await deps.functions.get(ns, param(req, 'name'));
    res.json({ ...describeVersion(r.latest), versions: r.versions, createdAt: r.createdAt, updatedAt: r.updatedAt });
  });

  app.delete('/v1/functions/:name', async (req, res) => {
    await deps.functions.delete(ns, param(req, 'name'));
    res.status(204).end();
  });

  app.post('/v1/functions/:name/invoke', eventBody, async (req, res) => {
    const version = req.query['version'] === undefined ? undefined : Number(req.query['version']);
    if (version !== undefined && !(Number.isInteger(version) && version > 0)) {
      throw new ValidationError('INVALID_VERSION', 'version must be a positive integer');
    }
    const fn = await deps.functions.resolve(ns, param(req, 'name'), version);
    const payload = eventPayload(req.body);
    if (req.query['async'] === 'true' || req.query['async'] === '1') {
      const activationId = await deps.invoker.invokeAsync(fn, payload);
      res.setHeader(ACTIVATION_HEADER, activationId);
      res.status(202).json({ activationId });
      return;
    }
    const activationId = deps.invoker.newActivationId();
    res.setHeader(ACTIVATION_HEADER, activationId);
    sendOutcome(res, await deps.invoker.invokeSync(fn, payload, { activationId }));
  });

  app.get('/v1/activations/:id', async (req, res) => {
    const id = param(req, 'id');
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(id)) throw new ValidationError('INVALID_ACTIVATION_ID', 'malformed activation id');
    const a = await deps.store.getActivation(ns, id);
    if (!a) throw new BriskError('ACTIVATION_NOT_FOUND', `activation '${id}' not found`, { status: 404 });
    res.json(a);
  });

  app.get('/v1/activations', async (req, res) => {
    const limit = req.query['limit'] === undefined ? 50 : Number(req.query['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError('INVALID_LIMIT', 'limit must be 1..1000');
    const fnName = typeof req.query['function'] === 'string' ? req.query['function'] : undefined;
    if (fnName !== undefined) assertName(fnName);
    const list = await deps.store.listActivations(ns, { limit, ...(fnName !== undefined ? { function: fnName } : {}) });
    res.json({ activations: list });
  });

  const web = async (req: Request, res: Response): Promise<void> => {
    const fn: FunctionVersion = await deps.functions.resolve(ns, param(req, 'name'));
    const rest = req.params['path'];
    const subPath = '/' + (Array.isArray(rest) ? rest.join('/') : typeof rest === 'string' ? rest : '');
    const event = toHttpEvent(req, subPath);
    const activationId = deps.invoker.newActivationId();
    res.setHeader(ACTIVATION_HEADER, activationId);
    sendWebResult(res, await deps.invoker.invokeSync(fn, JSON.stringify(event), { activationId }));
  };
  app.all('/fn/:name', rawBody, web);
  app.all('/fn/:name/*path', rawBody, web);

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' } });
  });
  app.use(errorMiddleware(deps.logger));
  return app;
}

function param(req: Request, name: string): string {
  const v = req.params[name];
  return typeof v === 'string' ? v : '';
}

function eventPayload(body: unknown): string {
  const text = typeof body === 'string' ? body : '';
  if (text.trim().length === 0) return '{}';
  try {
    JSON.parse(text);
  } catch (err) {
    throw new ValidationError('MALFORMED_JSON', `the event is not valid JSON: ${(err as Error).message}`);
  }
  return text;
}

function archiveFormat(req: Request): 'zip' | 'tgz' {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.includes('zip')) return 'zip';
  if (type.includes('gzip')) return 'tgz';
  // application/octet-stream: sniff the magic bytes.
  const b = req.body as Buffer;
  if (b[0] === 0x50 && b[1] === 0x4b) return 'zip';
  if (b[0] === 0x1f && b[1] === 0x8b) return 'tgz';
  throw new ValidationError('UNSUPPORTED_ARCHIVE', 'expected a .zip or .tar.gz body');
}

function parseSettings<S extends ReturnType<typeof settingsSchema>>(schema: S, input: unknown) {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new ValidationError('INVALID_SETTINGS', issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  return r.data;
}

function describeVersion(fn: FunctionVersion, created?: boolean) {
  return {
    name: fn.name,
    namespace: fn.namespace,
    version: fn.version,
    codeHash: fn.codeHash,
    codeSize: fn.codeSize,
    handler: fn.handler,
    memoryMb: fn.memoryMb,
    timeoutMs: fn.timeoutMs,
    env: fn.env,
    maxConcurrency: fn.maxConcurrency,
    retries: fn.retries,
    allowEgress: fn.allowEgress,
    ...(created !== undefined ? { created } : {}),
  };
}

function authenticate(adminKey: string | undefined) {
  const expected = adminKey === undefined ? undefined : createHash('sha256').update(adminKey).digest();
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!expected) return next();
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const got = createHash('sha256').update(token).digest();
    if (token.length === 0 || !timingSafeEqual(got, expected)) {
      return next(new AuthError('UNAUTHORIZED', 'missing or invalid API key (Authorization: Bearer <key>)'));
    }
    next();
  };
}

/** The one place errors become HTTP responses: `{ error: { code, message, ... } }`. */
function errorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = toBriskError(err);
    if (e.status >= 500) logger.error({ err, path: req.path, code: e.code }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    if (e.status >= 500) res.setHeader('x-brisk-fault', 'platform');
    const retryAfter = e.data?.['retryAfterSeconds'];
    if (typeof retryAfter === 'number') res.setHeader('retry-after', String(Math.ceil(retryAfter)));
    res.status(e.status).json({ error: { code: e.code, message: e.message, ...(e.data ? { details: e.data } : {}) } });
  };
}

function toBriskError(err: unknown): BriskError {
  if (err instanceof BriskError) return err;
  const bodyErr = err as { type?: string; limit?: number; status?: number; message?: string };
  if (bodyErr?.type === 'entity.too.large') return new PayloadTooLargeError(bodyErr.limit ?? 0);
  if (bodyErr?.type === 'entity.parse.failed') return new ValidationError('MALFORMED_JSON', `malformed JSON body: ${bodyErr.message ?? ''}`);
  if (typeof bodyErr?.status === 'number' && bodyErr.status >= 400 && bodyErr.status < 500) {
    return new ValidationError('BAD_REQUEST', bodyErr.message ?? 'bad request');
  }
  return new BriskError('INTERNAL', 'internal error', { status: 500 });
}
