import { readdirSync } from 'node:fs';
import { expect } from 'vitest';
import { api, type Api } from '../e2e/scenarios.js';

/** A namespace with a key of its own, created through the admin API of `admin`. */
export async function createTenant(admin: Api, namespace: string): Promise<Api> {
  expect((await admin.req('PUT', `/v1/namespaces/${namespace}`, {})).status).toBe(201);
  const key = await admin.req('POST', `/v1/namespaces/${namespace}/keys`, {});
  expect(key.status, key.text).toBe(201);
  return api(() => admin.url, key.json.key as string);
}

/** Deploy `code` as `name` and expect it to be accepted. */
export async function deploy(tenant: Api, name: string, code: string, settings: Record<string, unknown> = {}): Promise<void> {
  const r = await tenant.req('PUT', `/v1/functions/${name}`, { code, ...settings });
  expect([200, 201], r.text).toContain(r.status);
}

/** Open file descriptors of a process (Linux). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export const isRoot = process.getuid?.() === 0;
