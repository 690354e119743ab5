import express, { type Request, type Response } from 'express';
import { BriskError, NotFoundError } from '../core/errors.js';
import type { FunctionVersion, InvocationResult } from '../core/types.js';
import { limitedBody, param, type Principal } from '../web/http.js';
import { ACTIVATION_HEADER } from '../web/responses.js';
import { keyNeeded, sendWebResult, toHttpEvent, webNamespace } from '../web/web-endpoint.js';
import type { InvokeOptions } from '../invocations/submit.js';
import type { RoutedFunction } from '../releases/function-router.js';
import { parseFunctionTarget, type FunctionTarget } from '../releases/function-target.js';
import { compareSpecificity, compileHttpPattern, type CompiledHttpPattern } from './http-pattern.js';
import type { TriggerStore } from './trigger-store.js';
import { triggerLabel, type TriggerOf } from './types.js';

/** Where http trigger routes are served: `/http/<path pattern>`. */
export const HTTP_TRIGGER_PREFIX = '/http';


export interface HttpTriggerRouterDeps {
  triggers: Pick<TriggerStore, 'list'>;
  /** Resolves the trigger's `name` or `name:alias` to the version one call runs. */
  functions: { route(namespace: string, target: FunctionTarget): Promise<RoutedFunction> };
  invoker: {
    newActivationId(): string;
    invokeSync(fn: FunctionVersion, payload: string, opts?: InvokeOptions): Promise<InvocationResult>;
  };
  maxPayloadBytes: number;
  /** The caller, if it presented a valid key (undefined: anonymous). */
  caller: (req: Request) => Promise<Principal | undefined>;
  /** Namespace rate and payload quotas; throws when over. */
  admit?: (namespace: string, payloadBytes: number, mode: 'sync' | 'async') => Promise<void>;
}

/** The http trigger that serves a method and path, with its path parameters. */
export interface HttpRouteMatch {
  trigger: TriggerOf<'http'>;
  params: Record<string, string>;
}

/**
 * Pick the most specific http trigger matching the path, among those whose
 * method matches (`ANY` matches every method, `GET` also serves `HEAD`).
 * A path served only for other methods is a 405 with `Allow`; no path at all,
 * a 404.
 */
export function matchHttpTrigger(triggers: TriggerOf<'http'>[], method: string, path: string): HttpRouteMatch {
  const candidates: { t: TriggerOf<'http'>; c: CompiledHttpPattern; params: Record<string, string> }[] = [];
  for (const t of triggers) {
    const c = compileHttpPattern(t.path);
    const params = c.match(path);
    if (params) candidates.push({ t, c, params });
  }
  if (candidates.length === 0) throw new BriskError('ROUTE_NOT_FOUND', `no http trigger serves ${path}`, { status: 404 });
  const m = method.toUpperCase();
  const allowed = candidates.filter(({ t }) => t.method === 'ANY' || t.method === m || (m === 'HEAD' && t.method === 'GET'));
  if (allowed.length === 0) {
    const allow = [...new Set(candidates.map(({ t }) => t.method))].sort().join(', ');
    throw new BriskError('METHOD_NOT_ALLOWED', `${m} is not served at ${path}`, { status: 405, data: { allow } });
  }
  // Most specific path first; among equals an exact method beats ANY.
  allowed.sort((a, b) => compareSpecificity(a.c, b.c) || Number(a.t.method === 'ANY') - Number(b.t.method === 'ANY'));
  const best = allowed[0] as (typeof allowed)[number];
  return { trigger: best.t, params: best.params };
}

/**
 * `ANY /http/*path`: http triggers, answered like a web endpoint (`/fn/…`):
 * the event is the request (with `params` from the path pattern), the
 * function's `{ statusCode, headers, body }` becomes the response, and the
 * activation record names the trigger.
 */
export function httpTriggerRouter(deps: HttpTriggerRouterDeps): express.Router {
  const r = express.Router();
  const rawBody = limitedBody(deps.maxPayloadBytes, (limit) => express.raw({ type: () => true, limit }));
  const serve = async (req: Request, res: Response): Promise<void> => {
    // `/http/…` serves the caller key's namespace (or `default`); `/ns/{ns}/http/…` names it.
    const target = await webNamespace(req, param(req, 'ns'), deps.caller);
    const ns = target.namespace;
    const rest = req.params['path'];
    const subPath = '/' + (Array.isArray(rest) ? rest.join('/') : typeof rest === 'string' ? rest : '');
    // A caller without a key of the namespace sees its public routes only: whatever else it
    // asks for is the same 401, so private routes cannot be found by trying paths.
    const http = (await deps.triggers.list(ns)).filter(
      (t): t is TriggerOf<'http'> => t.type === 'http' && (target.authorized || t.public === true),
    );
    let match: HttpRouteMatch;
    try {
      match = matchHttpTrigger(http, req.method, subPath);
    } catch (err) {
      if (!target.authorized && err instanceof BriskError && err.code === 'ROUTE_NOT_FOUND') throw keyNeeded();
      if (err instanceof BriskError && err.code === 'METHOD_NOT_ALLOWED') res.setHeader('allow', String(err.data?.['allow'] ?? ''));
      throw err;
    }
    let routed: RoutedFunction;
    try {
      routed = await deps.functions.route(ns, parseFunctionTarget(match.trigger.function));
    } catch (err) {
      if (err instanceof NotFoundError) {
        // FUNCTION_NOT_FOUND, or ALIAS_NOT_FOUND for a `name:alias` whose alias was deleted.
        throw new BriskError(err.code, `http trigger '${match.trigger.name}' names function '${match.trigger.function}', which does not exist`, {
          status: 404,
        });
      }
      throw err;
    }
    const activationId = deps.invoker.newActivationId();
    const event = toHttpEvent(req, { subPath, activationId, namespace: ns, params: match.params });
    const payload = JSON.stringify(event);
    await deps.admit?.(ns, Buffer.byteLength(payload), 'sync');
    res.setHeader(ACTIVATION_HEADER, activationId);
    const alias = routed.alias;
    const result = await deps.invoker.invokeSync(routed.fn, payload, { activationId, trigger: triggerLabel(match.trigger), ...(alias !== undefined ? { alias } : {}) });
    sendWebResult(res, result);
  };
  r.all(HTTP_TRIGGER_PREFIX, rawBody, serve);
  r.all(`${HTTP_TRIGGER_PREFIX}/*path`, rawBody, serve);
  r.all(`/ns/:ns${HTTP_TRIGGER_PREFIX}`, rawBody, serve);
  r.all(`/ns/:ns${HTTP_TRIGGER_PREFIX}/*path`, rawBody, serve);
  return r;
}
