import type { RequestListener } from 'node:http';
import express from 'express';
import type { Logger } from '../core/logger.js';
import type { MetadataStore } from '../storage/types.js';
import type { Authenticator } from './auth.js';
import type { DeployLimits, FunctionService } from './function-service.js';
import { AuthError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { closeIfBodyUnread, errorMiddleware, principalOf } from '../web/http.js';
import type { Submitter } from '../invocations/submit.js';
import type { Invoker } from './invoker.js';
import type { RuntimeCatalog } from './runtimes.js';
import { activationRoutes } from './routes/activations.js';
import type { AliasService } from '../releases/alias-service.js';
import type { ProvisionedService } from '../releases/provisioned-service.js';
import { aliasRoutes } from './routes/aliases.js';
import { functionRoutes } from './routes/functions.js';
import { provisionedRoutes } from './routes/provisioned.js';
import { rawInvokeHandler } from './routes/invoke.js';
import { webRoutes } from './routes/web.js';

export interface GatewayAppDeps {
  functions: FunctionService;
  /** Aliases of functions: `/v1/functions/{name}/aliases…`. */
  aliases: AliasService;
  /** Provisioned instances: `/v1/functions/{name}/provisioned…`. */
  provisioned: ProvisionedService;
  invoker: Invoker;
  /** The runtimes deploys may choose (`GET /v1/runtimes`). */
  runtimes: RuntimeCatalog;
  /** Async invocations: recorded `queued` and sent. */
  submitter: Pick<Submitter, 'submitAsync'>;
  store: MetadataStore;
  logger: Logger;
  limits: DeployLimits & { maxPayloadBytes: number; maxCodeBytes: number };
  auth: Authenticator;
  /** Namespace quotas for one invocation (rate, payload size); throws when over. */
  admit: (namespace: string, payloadBytes: number, mode: 'sync' | 'async') => Promise<void>;
  /** Operator routes (namespaces and keys). */
  adminRouter?: express.Router;
  /** Prometheus metrics of this process, served at /metrics (admin key required when one is set). */
  metrics?: Metrics;
  /** Readiness of the bus and stores, for /healthz. */
  health: () => Record<string, string>;
  /** More /v1 routers (triggers, objects, dead letters …), mounted behind authentication. */
  apiRouters?: express.Router[];
  /** More public routers (outside /v1's key check), e.g. http trigger routes. */
  publicRouters?: express.Router[];
}

/**
 * The gateway's HTTP front end (the lecture's "front end"): /healthz, the v1
 * API behind authentication, and public web endpoints. Each feature is a
 * router in `routes/`; errors all go through one middleware.
 */
export function createGatewayApp(deps: GatewayAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    const checks = deps.health();
    const ok = Object.values(checks).every((s) => s === 'ready');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', checks });
  });

  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', deps.auth.middleware(), async (_req, res) => {
      if (!principalOf(res).admin) throw new AuthError('FORBIDDEN', 'metrics need the admin key');
      const { contentType, body } = await metrics.text();
      res.type(contentType).send(body);
    });
  }

  app.use('/v1', deps.auth.middleware());
  if (deps.adminRouter) app.use(deps.adminRouter);
  app.use(functionRoutes(deps));
  app.use(aliasRoutes({ aliases: deps.aliases }));
  app.use(provisionedRoutes({ provisioned: deps.provisioned }));
  app.use(activationRoutes(deps));
  for (const r of deps.apiRouters ?? []) app.use(r);

  app.use(
    webRoutes({
      functions: deps.functions,
      invoker: deps.invoker,
      maxPayloadBytes: deps.limits.maxPayloadBytes,
      caller: (req) => deps.auth.principal(req),
      admit: deps.admit,
    }),
  );
  for (const r of deps.publicRouters ?? []) app.use(r);

  app.use((req, res) => {
    closeIfBodyUnread(req, res);
    res.status(404).json({ error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' } });
  });
  app.use(errorMiddleware(deps.logger));
  return app;
}

/**
 * The gateway's request listener: the invoke route on the plain request for
 * the requests it takes (see routes/invoke.ts: the hot path skips Express's
 * router, middleware chain and body parser), the Express app for all others.
 */
export function createGatewayListener(deps: GatewayAppDeps): RequestListener {
  const app = createGatewayApp(deps);
  const raw = rawInvokeHandler({
    functions: deps.functions,
    invoker: deps.invoker,
    submitter: deps.submitter,
    admit: deps.admit,
    auth: deps.auth,
    maxPayloadBytes: deps.limits.maxPayloadBytes,
    logger: deps.logger,
  });
  return (req, res) => {
    if (!raw(req, res)) app(req, res);
  };
}
