import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, redactConfig, type BriskConfig } from '../core/config.js';
import { BriskError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import type { Infrastructure, Mode, Stoppable } from './compose.js';
import { CLIENT_USAGE, runClientCommand } from './client/commands.js';
import { installFatalHandler } from './fatal.js';
import { ensurePrivateDir } from '../storage/journal.js';

const USAGE = `brisk — a fast Functions-as-a-Service platform

Usage: brisk <command>

Servers:
  standalone   gateway + scheduler + executor in one process, no external services
               (in-memory bus, files under BRISK_DATA_DIR). What \`npm start\` runs.
  gateway      the HTTP front end (distributed: RabbitMQ, Redis, S3)
  scheduler    places invocations on executors (distributed)
  executor     runs functions (distributed; BRISK_EXECUTOR_BACKEND=process|docker)

Configuration comes from BRISK_* environment variables (see README.md).
`;

type Role = 'standalone' | 'gateway' | 'scheduler' | 'executor';

async function runServer(role: Role, config: BriskConfig, logger: Logger): Promise<void> {
  // Before anything starts instances: an uncaught exception removes them, then ends the process.
  installFatalHandler({ logger });
  // Loaded only for server roles: client commands start without express, amqplib, ioredis …
  const { connectInfrastructure, startExecutor, startGateway, startMetricsServer, startScheduler } = await import('./compose.js');
  let cfg = config;
  const mode: Mode = role === 'standalone' ? 'standalone' : 'distributed';
  if (role === 'standalone' && cfg.BRISK_ADMIN_KEY === undefined) {
    const { key, file, created } = ensureStandaloneAdminKey(cfg.BRISK_DATA_DIR);
    cfg = { ...cfg, BRISK_ADMIN_KEY: key };
    process.stdout.write(`${created ? 'Created an' : 'Using the'} admin API key in ${file} (send it as "Authorization: Bearer <key>")\n`);
  }
  if (role === 'gateway' && cfg.BRISK_ADMIN_KEY === undefined) {
    fail('BRISK_ADMIN_KEY is required for a gateway in distributed mode: it is the operator key that manages namespaces and keys', logger);
  }
  if (mode === 'distributed' && cfg.BRISK_BUS_KEY === undefined) {
    fail(
      `BRISK_BUS_KEY is required for a ${role} in distributed mode: every gateway, scheduler and executor signs and checks the messages they exchange on RabbitMQ with it (the same secret on each, at least 32 characters)`,
      logger,
    );
  }
  logger.info({ config: redactConfig(cfg) }, 'starting');
  let infra: Infrastructure;
  try {
    infra = await connectInfrastructure(cfg, mode, role, logger);
  } catch (err) {
    fail(`cannot start ${role}: ${(err as Error).message}`, logger, err);
  }
  const started: Stoppable[] = [];
  try {
    // Order matters in one process: the scheduler listens for heartbeats before
    // the executor sends its first, and the gateway opens last.
    if (role === 'standalone' || role === 'scheduler') started.push(await startScheduler(cfg, infra, logger));
    if (role === 'standalone' || role === 'executor') started.push(await startExecutor(cfg, infra, logger));
    if (role === 'scheduler' || role === 'executor') {
      const m = await startMetricsServer(cfg, infra.metrics, logger);
      if (m) started.push(m);
    }
    if (role === 'standalone' || role === 'gateway') {
      const gw = await startGateway(cfg, infra, logger);
      started.push(gw);
      if (role === 'standalone') {
        process.stdout.write(`Brisk standalone listening on http://${cfg.BRISK_HOST}:${gw.port} (data in ${cfg.BRISK_DATA_DIR})\n`);
      }
    }
  } catch (err) {
    await stopAll(started, infra, logger);
    fail(`cannot start ${role}: ${(err as Error).message}`, logger, err);
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A second signal, or a shutdown that hangs, ends the process anyway.
    setTimeout(() => process.exit(1), 30_000).unref();
    stopAll(started, infra, logger).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function stopAll(started: Stoppable[], infra: Infrastructure, logger: Logger): Promise<void> {
  for (const s of [...started].reverse()) {
    await s.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
  }
  await infra.close();
}

/**
 * Standalone mode keeps its admin key in `<data dir>/admin-key` (created on
 * first start, mode 0600), so a fresh install is never open to anyone who can
 * reach the port.
 */
function ensureStandaloneAdminKey(dataDir: string): { key: string; file: string; created: boolean } {
  const file = path.resolve(dataDir, 'admin-key');
  if (fs.existsSync(file)) return { key: fs.readFileSync(file, 'utf8').trim(), file, created: false };
  ensurePrivateDir(path.dirname(file));
  const key = `bka_${randomBytes(32).toString('base64url')}`;
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, file, created: true };
}

function fail(message: string, logger: Logger, err?: unknown): never {
  logger.fatal({ err }, message);
  process.stderr.write(`brisk: ${message}\n`);
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  const [command] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    if (command === 'help' && argv[1] !== undefined) return exitWhenFlushed(await runClientCommand([argv[1], '--help']));
    process.stdout.write(`${USAGE}\n${CLIENT_USAGE}`);
    return;
  }
  if (command === 'standalone' || command === 'gateway' || command === 'scheduler' || command === 'executor') {
    let cfg: BriskConfig;
    try {
      cfg = loadConfig();
    } catch (err) {
      process.stderr.write(`brisk: ${(err as Error).message}\n`);
      process.exit(2);
    }
    await runServer(command, cfg, createLogger(cfg.BRISK_LOG_LEVEL, { role: command }));
    return;
  }
  // Everything else is a client command (deploy, invoke, …), which talks to a gateway over HTTP.
  exitWhenFlushed(await runClientCommand(argv));
}

/** Exit once stdout has taken everything (a pipe may still be draining it). */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

process.on('unhandledRejection', (err) => {
  // A bug, not a function fault (those are caught per activation): report it loudly.
  process.stderr.write(`brisk: unhandled rejection: ${err instanceof BriskError ? err.code : ''} ${String((err as Error)?.stack ?? err)}\n`);
});

await main(process.argv.slice(2));
