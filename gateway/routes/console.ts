import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { PlatformError } from '../../core/errors.js';

/** URL prefix of the web console. */
export const CONSOLE_PATH = '/console';

export interface ConsoleRoutesOptions {
  /** The built console (`dist/console`); default: see {@link defaultConsoleDir}. */
  dir?: string;
}

/**
 * Where the built console lives: `console/` next to the running bundle
 * (`dist/cli.js` → `dist/console`), else `dist/console` under the working
 * directory (running from source, as tests do).
 */
export function defaultConsoleDir(): string {
  const besideBundle = fileURLToPath(new URL('./console/', import.meta.url));
  if (fs.existsSync(path.join(besideBundle, 'index.html'))) return besideBundle;
  return path.resolve('dist/console');
}

/**
 * Serves the web console (a static single-page app built by Vite into
 * `dist/console`) at `/console`. Files are served as they are; any other path
 * without a file extension gets `index.html`, so the console's own routes
 * (`/console/functions/sum`) survive a reload. The console is public — it holds
 * no data; it asks for a key and calls `/v1` with it.
 *
 * When the console was not built, every `/console` path answers 503
 * `CONSOLE_NOT_BUILT` instead of a bare 404, so the operator knows what to do.
 */
export function consoleRoutes(opts: ConsoleRoutesOptions = {}): express.Router {
  const dir = opts.dir ?? defaultConsoleDir();
  const indexFile = path.join(dir, 'index.html');
  const r = express.Router();

  // Checked per request (a stat is cheap next to a page load) so a console
  // built after the gateway started is picked up without a restart.
  r.use(CONSOLE_PATH, (_req, _res, next) => {
    if (fs.existsSync(indexFile)) return next();
    next(
      new PlatformError('CONSOLE_NOT_BUILT', 'the web console is not built: run `npm run build` (it writes dist/console)', {
        status: 503,
        retryable: false,
        data: { dir },
      }),
    );
  });

  r.use(
    CONSOLE_PATH,
    express.static(dir, {
      index: false,
      redirect: false,
      setHeaders: (res, file) => {
        // Vite puts a content hash in every asset name: cache those for good.
        const immutable = file.startsWith(path.join(dir, 'assets') + path.sep);
        res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );

  r.get([CONSOLE_PATH, `${CONSOLE_PATH}/*rest`], (req, res, next) => {
    // A missing asset (anything with an extension) is a 404, not the app shell.
    if (path.posix.extname(req.path) !== '') return next();
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(indexFile);
  });

  return r;
}
