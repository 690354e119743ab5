import type { Logger } from '../core/logger.js';

/**
 * The last resort of a server process: an exception nothing caught. Node's
 * default prints it and exits at once, which left every instance behind (17
 * containers in the security probe, owned by an executor id nobody would
 * reuse). Here the cleanups registered with {@link onFatal} run first (kill
 * child processes, remove containers), bounded by a deadline, then the
 * process exits non-zero: a process in an unknown state must not go on serving.
 */

type Cleanup = () => Promise<void>;

const cleanups = new Set<Cleanup>();

/** Run `cleanup` if the process dies of an uncaught exception. Returns the function that unregisters it. */
export function onFatal(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

/** How long the cleanups may take before the process exits anyway (removing containers takes ~0.1–1 s each, in parallel). */
export const FATAL_CLEANUP_MS = 10_000;
/** The exit code after an uncaught exception (EX_SOFTWARE: an internal error). */
export const FATAL_EXIT_CODE = 70;

export interface FatalHandlerOptions {
  logger: Logger;
  /** Default `process.exit`; injected by tests. */
  exit?: (code: number) => void;
  timeoutMs?: number;
}

/** Install the `uncaughtException` handler. Returns the function that removes it. */
export function installFatalHandler(o: FatalHandlerOptions): () => void {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const timeoutMs = o.timeoutMs ?? FATAL_CLEANUP_MS;
  let dying = false;
  const handler = (err: Error, origin: string): void => {
    o.logger.fatal({ err, origin }, 'uncaught exception; cleaning up and exiting');
    process.stderr.write(`brisk: uncaught exception (${origin}), exiting: ${err?.stack ?? String(err)}\n`);
    // A second throw while cleaning up changes nothing: the first one's exit is on its way.
    if (dying) return;
    dying = true;
    let exited = false;
    const done = (): void => {
      if (exited) return;
      exited = true;
      clearTimeout(timer);
      exit(FATAL_EXIT_CODE);
    };
    const timer = setTimeout(done, timeoutMs);
    void Promise.allSettled([...cleanups].map((c) => Promise.resolve().then(c))).then(done);
  };
  process.on('uncaughtException', handler);
  return () => {
    process.off('uncaughtException', handler);
  };
}
