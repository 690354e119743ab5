import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { bundleRuntimeTo } from './runtime-bundle.js';

const run = promisify(execFile);

/** Repo root (tests run from it, but do not rely on that). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const RUNTIME_BUNDLE = path.join(REPO_ROOT, 'dist/runtime/server.mjs');
export const BUILD_OFFLINE_SCRIPT = path.join(REPO_ROOT, 'infra/runtime/build-offline.sh');

/**
 * Whether the Docker daemon answers. Under CI a missing daemon must fail the
 * suite, so callers use {@link requireDocker} in beforeAll rather than skipping.
 */
export async function dockerAvailable(docker = new Dockerode()): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

/** true when the suite should run; throws under CI when Docker is missing. */
export async function requireDocker(docker = new Dockerode()): Promise<boolean> {
  if (await dockerAvailable(docker)) return true;
  if (process.env['CI'] === 'true') throw new Error('Docker daemon unreachable, and CI=true: Docker-backed tests must not be skipped');
  return false;
}

/**
 * Bundle `runtime/server.ts` into `dist/runtime/server.mjs` (the same esbuild
 * settings as build.mjs's runtime entry), so the image always holds the
 * current runtime rather than whatever an earlier build left in dist/.
 */
export async function bundleRuntime(): Promise<string> {
  const entry = path.join(REPO_ROOT, 'runtime/server.ts');
  if (!existsSync(entry)) throw new Error(`${entry} does not exist yet; cannot build the runtime image`);
  return bundleRuntimeTo(RUNTIME_BUNDLE);
}

/** Run infra/runtime/build-offline.sh for `tag` from `bundle`. */
export async function buildOfflineImage(tag: string, bundle = RUNTIME_BUNDLE): Promise<void> {
  await run('bash', [BUILD_OFFLINE_SCRIPT, tag, bundle], { cwd: REPO_ROOT, maxBuffer: 4 * 1024 * 1024 });
}

/** Containers carrying `brisk.executor=<executorId>` (running or not). */
export async function containersOf(docker: Dockerode, executorId: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`brisk.executor=${executorId}`] } });
}

/** Force-remove every container of `executorId` and, if given, the image `tag`. For afterAll. */
export async function cleanupDocker(docker: Dockerode, executorId: string, tag?: string): Promise<void> {
  for (const c of await containersOf(docker, executorId)) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  if (tag !== undefined) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
}

export const BUILD_PYTHON_OFFLINE_SCRIPT = path.join(REPO_ROOT, 'infra/runtime/build-python-offline.sh');

/** Run infra/runtime/build-python-offline.sh for `tag` (the system Python, runtime/python/brisk_runtime.py of this tree). */
export async function buildPythonOfflineImage(tag: string): Promise<void> {
  await run('bash', [BUILD_PYTHON_OFFLINE_SCRIPT, tag], { cwd: REPO_ROOT, maxBuffer: 4 * 1024 * 1024 });
}

/** `docker build` of one of infra/runtime/image-examples/<example> FROM `base`, tagged `tag` (offline: the base is local). */
export async function buildExampleImage(example: string, base: string, tag: string): Promise<void> {
  const dir = path.join(REPO_ROOT, 'infra/runtime/image-examples', example);
  await run('docker', ['build', '-q', '--build-arg', `BASE=${base}`, '-t', tag, dir], { cwd: REPO_ROOT, maxBuffer: 4 * 1024 * 1024 });
}
