import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { Heartbeat } from '../../core/types.js';
import { errorMiddleware } from '../../web/http.js';
import { consoleRoutes } from '../../gateway/routes/console.js';
import { executorRoutes } from '../../gateway/routes/executors.js';
import { ExecutorMonitor } from '../../scheduler/executor-monitor.js';
import { ExecutorRegistry } from '../../placement/executor-registry.js';
import { publishAndSettle } from '../helpers/memory-bus.js';

const logger = pino({ level: 'silent' });

/** Serve routers on a random port, with the gateway's error middleware. */
async function serve(...routers: express.Router[]): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  for (const r of routers) app.use(r);
  app.use((_req, res) => res.status(404).json({ error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' } }));
  app.use(errorMiddleware(logger));
  const server: http.Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('console routes', () => {
  let dir: string;
  let srv: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-console-'));
    srv = await serve(consoleRoutes({ dir }));
  });
  afterAll(async () => {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 CONSOLE_NOT_BUILT until the console is built, then serves it without a restart', async () => {
    const before = await fetch(`${srv.url}/console/functions`);
    expect(before.status).toBe(503);
    expect(((await before.json()) as { error: { code: string } }).error.code).toBe('CONSOLE_NOT_BUILT');

    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="app"></div>');
    fs.writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');

    const shell = await fetch(`${srv.url}/console`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('cache-control')).toBe('no-cache');
    expect(await shell.text()).toContain('id="app"');

    const asset = await fetch(`${srv.url}/console/assets/index-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('falls back to index.html for app routes but not for missing files', async () => {
    const deep = await fetch(`${srv.url}/console/activations/abc`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('id="app"');
    expect((await fetch(`${srv.url}/console/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${srv.url}/consoles`)).status).toBe(404);
  });
});

describe('executor monitor and GET /v1/executors', () => {
  const topology = new Topology('test');
  let bus: MemoryBus;
  let monitor: ExecutorMonitor;
  let srv: Awaited<ReturnType<typeof serve>> | undefined;
  let clock = 1_000_000;

  const heartbeat = (over: Partial<Heartbeat> = {}): Heartbeat => ({
    executorId: 'ex-1',
    backend: 'process',
    memoryMb: 4096,
    memoryUsedMb: 512,
    inFlight: 1,
    pool: { '256': 2 },
    warm: [{ namespace: 'default', function: 'sum', version: 3, state: 'idle' }],
    systemErrors: 0,
    draining: false,
    leaving: false,
    sentAt: clock,
    ...over,
  });

  afterEach(async () => {
    await srv?.close();
    await monitor?.stop();
    await bus?.close();
  });

  it('reports what the executors last said in their heartbeats, dropping malformed ones', async () => {
    bus = new MemoryBus({ prefix: 'test' });
    await bus.waitUntilReady();
    monitor = new ExecutorMonitor({ bus, topology, logger, registry: new ExecutorRegistry({ heartbeatMs: 1000, now: () => clock }) });
    await monitor.start();
    await monitor.start(); // idempotent: still one subscription
    srv = await serve(executorRoutes({ executors: monitor }));

    await bus.publish(topology.heartbeatTopic, heartbeat());
    await bus.publish(topology.heartbeatTopic, { executorId: 'broken' });
    await bus.publish(topology.heartbeatTopic, heartbeat({ executorId: 'ex-2', draining: true }));
    await expect.poll(() => monitor.states().length).toBe(2);

    const body = (await (await fetch(`${srv.url}/v1/executors`)).json()) as { executors: { executorId: string; state: string; pool: Record<string, number>; warm: unknown[]; usedMb: number }[] };
    expect(body.executors.map((e) => [e.executorId, e.state])).toEqual([
      ['ex-1', 'healthy'],
      ['ex-2', 'draining'],
    ]);
    expect(body.executors[0]?.pool).toEqual({ '256': 2 });
    expect(body.executors[0]?.warm).toHaveLength(1);
    expect(body.executors[0]?.usedMb).toBe(512);

    // Silent for three heartbeat intervals: offline.
    clock += 3000;
    expect(monitor.states().map((e) => e.state)).toEqual(['offline', 'offline']);

    // After stop() nothing more is heard.
    await monitor.stop();
    await publishAndSettle(bus, topology.heartbeatTopic, heartbeat({ executorId: 'ex-3', sentAt: clock }));
    expect(monitor.states().map((e) => e.executorId)).not.toContain('ex-3');
  });
});
