import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { NotFoundError } from '../../core/errors.js';
import type { Activation, FunctionVersion } from '../../core/types.js';
import { DeadLetterStore } from '../../invocations/dead-letters.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';
import { FileObjectStore } from '../../storage/file-object-store.js';
import { FileStore } from '../../storage/file-store.js';
import { storeKey } from '../../storage/object-service.js';
import { FunctionSecrets } from '../../tenancy/function-secrets.js';
import { NamespacePurge } from '../../tenancy/namespace-purge.js';
import { TenancyService } from '../../tenancy/tenancy-service.js';
import type { NamespaceQuotas } from '../../tenancy/types.js';
import { BusUserQueues } from '../../triggers/bus-user-queues.js';
import { TriggerStore } from '../../triggers/trigger-store.js';
import { AliasStore } from '../../releases/alias-store.js';
import type { Trigger } from '../../triggers/types.js';

/**
 * Security probe F6: deleting a namespace left its objects, state, triggers,
 * activations and dead letters, and a namespace created again under the same
 * name inherited them. Checked here on the standalone (file) stores with the
 * real services; the end-to-end test (tenant-edge) checks both modes over HTTP.
 */

const logger = pino({ level: 'silent' });
const QUOTAS = { maxConcurrency: 10 } as NamespaceQuotas;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** An object store whose namespace purge can be held (to look mid-delete) or made to fail once. */
class ControlledObjects extends FileObjectStore {
  hold: Promise<void> | undefined;
  failNext = false;
  override async deleteByPrefix(prefix: string): Promise<number> {
    await this.hold;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('object store went away mid-purge');
    }
    return super.deleteByPrefix(prefix);
  }
}

async function world() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-purge-'));
  dirs.push(dir);
  const kv = new FileKeyValueStore(path.join(dir, 'meta'));
  const store = new FileStore(path.join(dir, 'meta'), { activationTtlS: 3600 });
  const objects = new ControlledObjects(path.join(dir, 'objects'));
  await Promise.all([kv.waitUntilReady(), store.waitUntilReady(), objects.waitUntilReady()]);
  const tenancy = new TenancyService(kv, QUOTAS);
  const triggers = new TriggerStore(kv);
  const letters = new DeadLetterStore(kv);
  const aliases = new AliasStore(kv);
  const notices: string[] = [];
  const queues = new BusUserQueues({ bus: new MemoryBus({ prefix: 'purge' }), prefix: 'purge' });
  const functions = {
    list: (ns: string) => store.listFunctions(ns),
    delete: async (ns: string, name: string) => {
      if (!(await store.deleteFunction(ns, name))) throw new NotFoundError('function', name);
    },
  };
  const purge = new NamespacePurge({
    tenancy,
    functions,
    triggers,
    triggersChanged: async (ns) => void notices.push(ns),
    userQueues: queues,
    deadLetters: letters,
    secrets: new FunctionSecrets(kv, undefined),
    store,
    objects,
    kv,
    logger,
  });

  /** Everything a tenant leaves behind, in namespace `ns`. */
  const populate = async (ns: string): Promise<void> => {
    const v = { namespace: ns, name: 'keeper', codeHash: 'c'.repeat(64), codeSize: 1, exportName: 'handler', handler: 'index.handler', memoryMb: 128, timeoutMs: 1000, env: {}, maxConcurrency: 0, retries: 0, allowEgress: false } satisfies Omit<FunctionVersion, 'version' | 'createdAt'>;
    await store.putFunctionVersion(v);
    const act: Activation = { activationId: `a-${ns}`, namespace: ns, function: 'keeper', version: 1, status: 'success', mode: 'sync', logs: [], coldStart: true, attempts: 1, queuedAt: new Date().toISOString() };
    await store.finishActivation(act);
    await triggers.put({ type: 'topic', function: 'keeper', topic: 'news', name: 'old', namespace: ns, createdAt: '', updatedAt: '' } as Trigger);
    await letters.put({ activationId: `d-${ns}`, namespace: ns, function: 'keeper', version: 1, reason: 'RETRIES_EXHAUSTED', status: 'error', attempts: 1, payload: '{}', queuedAt: '', failedAt: '' });
    await kv.set(`state:${ns}:old`, '"OLD-STATE"');
    await aliases.put(ns, 'keeper', 'prod', { version: 1 });
    await kv.set(`objmeta:${ns}:bkt:old.txt`, 'text/plain');
    await objects.put(storeKey(ns, 'bkt', 'old.txt'), Buffer.from('OLD-OBJECT'));
    await objects.put(storeKey(ns, 'bkt', 'dir/deeper.txt'), Buffer.from('OLD-OBJECT'));
    await kv.hset(`usageidx:${ns}`, '1:keeper', '1');
    await kv.incr(`usage:${ns}:1:keeper:invocations`);
    await kv.hset(`secrets:${ns}:keeper`, 'digest', 'sealed');
    // A user queue holding messages, and its dead-letter companion.
    await queues.send(ns, 'jobs', Buffer.from('{"job":1}'));
    await queues.send(ns, 'jobs', Buffer.from('{"job":2}'));
    await queues.consume(ns, 'failing', (d) => void d.deadLetter('queue', { reason: 'test' }), { prefetch: 1 });
    await queues.send(ns, 'failing', Buffer.from('{"job":3}'));
    await expect.poll(async () => (await queues.depth(ns, 'failing')).deadLetters).toBe(1);
  };

  /** What is left of namespace `ns`, as counts (all zero once purged). */
  const leftOf = async (ns: string) => ({
    functions: (await store.listFunctions(ns)).length,
    activations: (await store.listActivations(ns, { limit: 100 })).length,
    triggers: (await triggers.list(ns)).length,
    inTriggerIndex: (await triggers.listAll()).filter((t) => t.namespace === ns).length,
    deadLetters: (await letters.list(ns)).length,
    state: (await kv.get(`state:${ns}:old`)) === undefined ? 0 : 1,
    aliases: (await aliases.list(ns, 'keeper')).length,
    objectMeta: (await kv.get(`objmeta:${ns}:bkt:old.txt`)) === undefined ? 0 : 1,
    objects: (await objects.list(`objects/${ns}/`)).length,
    usage: Object.keys(await kv.hgetall(`usageidx:${ns}`)).length + ((await kv.get(`usage:${ns}:1:keeper:invocations`)) === undefined ? 0 : 1),
    secrets: Object.keys(await kv.hgetall(`secrets:${ns}:keeper`)).length,
    queued: (await queues.depth(ns, 'jobs')).messages + (await queues.depth(ns, 'failing')).deadLetters,
  });
  const nothing = { functions: 0, activations: 0, triggers: 0, inTriggerIndex: 0, deadLetters: 0, state: 0, aliases: 0, objectMeta: 0, objects: 0, usage: 0, secrets: 0, queued: 0 };

  return { tenancy, purge, objects, notices, populate, leftOf, nothing };
}

describe('F6: deleting a namespace purges what it owned', () => {
  it('removes every kind of data of the namespace, keeps the neighbours, and frees the name', async () => {
    const w = await world();
    await w.tenancy.createNamespace('tmp');
    await w.tenancy.createNamespace('tmp2');
    const key = await w.tenancy.issueKey('tmp');
    await w.populate('tmp');
    await w.populate('tmp2');
    const before = await w.leftOf('tmp2');

    await w.purge.deleteNamespace('tmp');
    expect(await w.leftOf('tmp')).toEqual(w.nothing);
    expect(await w.leftOf('tmp2')).toEqual(before);
    expect(before.objects).toBe(2);
    expect(before.queued).toBe(3);
    // Schedulers and gateways were told the triggers changed (the control topic).
    expect(w.notices).toEqual(['tmp']);
    expect(await w.tenancy.verifyKey(key.key)).toBeUndefined();
    await expect(w.tenancy.getNamespace('tmp')).rejects.toMatchObject({ code: 'NAMESPACE_NOT_FOUND' });
    // Created again: a new, empty namespace.
    expect((await w.tenancy.createNamespace('tmp')).deletingSince).toBeUndefined();
    expect(await w.leftOf('tmp')).toEqual(w.nothing);
  });

  it('refuses to create the name again, issue keys or act in it until the purge is done (409)', async () => {
    const w = await world();
    await w.tenancy.createNamespace('busy');
    const key = await w.tenancy.issueKey('busy');
    await w.populate('busy');
    let release = (): void => undefined;
    w.objects.hold = new Promise<void>((r) => (release = r));
    const deleting = w.purge.deleteNamespace('busy');
    // Mid-purge (held at the objects): marked, keys revoked, the name not free.
    await expect.poll(async () => (await w.tenancy.getNamespace('busy')).deletingSince).toBeDefined();
    expect(await w.tenancy.verifyKey(key.key)).toBeUndefined();
    await expect(w.tenancy.createNamespace('busy')).rejects.toMatchObject({ code: 'NAMESPACE_DELETING', status: 409 });
    await expect(w.tenancy.issueKey('busy')).rejects.toMatchObject({ code: 'NAMESPACE_DELETING', status: 409 });
    await expect(w.tenancy.usableNamespace('busy')).rejects.toMatchObject({ code: 'NAMESPACE_DELETING' });
    release();
    await deleting;
    expect((await w.tenancy.createNamespace('busy')).name).toBe('busy');
    expect(await w.leftOf('busy')).toEqual(w.nothing);
  });

  it('an interrupted purge leaves the namespace marked; deleting again, or the next start, finishes it', async () => {
    const w = await world();
    await w.tenancy.createNamespace('halfway');
    await w.populate('halfway');
    w.objects.failNext = true;
    await expect(w.purge.deleteNamespace('halfway')).rejects.toThrow('mid-purge');
    await expect(w.tenancy.createNamespace('halfway')).rejects.toMatchObject({ code: 'NAMESPACE_DELETING' });
    expect((await w.leftOf('halfway')).objects).toBe(2);
    expect(await w.tenancy.interruptedDeletes()).toEqual(['halfway']);
    await w.purge.resumeInterrupted();
    expect(await w.tenancy.interruptedDeletes()).toEqual([]);
    expect(await w.leftOf('halfway')).toEqual(w.nothing);
    await w.tenancy.createNamespace('halfway');
  });

  it('the default namespace cannot be deleted', async () => {
    const w = await world();
    await expect(w.purge.deleteNamespace('default')).rejects.toMatchObject({ code: 'NAMESPACE_PROTECTED' });
  });
});
