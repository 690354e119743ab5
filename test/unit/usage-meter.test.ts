import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readUsage, UsageMeter } from '../../metering/usage-meter.js';
import { FileKeyValueStore } from '../../storage/file-kv-store.js';

async function kvStore(): Promise<FileKeyValueStore> {
  const kv = new FileKeyValueStore(fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-usage-')));
  await kv.waitUntilReady();
  return kv;
}

describe('UsageMeter', () => {
  it('sums invocations, errors, cold starts and GB-seconds per function and hour', async () => {
    const kv = await kvStore();
    let now = Date.parse('2026-01-01T10:30:00Z');
    const meter = new UsageMeter(kv, { now: () => now });
    meter.record({ namespace: 'a', function: 'f', memoryMb: 1024, durationMs: 1000, coldStart: true, error: false });
    meter.record({ namespace: 'a', function: 'f', memoryMb: 512, durationMs: 500, coldStart: false, error: true });
    meter.record({ namespace: 'b', function: 'f', memoryMb: 128, durationMs: 10, coldStart: false, error: false });
    await meter.flush();
    now += 3600_000;
    meter.record({ namespace: 'a', function: 'g', memoryMb: 256, durationMs: 2000, coldStart: false, error: false });
    await meter.close();

    const all = await readUsage(kv, 'a', Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-02T00:00:00Z'));
    expect(all).toEqual([
      { function: 'f', invocations: 2, errors: 1, coldStarts: 1, gbSeconds: 1.25 },
      { function: 'g', invocations: 1, errors: 0, coldStarts: 0, gbSeconds: 0.5 },
    ]);
    const firstHour = await readUsage(kv, 'a', Date.parse('2026-01-01T10:00:00Z'), Date.parse('2026-01-01T11:00:00Z'));
    expect(firstHour.map((u) => u.function)).toEqual(['f']);
    expect((await readUsage(kv, 'b', 0, Date.parse('2027-01-01T00:00:00Z')))[0]?.invocations).toBe(1);
    await kv.close();
  });

  it('writes invocations last, so a reader that sees them sees the cold starts and errors too', async () => {
    const kv = await kvStore();
    const order: string[] = [];
    const incr = kv.incr.bind(kv);
    kv.incr = async (key, by, opts) => {
      order.push(key.slice(key.lastIndexOf(':') + 1));
      return incr(key, by, opts);
    };
    const meter = new UsageMeter(kv);
    meter.record({ namespace: 'a', function: 'f', memoryMb: 128, durationMs: 5, coldStart: true, error: true });
    await meter.close();
    expect(order).toEqual(['errors', 'coldStarts', 'mbMs', 'invocations']);
    await kv.close();
  });

  it('a flush cut off half-way keeps only what was not written: nothing counted twice', async () => {
    const kv = await kvStore();
    const meter = new UsageMeter(kv);
    meter.record({ namespace: 'a', function: 'f', memoryMb: 1024, durationMs: 1000, coldStart: true, error: true });
    const incr = kv.incr.bind(kv);
    let calls = 0;
    kv.incr = async (key, by, opts) => {
      if (++calls === 3) throw new Error('down');
      return incr(key, by, opts);
    };
    await meter.flush(); // errors and coldStarts written, mbMs fails
    kv.incr = incr;
    await meter.close();
    expect(await readUsage(kv, 'a', 0, Date.now() + 3600_000)).toEqual([{ function: 'f', invocations: 1, errors: 1, coldStarts: 1, gbSeconds: 1 }]);
    await kv.close();
  });

  it('keeps counts for the next flush when the store fails', async () => {
    const kv = await kvStore();
    const meter = new UsageMeter(kv);
    meter.record({ namespace: 'a', function: 'f', memoryMb: 128, durationMs: 1, coldStart: false, error: false });
    const hset = kv.hset.bind(kv);
    kv.hset = async () => {
      throw new Error('down');
    };
    await meter.flush();
    kv.hset = hset;
    meter.record({ namespace: 'a', function: 'f', memoryMb: 128, durationMs: 1, coldStart: false, error: false });
    await meter.flush();
    expect((await readUsage(kv, 'a', 0, Date.now() + 3600_000))[0]?.invocations).toBe(2);
    await kv.close();
  });
});
