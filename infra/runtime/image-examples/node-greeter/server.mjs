// A complete image function in one file: the runtime protocol's three routes
// over the unix socket Brisk names in BRISK_RUNTIME_SOCKET, node builtins only.
import http from 'node:http';
import { chmodSync, unlinkSync } from 'node:fs';

const socket = process.env.BRISK_RUNTIME_SOCKET;
let fn; // what /init loaded: the function's name and env

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, { ok: true });
    if (req.method === 'POST' && req.url === '/init') {
      if (fn) return reply(res, 409, { error: { code: 'ALREADY_INITIALIZED', message: 'initialised once only' } });
      const init = JSON.parse(body);
      fn = { name: init.name, env: init.env };
      return reply(res, 200, { ok: true });
    }
    if (req.method === 'POST' && req.url === '/run') {
      if (!fn) return reply(res, 400, { error: { code: 'NOT_INITIALIZED', message: 'no /init yet' } });
      const t0 = performance.now();
      const run = JSON.parse(body);
      const event = run.payload === '' ? {} : JSON.parse(run.payload);
      const result = { greeting: `${fn.env.GREETING ?? 'hello'} ${event.name ?? 'world'}`, from: 'node-greeter image', function: fn.name };
      return reply(res, 200, { ok: true, resultJson: JSON.stringify(result), logs: [`greeted ${event.name ?? 'world'}`], logsTruncated: false, durationMs: performance.now() - t0 });
    }
    reply(res, 404, { error: { code: 'NOT_FOUND', message: `${req.method} ${req.url}` } });
  });
});
server.keepAliveTimeout = 0;
try { unlinkSync(socket); } catch {}
server.listen(socket, () => chmodSync(socket, 0o666));
process.on('SIGTERM', () => process.exit(0));
