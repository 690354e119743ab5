import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino) on stderr, so stdout stays free for the CLI.
 * Every role gets a child logger with its `role`; activation ids ride along as
 * `activationId` where an activation is in hand.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination(2));
}
