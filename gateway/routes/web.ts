import express, { type Request, type Response } from 'express';
import type { FunctionService } from '../function-service.js';
import { NotFoundError } from '../../core/errors.js';
import type { RoutedFunction } from '../../releases/function-router.js';
import { assertAliasName, parseFunctionTarget, type FunctionTarget } from '../../releases/function-target.js';
import { limitedBody, param, type Principal } from '../../web/http.js';
import type { Invoker } from '../invoker.js';
import { ACTIVATION_HEADER, VERSION_HEADER } from '../../web/responses.js';
import { keyNeeded, sendWebResult, toHttpEvent, webNamespace } from '../../web/web-endpoint.js';

/**
 * Functions as web endpoints: `ANY /fn/{name}` and `/fn/{name}/{path…}`
 * (`{name}@{alias}` for an alias), and
 * `/ns/{namespace}/fn/{name}/…` for another namespace. These live outside /v1:
 * a function deployed with `public: true` answers anyone; any other needs a
 * key of its namespace (or the admin key).
 */
export function webRoutes(deps: {
  functions: FunctionService;
  invoker: Invoker;
  maxPayloadBytes: number;
  /** The caller, if it presented a valid key (undefined: anonymous). */
  caller: (req: Request) => Promise<Principal | undefined>;
  admit: (namespace: string, payloadBytes: number, mode: 'sync' | 'async') => Promise<void>;
}): express.Router {
  const r = express.Router();
  const rawBody = limitedBody(deps.maxPayloadBytes, (limit) => express.raw({ type: () => true, limit }));
  const web = async (req: Request, res: Response): Promise<void> => {
    const ns = await webNamespace(req, param(req, 'ns'), deps.caller);
    const { fn, alias } = await resolveFor(ns, () => deps.functions.route(ns.namespace, webTarget(param(req, 'name'))));
    const rest = req.params['path'];
    const subPath = '/' + (Array.isArray(rest) ? rest.join('/') : typeof rest === 'string' ? rest : '');
    const activationId = deps.invoker.newActivationId();
    const event = toHttpEvent(req, { subPath, activationId, namespace: ns.namespace });
    const payload = JSON.stringify(event);
    await deps.admit(ns.namespace, Buffer.byteLength(payload), 'sync');
    res.setHeader(ACTIVATION_HEADER, activationId);
    res.setHeader(VERSION_HEADER, String(fn.version));
    sendWebResult(res, await deps.invoker.invokeSync(fn, payload, { activationId, ...(alias !== undefined ? { alias } : {}) }));
  };
  r.all('/fn/:name', rawBody, web);
  r.all('/fn/:name/*path', rawBody, web);
  // Another namespace's endpoints: /ns/{namespace}/fn/{name}/…
  r.all('/ns/:ns/fn/:name', rawBody, web);
  r.all('/ns/:ns/fn/:name/*path', rawBody, web);
  return r;
}

/**
 * The function a web request calls, as far as the caller may know: a caller
 * with a key of the namespace gets it or a 404; anyone else gets it only when
 * it is public, and otherwise the same 401 whether it exists or not.
 */
async function resolveFor(ns: { authorized: boolean }, resolve: () => Promise<RoutedFunction>): Promise<RoutedFunction> {
  if (ns.authorized) return resolve();
  let routed: RoutedFunction;
  try {
    routed = await resolve();
  } catch (err) {
    if (err instanceof NotFoundError) throw keyNeeded();
    throw err;
  }
  // Public is a setting of the version: an alias routing to a private version answers anonymous callers 401.
  if (!routed.fn.public) throw keyNeeded();
  return routed;
}

/** `/fn/{name}` or `/fn/{name}@{alias}` (the alias's routing picks the version). */
export function webTarget(segment: string): FunctionTarget {
  const at = segment.indexOf('@');
  if (at < 0) return parseFunctionTarget(segment);
  const alias = segment.slice(at + 1);
  assertAliasName(alias);
  return { ...parseFunctionTarget(segment.slice(0, at)), alias };
}
