import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PlatformError } from '../../core/errors.js';
import { maxRunAnswerBytes, RuntimeClient, RuntimeConnectionError, RuntimeTimeoutError } from '../../executor/runtime-client.js';
import { InstanceFailure } from '../../executor/types.js';
import { LOG_TRUNCATED_MARKER, MAX_LOG_BYTES, type RunRequest } from '../../runtime/protocol.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The runtime client against a stand-in runtime that answers whatever a
 * test tells it to: what a function that took over its instance could send.
 * The real runtime and both backends are covered by test/contracts/backend-contract.ts.
 */

type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let server: http.Server | undefined;
let client: RuntimeClient | undefined;
afterEach(async () => {
  client?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function runtime(answer: Answer, maxResultBytes = 1024 * 1024): Promise<RuntimeClient> {
  server = http.createServer(answer);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  client = new RuntimeClient({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }, { maxResultBytes, label: 'test instance' });
  return client;
}

const RUN: RunRequest = { activationId: 'a1', payload: '{}', deadline: Date.now() + 60_000 };
const json = (status: number, body: unknown): Answer => (_req, res) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

describe('RuntimeClient', () => {
  it('reads a run answer, parses the result once, and sends the result cap with /init', async () => {
    let initBody: Record<string, unknown> = {};
    const c = await runtime((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        if (req.url === '/init') {
          initBody = JSON.parse(text) as Record<string, unknown>;
          return json(200, { ok: true })(req, res);
        }
        json(200, { ok: true, resultJson: '{"a":[1,2]}', logs: ['x'], logsTruncated: false, durationMs: 1 })(req, res);
      });
    }, 4096);
    await c.init({ namespace: 'n', name: 'f', version: 1, code: '', exportName: 'handler', env: {}, timeoutMs: 1000, memoryMb: 128 });
    expect(initBody['limits']).toEqual({ maxResultBytes: 4096 });
    expect(await c.run(RUN, 5000)).toEqual({ ok: true, resultJson: '{"a":[1,2]}', result: { a: [1, 2] }, logs: ['x'], logsTruncated: false, durationMs: 1 });
  });

  it('stops reading an endless answer at its cap and aborts it: kind oversized', async () => {
    let written = 0;
    let closed = false;
    const c = await runtime((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"ok":true,"resultJson":"');
      const mib = Buffer.alloc(1024 * 1024, 0x61);
      res.on('close', () => (closed = true));
      const pump = (): void => {
        while (!closed && written < 2048 * 1024 * 1024) {
          written += mib.length;
          if (!res.write(mib)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    const err = await failure(c.run(RUN, 30_000));
    expect(err).toBeInstanceOf(InstanceFailure);
    expect((err as InstanceFailure).fault).toEqual({ kind: 'oversized', limitBytes: maxRunAnswerBytes(1024 * 1024) });
    await waitFor(() => closed, 2000, 5); // the client aborted the request: the stand-in runtime sees its socket close
    // The sender was stopped near the cap (plus what sat in socket buffers), not after 2 GiB.
    expect(written).toBeLessThan(maxRunAnswerBytes(1024 * 1024) + 64 * 1024 * 1024);
  });

  it('refuses an answer whose declared length is over the cap before reading it', async () => {
    const c = await runtime((_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 ** 3) });
      res.write('{');
    });
    expect(await failure(c.run(RUN, 5000))).toMatchObject({ fault: { kind: 'oversized' } });
  });

  it('an answer that is not JSON, or not in the protocol, is garbled', async () => {
    let c = await runtime((_req, res) => res.end('not json'));
    expect(await failure(c.run(RUN, 5000))).toMatchObject({ fault: { kind: 'garbled' } });
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    c = await runtime(json(200, { ok: true, resultJson: 42, logs: [], logsTruncated: false, durationMs: 1 }));
    expect(await failure(c.run(RUN, 5000))).toMatchObject({ fault: { kind: 'garbled', message: expect.stringContaining('resultJson') } });
  });

  it('a result that is not JSON is garbled', async () => {
    const c = await runtime(json(200, { ok: true, resultJson: '{oops', logs: [], logsTruncated: false, durationMs: 1 }));
    expect(await failure(c.run(RUN, 5000))).toMatchObject({ fault: { kind: 'garbled', message: 'the function returned a result that is not JSON' } });
  });

  it('an error code the runtime never sends (a platform code injected by the function) is garbled, not a platform fault', async () => {
    const c = await runtime(json(500, { error: { code: 'EXECUTOR_FULL', message: 'all full' } }));
    const err = await failure(c.run(RUN, 5000));
    expect(err).toBeInstanceOf(InstanceFailure);
    expect(err).toMatchObject({ fault: { kind: 'garbled' } });
  });

  it('maps the runtime\'s own codes once: BUSY is a platform error with that code', async () => {
    const c = await runtime(json(409, { error: { code: 'BUSY', message: 'an activation is already running' } }));
    const err = await failure(c.run(RUN, 5000));
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ code: 'BUSY' });
  });

  it('cuts logs over the cap in an answer under the answer cap, and error text to its cap', async () => {
    const line = 'l'.repeat(MAX_LOG_BYTES + 100);
    const c = await runtime(json(200, { ok: false, error: { errorType: 'E', errorMessage: 'm'.repeat(200_000) }, logs: ['a', line, 'b'], logsTruncated: false, durationMs: 1 }));
    const res = await c.run(RUN, 5000);
    expect(res.ok).toBe(false);
    expect(res.logsTruncated).toBe(true);
    expect(res.logs.at(-1)).toBe(LOG_TRUNCATED_MARKER);
    expect(res.logs[0]).toBe('a');
    expect(Buffer.byteLength(res.logs.slice(0, -1).join('\n'))).toBeLessThanOrEqual(MAX_LOG_BYTES);
    if (!res.ok) expect(Buffer.byteLength(res.error.errorMessage)).toBeLessThanOrEqual(64 * 1024);
  });

  it('past the deadline: RuntimeTimeoutError; nobody listening: RuntimeConnectionError', async () => {
    const c = await runtime(() => undefined);
    const t0 = Date.now();
    expect(await failure(c.run(RUN, 200))).toBeInstanceOf(RuntimeTimeoutError);
    expect(Date.now() - t0).toBeLessThan(2000);
    const nobody = new RuntimeClient({ socketPath: '/nonexistent/brisk-rt.sock' });
    expect(await failure(nobody.run(RUN, 1000))).toBeInstanceOf(RuntimeConnectionError);
    expect(await nobody.healthy(500)).toBe(false);
  });
});
