import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessBackend } from '../../executor/process-backend.js';
import type { Instance, RunAnswer } from '../../executor/types.js';
import type { InitRequest } from '../../runtime/protocol.js';
import { backendContract, PYTHON_SOURCES } from '../contracts/backend-contract.js';
import { pythonAvailable, TEST_PYTHON } from '../helpers/python.js';
import { bundleRuntimeTo } from '../helpers/runtime-bundle.js';
import { requireService } from '../helpers/services.js';

/**
 * The Python runtime (runtime/python/brisk_runtime.py) in real child
 * processes: the backend contract every runtime meets, then what is Python's
 * own (handler shapes, context, logging, results JSON cannot hold, packages).
 */
const available = requireService('python3 (3.11+)', await pythonAvailable());

let runtimeDir: string;
let runtimePath: string;
beforeAll(async () => {
  runtimeDir = await mkdtemp(path.join(os.tmpdir(), 'brisk-pyrt-test-'));
  runtimePath = path.join(runtimeDir, 'server.mjs');
  await bundleRuntimeTo(runtimePath);
});
afterAll(async () => {
  await rm(runtimeDir, { recursive: true, force: true });
});

const seenPids = new WeakMap<object, Set<number>>();
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!available)('Python runtime on the process backend', () => {
  backendContract(
    'ProcessBackend',
    async () => {
      const b = new ProcessBackend({ runtimePath, pythonPath: TEST_PYTHON });
      await b.start();
      return b;
    },
    {
      runtime: { name: 'python', sources: PYTHON_SOURCES },
      liveInstances: async (b) => {
        const seen = seenPids.get(b) ?? new Set<number>();
        seenPids.set(b, seen);
        for (const pid of (b as ProcessBackend).pids()) seen.add(pid);
        return [...seen].filter(alive).length;
      },
    },
  );

  describe('what Python functions look like', () => {
    let backend: ProcessBackend;
    const live: Instance[] = [];
    beforeAll(async () => {
      backend = new ProcessBackend({ runtimePath, pythonPath: TEST_PYTHON });
      await backend.start();
    });
    afterAll(async () => {
      await Promise.all(live.map((i) => i.destroy()));
      await backend?.close();
    });

    let seq = 0;
    async function loaded(code: string, over: Partial<InitRequest> = {}): Promise<Instance> {
      const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false, runtime: 'python' });
      live.push(inst);
      await inst.init({ namespace: 'ns', name: 'fn', version: 4, code, exportName: 'handler', env: {}, timeoutMs: 10_000, memoryMb: 128, module: 'index', ...over });
      return inst;
    }
    function run(inst: Instance, event: unknown, timeoutMs = 10_000): Promise<RunAnswer> {
      return inst.run({ activationId: `py-${++seq}`, payload: JSON.stringify(event), deadline: Date.now() + timeoutMs }, timeoutMs);
    }

    it('Lambda: def handler(event, context) sees the context fields and its env', async () => {
      const inst = await loaded(
        [
          'import os',
          'def lambda_handler(event, context):',
          '    return {',
          "        'id': context.aws_request_id, 'same': context.activation_id == context.aws_request_id,",
          "        'name': context.function_name, 'version': context.function_version, 'mem': context.memory_limit_in_mb,",
          "        'left': 0 < context.get_remaining_time_in_millis() <= 5000, 'env': os.environ['GREETING'], 'sum': event['a'] + event['b'],",
          '    }',
        ].join('\n'),
        { exportName: 'lambda_handler', module: 'lambda_function', env: { GREETING: 'hej' } },
      );
      const res = await run(inst, { a: 2, b: 3 }, 5000);
      expect(res).toMatchObject({ ok: true, result: { id: `py-${seq}`, same: true, name: 'fn', version: '4', mem: 128, left: true, env: 'hej', sum: 5 } });
    });

    it('async def handlers are awaited; OpenWhisk main(args) gets the event alone and its __OW_ env', async () => {
      const asyncFn = await loaded('import asyncio\nasync def handler(event, context):\n    await asyncio.sleep(0.01)\n    return {"slept": True, "n": event["n"]}\n');
      expect(await run(asyncFn, { n: 1 })).toMatchObject({ ok: true, result: { slept: true, n: 1 } });
      const ow = await loaded('import os\ndef main(args):\n    return {"greeting": "Hello " + args.get("name", "stranger"), "action": os.environ["__OW_ACTION_NAME"]}\n', { exportName: 'main' });
      expect(await run(ow, { name: 'Ada' })).toMatchObject({ ok: true, result: { greeting: 'Hello Ada', action: '/ns/fn' } });
    });

    it('print, sys.stderr and logging are captured per activation, in order', async () => {
      const inst = await loaded(
        [
          'import logging, sys',
          'logger = logging.getLogger()',
          'logger.setLevel(logging.INFO)',
          'def handler(event, context):',
          "    print('to stdout', event['n'])",
          "    print('to stderr', file=sys.stderr)",
          "    logger.info('logged %s', event['n'])",
          '    return None',
        ].join('\n'),
      );
      for (const n of [1, 2]) {
        const res = await run(inst, { n });
        expect(res).toMatchObject({ ok: true, result: null });
        expect(res.logs.slice(0, 2)).toEqual([`to stdout ${n}`, 'to stderr']);
        expect(res.logs[2]).toMatch(new RegExp(`^\\[INFO\\]\\t\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\tpy-${seq}\\tlogged ${n}$`));
        expect(res.logs).toHaveLength(3);
      }
    });

    it('errors carry type, message and a traceback of the function (not the runtime); results JSON cannot hold are ResultNotSerializable', async () => {
      const inst = await loaded(
        [
          'import datetime',
          'def handler(event, context):',
          "    if event['mode'] == 'raise':",
          "        raise ValueError('bad order id ' + str(event['id']))",
          "    if event['mode'] == 'date':",
          '        return {"at": datetime.date(2024, 1, 2)}',
          "    if event['mode'] == 'nan':",
          "        return float('nan')",
          '    return {1, 2}',
        ].join('\n'),
      );
      const raised = await run(inst, { mode: 'raise', id: 7 });
      expect(raised).toMatchObject({ ok: false, error: { errorType: 'ValueError', errorMessage: 'bad order id 7' } });
      const stack = raised.ok ? '' : (raised.error.stack ?? '');
      expect(stack).toMatch(/^Traceback \(most recent call last\):/);
      expect(stack).toContain('line 4, in handler');
      expect(stack).not.toContain('brisk_runtime.py');
      for (const mode of ['date', 'nan', 'set']) {
        expect(await run(inst, { mode })).toMatchObject({ ok: false, error: { errorType: 'ResultNotSerializable' } });
      }
    });

    it('a package: the module is imported from packageDir, which is the working directory, with its sibling modules and data files', async () => {
      const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false, runtime: 'python' });
      live.push(inst);
      const dir = await inst.preparePackage(async (host) => {
        await mkdir(path.join(host, 'app'), { recursive: true });
        await writeFile(path.join(host, 'app', '__init__.py'), '');
        await writeFile(path.join(host, 'app', 'main.py'), 'from app.helpers import shout\nimport pathlib\ndef handler(event, context):\n    return {"text": shout(event["text"]), "data": pathlib.Path("data.txt").read_text().strip()}\n');
        await writeFile(path.join(host, 'app', 'helpers.py'), 'def shout(s):\n    return s.upper()\n');
        await writeFile(path.join(host, 'data.txt'), 'from the package\n');
      });
      await inst.init({ namespace: 'ns', name: 'pkg', version: 1, code: '', exportName: 'handler', env: {}, timeoutMs: 10_000, memoryMb: 128, module: 'app.main', packageDir: dir });
      expect(await run(inst, { text: 'hi' })).toMatchObject({ ok: true, result: { text: 'HI', data: 'from the package' } });
    });

    it('a SyntaxError at import is INIT_FAILED with the line', async () => {
      const inst = await backend.createInstance({ memoryMb: 128, allowEgress: false, runtime: 'python' });
      live.push(inst);
      const err = await inst
        .init({ namespace: 'ns', name: 'bad', version: 1, code: 'def handler(event, context):\n    return (\n', exportName: 'handler', env: {}, timeoutMs: 10_000, memoryMb: 128, module: 'index' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INIT_FAILED', data: { errorType: 'SyntaxError' } });
    });
  });
});
