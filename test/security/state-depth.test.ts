import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import { PlatformApi } from '../../executor/platform-api.js';
import { stateKey } from '../../storage/types.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { ObjectService } from '../../storage/object-service.js';

/**
 * F8 where JSON enters from inside a function: a `context.state.set` value is
 * serialised recursively before it is stored, so it gets the same depth limit
 * (400 `JSON_TOO_DEEP`) instead of a stack overflow answered as a 500.
 */

const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-state-depth-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function put(socketPath: string, token: string, key: string, body: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method: 'PUT', path: `/state/${key}`, headers: { host: 'platform', authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error?: { code?: string } }).error?.code }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('F8: state values of bounded depth', () => {
  it('refuses a state value nested deeper than 64 with 400 JSON_TOO_DEEP, at 65, 1000 and 100k', async () => {
    const kv = new FileKeyValueStore(path.join(dir, 'meta'));
    await kv.waitUntilReady();
    const objects = new ObjectService({ objects: new FileObjectStore(path.join(dir, 'objects')), bus: new MemoryBus({ prefix: 'sd' }), topology: new Topology('sd'), maxObjectBytes: 1 << 20 });
    const api = new PlatformApi({ socketPath: path.join(dir, 'p.sock'), kv, objects });
    await api.start();
    try {
      const token = api.issueToken({ namespace: 'ns-a', function: 'f' });
      // The body is { "value": … }: the value itself is depth − 1 of the body.
      expect(await put(api.socketPath, token, 'ok', `{"value":${deep(64)}}`)).toEqual({ status: 200, code: undefined });
      expect(await kv.get(stateKey('ns-a', 'ok'))).toBe(deep(64));
      for (const depth of [65, 1000, 100_000]) {
        expect(await put(api.socketPath, token, 'deep', `{"value":${deep(depth)}}`), `at ${depth}`).toEqual({ status: 400, code: 'JSON_TOO_DEEP' });
      }
      expect(await kv.get(stateKey('ns-a', 'deep'))).toBeUndefined();
    } finally {
      await api.close();
      await kv.close();
    }
  });
});
