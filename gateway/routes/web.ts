import express, { type Request, type Response } from 'express';
import type { FunctionService } from '../function-service.js';
import { param } from '../http.js';
import type { Invoker } from '../invoker.js';
import { ACTIVATION_HEADER } from '../responses.js';
import { sendWebResult, toHttpEvent } from '../web-endpoint.js';

/**
 * Functions as web endpoints: `ANY /fn/{name}` and `/fn/{name}/{path…}`. These
 * live outside /v1 and its API-key check; they act in the namespace chosen by
 * `namespaceFor` (the default namespace until tenancy decides per function).
 */
export function webRoutes(deps: {
  functions: FunctionService;
  invoker: Invoker;
  maxPayloadBytes: number;
  namespaceFor: (req: Request, res: Response) => string | Promise<string>;
}): express.Router {
  const r = express.Router();
  const rawBody = express.raw({ type: () => true, limit: deps.maxPayloadBytes });
  const web = async (req: Request, res: Response): Promise<void> => {
    const fn = await deps.functions.resolve(await deps.namespaceFor(req, res), param(req, 'name'));
    const rest = req.params['path'];
    const subPath = '/' + (Array.isArray(rest) ? rest.join('/') : typeof rest === 'string' ? rest : '');
    const event = toHttpEvent(req, subPath);
    const activationId = deps.invoker.newActivationId();
    res.setHeader(ACTIVATION_HEADER, activationId);
    sendWebResult(res, await deps.invoker.invokeSync(fn, JSON.stringify(event), { activationId }));
  };
  r.all('/fn/:name', rawBody, web);
  r.all('/fn/:name/*path', rawBody, web);
  return r;
}
