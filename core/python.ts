import { execFile } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from './package-root.js';

/**
 * The Python runtime as the platform's roles see it: where its server is, how
 * a handler names its module, and which interpreter this host has.
 */

/** The oldest Python the runtime supports. */
export const MIN_PYTHON: readonly [number, number] = [3, 11];

/** The Python runtime server (one file, standard library only) every Python instance runs. */
export function pythonRuntimePath(): string {
  return path.join(packageRoot(), 'runtime/python/brisk_runtime.py');
}

/**
 * The module a Python handler names: `lambda_function.lambda_handler` →
 * `lambda_function`, `src/app.handler` and `src.app.handler` → `src.app`,
 * `handler` alone → `index`.
 */
export function pythonModuleOf(handler: string): string {
  const dot = handler.lastIndexOf('.');
  return dot <= 0 ? 'index' : handler.slice(0, dot).replace(/\//g, '.');
}

export interface PythonInfo {
  /** The interpreter as configured (a name on PATH or a path). */
  binary: string;
  /** `3.11.7` */
  version: string;
}

/**
 * Run the interpreter once and read its version; undefined when it does not
 * run or is older than {@link MIN_PYTHON}. Cached per binary: the answer does
 * not change while the process lives.
 */
export function probePython(binary: string): Promise<PythonInfo | undefined> {
  let cached = probes.get(binary);
  if (cached === undefined) {
    cached = new Promise((resolve) => {
      execFile(binary, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { timeout: 10_000 }, (err, stdout) => {
        const version = stdout?.trim() ?? '';
        const [major = 0, minor = 0] = version.split('.').map(Number);
        const [wantMajor, wantMinor] = MIN_PYTHON;
        const ok = !err && (major > wantMajor || (major === wantMajor && minor >= wantMinor));
        resolve(ok ? { binary, version } : undefined);
      });
    });
    probes.set(binary, cached);
  }
  return cached;
}
const probes = new Map<string, Promise<PythonInfo | undefined>>();

/** The real file of an interpreter (`sys.executable`), or undefined when it does not run. */
export function pythonExecutable(binary: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, ['-c', 'import sys; print(sys.executable)'], { timeout: 10_000 }, (err, stdout) => {
      const exe = stdout?.trim() ?? '';
      resolve(!err && path.isAbsolute(exe) ? exe : undefined);
    });
  });
}
