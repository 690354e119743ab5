import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startStandalone, type Cluster } from '../helpers/cluster.js';
import { api } from './scenarios.js';
import { tenancyScenarios } from './tenancy-scenarios.js';

let standalone: Cluster | undefined;
tenancyScenarios(
  'standalone',
  async () => (standalone = await startStandalone({ BRISK_SECRET_KEY: 'test-secret-key-0123456789', BRISK_LOG_LEVEL: 'trace' })),
  {
    // Standalone's bus is in memory: what leaves the process is its logs and its data files.
    capturedOutput: async () => {
      const out = standalone?.processes.map((p) => p.output()).join('\n') ?? '';
      return out + readTree(dataDirOf(standalone));
    },
  },
);

function dataDirOf(c: Cluster | undefined): string | undefined {
  const m = /data in ([^)\s]+)\)/.exec(c?.processes[0]?.output() ?? '');
  return m?.[1];
}

/** Every file under the data dir as text, so a secret stored in clear would show. */
function readTree(dir: string | undefined): string {
  if (!dir || !fs.existsSync(dir)) return '';
  let out = '';
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out += e.isDirectory() ? readTree(p) : fs.readFileSync(p).toString('latin1');
  }
  return out;
}

describe('standalone without BRISK_ADMIN_KEY', () => {
  let cluster: Cluster;
  afterAll(async () => cluster?.stop());

  it('creates an admin key in its data dir on first start, keeps it, and requires it', async () => {
    cluster = await startStandalone({ BRISK_ADMIN_KEY: '' });
    const out = cluster.processes[0]?.output() ?? '';
    const file = /admin API key in (\S+)/.exec(out)?.[1] as string;
    expect(out).toContain('Created an admin API key');
    const key = fs.readFileSync(file, 'utf8').trim();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(out).not.toContain(key);
    expect((await api(() => cluster.url, '').req('GET', '/v1/functions')).status).toBe(401);
    expect((await api(() => cluster.url, key).req('GET', '/v1/functions')).status).toBe(200);
    await cluster.restart();
    expect(cluster.processes[0]?.output()).toContain('Using the admin API key');
    expect((await api(() => cluster.url, key).req('GET', '/v1/functions')).status).toBe(200);
  });
});
