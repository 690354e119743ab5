import { describe, expect, it } from 'vitest';
import { executorBackendFor } from '../../cli/compose.js';
import { loadConfig } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';

/**
 * Finding F13: the process backend is no sandbox, yet it was the default for
 * distributed executors too, which run tenants' code. Now standalone keeps
 * `process`, a distributed executor defaults to `docker`, and `process` there
 * must be asked for (and is warned about).
 */
function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { warn: (msg: string) => void warnings.push(msg) } as unknown as Logger;
  return { logger, warnings };
}

describe('executor backend choice', () => {
  it('defaults to process in standalone mode and docker for a distributed executor', () => {
    const cfg = loadConfig({});
    expect(executorBackendFor(cfg, 'standalone')).toBe('process');
    expect(executorBackendFor(cfg, 'distributed')).toBe('docker');
  });

  it('honours an explicit choice, warning about a distributed executor on the process backend', () => {
    const { logger, warnings } = recordingLogger();
    expect(executorBackendFor(loadConfig({ BRISK_EXECUTOR_BACKEND: 'process' }), 'distributed', logger)).toBe('process');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/not a sandbox/);
    expect(executorBackendFor(loadConfig({ BRISK_EXECUTOR_BACKEND: 'docker' }), 'standalone', logger)).toBe('docker');
    expect(executorBackendFor(loadConfig({ BRISK_EXECUTOR_BACKEND: 'process' }), 'standalone', logger)).toBe('process');
    expect(warnings).toHaveLength(1);
  });

  it('pauses idle instances after 1 s unless told otherwise, and validates the uid range', () => {
    expect(loadConfig({}).BRISK_PAUSE_IDLE_MS).toBe(1000);
    expect(loadConfig({ BRISK_PAUSE_IDLE_MS: '0' }).BRISK_PAUSE_IDLE_MS).toBe(0);
    expect(loadConfig({}).BRISK_PROCESS_UID_RANGE).toBe('2000000000-2000999999');
    expect(loadConfig({ BRISK_PROCESS_UID_RANGE: 'off' }).BRISK_PROCESS_UID_RANGE).toBe('off');
    expect(() => loadConfig({ BRISK_PROCESS_UID_RANGE: 'all' })).toThrow(/BRISK_PROCESS_UID_RANGE/);
  });
});
