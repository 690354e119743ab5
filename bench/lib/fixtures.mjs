/**
 * Deploy fixtures: the small function (JSON body) and a package with a few
 * dependencies (a .zip with package.json, src/ and node_modules/), each made
 * unique per deploy so every PUT is a real deploy (new code hash → esbuild
 * bundle + store), never the "identical code, nothing changes" short cut.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';

const REPO = path.resolve(import.meta.dirname, '../..');

/** Real npm packages from the repo's own node_modules (all are dependencies of express, so always installed). */
export const PACKAGE_DEPS = ['debug', 'ms', 'cookie', 'escape-html'];

function addDir(files, abs, rel) {
  for (const entry of readdirSync(abs)) {
    const a = path.join(abs, entry);
    const r = `${rel}/${entry}`;
    if (statSync(a).isDirectory()) addDir(files, a, r);
    else files[r] = readFileSync(a);
  }
}

/** The function of the "package" deploy: parses a cookie, escapes HTML, formats a duration, logs with debug. */
function packageSource(tag) {
  return `// ${tag}
import createDebug from 'debug';
import ms from 'ms';
import { parse } from 'cookie';
import escapeHtml from 'escape-html';
const log = createDebug('bench:fn');
export const handler = async (event) => {
  const cookies = parse(String(event.cookie ?? 'a=1; b=2'));
  log('cookies %o', cookies);
  return { cookies, safe: escapeHtml(String(event.html ?? '<b>hi</b>')), ttl: ms(Number(event.ttlMs ?? 90000)) };
};
`;
}

/** The base of every package zip (node_modules read once). */
let baseFiles;

/** A zip of a small package with a few dependencies; `tag` makes its code hash unique. */
export function packageZip(tag) {
  if (!baseFiles) {
    baseFiles = {};
    for (const dep of PACKAGE_DEPS) addDir(baseFiles, path.join(REPO, 'node_modules', dep), `node_modules/${dep}`);
    baseFiles['package.json'] = Buffer.from(
      JSON.stringify({ name: 'bench-package', version: '1.0.0', type: 'module', dependencies: Object.fromEntries(PACKAGE_DEPS.map((d) => [d, '*'])) }),
    );
  }
  const files = { ...baseFiles, 'src/index.js': Buffer.from(packageSource(tag)) };
  return Buffer.from(zipSync(files, { level: 6 }));
}

/** The small function's deploy body, unique per `tag`. */
export function smallFunctionBody(code, tag) {
  return { code: `// ${tag}\n${code}` };
}
