import { describe, expect, it } from 'vitest';
import { useCluster, type Cluster } from '../helpers/cluster.js';
import { uniqueId } from '../helpers/services.js';
import { waitForValue } from '../helpers/wait.js';
import { api, waitForActivation } from './scenarios.js';

/**
 * The end-to-end scenarios every runtime must pass, the same for each: the
 * test files call {@link runtimeScenarios} per mode (standalone, distributed)
 * and backend (process, Docker) with a runtime's functions, written as its
 * users write them. Only the function sources differ between runtimes; every
 * request and every expectation is shared, the trigger cases included: there
 * is no switch to leave a group out for one mode or backend.
 */
export interface RuntimeFunctions {
  /** What a deploy adds for this runtime (`{ runtime: 'python' }`). */
  settings: Record<string, unknown>;
  /** Handler names as this runtime's users write them. */
  handler: string;
  /** `{ greeting: 'hello <name>', fn: <function name>, id: <activation id> }`, logging `greeting <name>`. */
  hello: string;
  /** A web endpoint: `{ statusCode: 201, headers: { 'content-type': 'text/plain', 'x-method': <method> }, body: 'path=<path> q=<q>' }`. */
  web: string;
  /** Throws an error of type `OrderError` with message `order <id> not found`. */
  fails: string;
  /** Never returns. */
  spins: string;
  /** Allocates without bound. */
  eatsMemory: string;
  /** `context.state`: increments `visits`, sets `last` to the event's name, returns `{ visits, last }` read back. */
  state: string;
  /** `context.objects`: puts `<event.key>` = `<event.text>` in bucket `notes`, returns `{ text, keys, deleted }` read back. */
  objects: string;
  /** Returns `{ event }`. */
  echo: string;
}

export const NODE_FUNCTIONS: RuntimeFunctions = {
  settings: {},
  handler: 'index.handler',
  hello: `export const handler = async (event, context) => {
    console.log('greeting', event.name);
    return { greeting: 'hello ' + event.name, fn: context.functionName, id: context.awsRequestId };
  };`,
  web: `export const handler = async (event) => ({
    statusCode: 201,
    headers: { 'content-type': 'text/plain', 'x-method': event.requestContext.http.method },
    body: 'path=' + event.rawPath + ' q=' + event.queryStringParameters.q,
  });`,
  fails: `class OrderError extends Error { constructor(m) { super(m); this.name = 'OrderError'; } }
  export const handler = async (event) => { throw new OrderError('order ' + event.id + ' not found'); };`,
  spins: `export const handler = async () => { for (;;) {} };`,
  eatsMemory: `export const handler = async () => { const keep = []; for (;;) keep.push(new Array(100000).fill({ a: Math.random() })); };`,
  state: `export const handler = async (event, context) => {
    const visits = await context.state.incr('visits');
    await context.state.set('last', event.name);
    return { visits, last: await context.state.get('last') };
  };`,
  objects: `export const handler = async (event, context) => {
    await context.objects.put('notes', event.key, event.text);
    const text = (await context.objects.get('notes', event.key)).toString('utf8');
    const keys = await context.objects.list('notes');
    const deleted = await context.objects.delete('notes', event.key);
    return { text, keys, deleted };
  };`,
  echo: `export const handler = async (event) => ({ event });`,
};

export const PYTHON_FUNCTIONS: RuntimeFunctions = {
  settings: { runtime: 'python' },
  handler: 'lambda_function.lambda_handler',
  hello: [
    'import logging',
    'logger = logging.getLogger()',
    'logger.setLevel(logging.INFO)',
    '',
    'def lambda_handler(event, context):',
    "    print('greeting', event['name'])",
    "    return {'greeting': 'hello ' + event['name'], 'fn': context.function_name, 'id': context.aws_request_id}",
  ].join('\n'),
  web: [
    'def lambda_handler(event, context):',
    '    return {',
    "        'statusCode': 201,",
    "        'headers': {'content-type': 'text/plain', 'x-method': event['requestContext']['http']['method']},",
    "        'body': 'path=' + event['rawPath'] + ' q=' + event['queryStringParameters']['q'],",
    '    }',
  ].join('\n'),
  fails: [
    'class OrderError(Exception):',
    '    pass',
    '',
    'def lambda_handler(event, context):',
    "    raise OrderError('order %s not found' % event['id'])",
  ].join('\n'),
  spins: 'def lambda_handler(event, context):\n    while True:\n        pass\n',
  eatsMemory: 'def lambda_handler(event, context):\n    keep = []\n    while True:\n        keep.append(b"x" * (8 * 1024 * 1024))\n',
  state: [
    'def lambda_handler(event, context):',
    "    visits = context.state.incr('visits')",
    "    context.state.set('last', event['name'])",
    "    return {'visits': visits, 'last': context.state.get('last')}",
  ].join('\n'),
  objects: [
    'def lambda_handler(event, context):',
    "    context.objects.put('notes', event['key'], event['text'])",
    "    text = context.objects.get('notes', event['key']).decode('utf-8')",
    "    keys = context.objects.list('notes')",
    "    deleted = context.objects.delete('notes', event['key'])",
    "    return {'text': text, 'keys': keys, 'deleted': deleted}",
  ].join('\n'),
  echo: 'def lambda_handler(event, context):\n    return {"event": event}\n',
};

export function runtimeScenarios(label: string, start: () => Promise<Cluster>, fns: RuntimeFunctions): void {
  describe(`runtime scenarios (${label})`, () => {
    const cluster = useCluster(start);
    const a = api(() => cluster.url);
    const id = uniqueId(4);

    async function deploy(name: string, code: string, settings: Record<string, unknown> = {}): Promise<void> {
      const r = await a.req('PUT', `/v1/functions/${name}`, { code, handler: fns.handler, ...fns.settings, ...settings });
      expect([200, 201], r.text).toContain(r.status);
      expect(r.json.runtime).toBe(fns.settings['runtime'] ?? 'nodejs');
    }
    const until = <T>(probe: () => Promise<T | undefined>, what: string): Promise<T> => waitForValue(probe, 30_000, what, 100);

    it('sync: deployed, invoked cold then warm, with the logs in its record', async () => {
      await deploy(`hello-${id}`, fns.hello);
      const r1 = await a.req('POST', `/v1/functions/hello-${id}/invoke`, { name: 'ada' });
      expect(r1.status, r1.text).toBe(200);
      const act1 = r1.headers.get('x-brisk-activation-id') as string;
      expect(r1.json).toEqual({ greeting: 'hello ada', fn: `hello-${id}`, id: act1 });
      const r2 = await a.req('POST', `/v1/functions/hello-${id}/invoke`, { name: 'bob' });
      expect(r2.json.greeting).toBe('hello bob');
      const rec1 = await waitForActivation(a, act1);
      const rec2 = await waitForActivation(a, r2.headers.get('x-brisk-activation-id') as string);
      expect(rec1).toMatchObject({ status: 'success', coldStart: true, logs: ['greeting ada'] });
      expect(rec2).toMatchObject({ status: 'success', startKind: 'warm', logs: ['greeting bob'] });
    });

    it('async: accepted with 202, then the record holds the result', async () => {
      await deploy(`hello-async-${id}`, fns.hello);
      const r = await a.req('POST', `/v1/functions/hello-async-${id}/invoke?async=true`, { name: 'eve' });
      expect(r.status, r.text).toBe(202);
      const rec = await waitForActivation(a, r.json.activationId);
      expect(rec).toMatchObject({ status: 'success', mode: 'async', result: { greeting: 'hello eve' } });
    });

    it('web: a public endpoint answers with the status, headers and body the function returns', async () => {
      await deploy(`web-${id}`, fns.web, { public: true });
      const anon = api(() => cluster.url, '');
      const r = await anon.req('GET', `/fn/web-${id}/items/7?q=shoes`);
      expect(r.status, r.text).toBe(201);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(r.headers.get('x-method')).toBe('GET');
      expect(r.text).toBe('path=/items/7 q=shoes');
    });

    it('errors: a raised error is FUNCTION_ERROR with its type, message and stack, told apart as the function\'s fault', async () => {
      await deploy(`fails-${id}`, fns.fails, { retries: 0 });
      const r = await a.req('POST', `/v1/functions/fails-${id}/invoke`, { id: 42 });
      expect(r.status).toBe(500);
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      expect(r.json.error).toMatchObject({ code: 'FUNCTION_ERROR', errorType: 'OrderError', errorMessage: 'order 42 not found' });
      expect(r.json.error.stack).toContain('order 42 not found');
      const rec = await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string);
      expect(rec).toMatchObject({ status: 'error', error: { kind: 'function', errorType: 'OrderError' } });
    });

    it('timeout: past timeoutMs the call is FUNCTION_TIMEOUT and the next call still works', async () => {
      await deploy(`spins-${id}`, fns.spins, { timeoutMs: 1000, retries: 0 });
      const t0 = Date.now();
      const r = await a.req('POST', `/v1/functions/spins-${id}/invoke`, {});
      expect(r.status, r.text).toBe(504);
      expect(r.json.error.code).toBe('FUNCTION_TIMEOUT');
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect((await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string)).status).toBe('timeout');
      expect((await a.req('POST', `/v1/functions/hello-${id}/invoke`, { name: 'after' })).json.greeting).toBe('hello after');
    });

    it('OOM: a function over its memory is FUNCTION_OOM', async () => {
      await deploy(`eats-${id}`, fns.eatsMemory, { memoryMb: 128, timeoutMs: 30_000, retries: 0 });
      const r = await a.req('POST', `/v1/functions/eats-${id}/invoke`, {});
      expect(r.status, r.text).toBe(500);
      expect(r.json.error.code).toBe('FUNCTION_OOM');
      expect(r.headers.get('x-brisk-fault')).toBe('function');
      expect((await waitForActivation(a, r.headers.get('x-brisk-activation-id') as string)).status).toBe('oom');
    });

    it('state: context.state keeps values across invocations', async () => {
      await deploy(`state-${id}`, fns.state);
      const r1 = await a.req('POST', `/v1/functions/state-${id}/invoke`, { name: 'first' });
      const r2 = await a.req('POST', `/v1/functions/state-${id}/invoke`, { name: 'second' });
      expect(r1.json, r1.text).toEqual({ visits: 1, last: 'first' });
      expect(r2.json).toEqual({ visits: 2, last: 'second' });
    });

    it('objects: context.objects writes, reads, lists and deletes; the object API agrees', async () => {
      await deploy(`objects-${id}`, fns.objects);
      const r = await a.req('POST', `/v1/functions/objects-${id}/invoke`, { key: `n/${id}.txt`, text: 'grüße' });
      expect(r.json, r.text).toEqual({ text: 'grüße', keys: [`n/${id}.txt`], deleted: true });
      expect((await a.req('GET', `/v1/objects/notes/n/${id}.txt`)).status).toBe(404);
    });

    describe('each trigger type once', () => {
      type Act = { status: string; trigger?: string; result?: { event: any } };
      const list = async (fn: string): Promise<Act[]> => (await a.req('GET', `/v1/activations?function=${fn}&limit=100`)).json.activations as Act[];
      const successes = (fn: string, n: number): Promise<Act[]> =>
        until(async () => {
          const ok = (await list(fn)).filter((x) => x.status === 'success');
          return ok.length >= n ? ok : undefined;
        }, `${n} successful activations of ${fn}`);
      async function trigger(name: string, body: Record<string, unknown>): Promise<void> {
        const r = await a.req('PUT', `/v1/triggers/${name}`, body);
        expect(r.status, r.text).toBe(201);
      }

      it('http', async () => {
        await deploy(`t-http-${id}`, fns.echo);
        await trigger(`t-http-${id}`, { type: 'http', function: `t-http-${id}`, method: 'GET', path: `/rt-${id}/:item` });
        const r = await a.req('GET', `/http/rt-${id}/42?full=1`);
        expect(r.status, r.text).toBe(200);
        expect(r.json.event).toMatchObject({ method: 'GET', params: { item: '42' }, query: { full: '1' } });
      });

      it('topic', async () => {
        await deploy(`t-topic-${id}`, fns.echo);
        await trigger(`t-topic-${id}`, { type: 'topic', function: `t-topic-${id}`, topic: `rt-${id}` });
        const pub = await a.req('POST', `/v1/events/rt-${id}`, '{"n":1}', {
          'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `e-${id}`, 'ce-source': '/e2e', 'ce-type': 'order.created',
        });
        expect(pub.status, pub.text).toBe(202);
        const [act] = await successes(`t-topic-${id}`, 1);
        expect(act).toMatchObject({ trigger: `topic:t-topic-${id}`, result: { event: { id: `e-${id}`, data: { n: 1 } } } });
      });

      it('queue', async () => {
        await deploy(`t-queue-${id}`, fns.echo);
        await trigger(`t-queue-${id}`, { type: 'queue', function: `t-queue-${id}`, queue: `rt-${id}` });
        expect((await a.req('POST', `/v1/queues/rt-${id}/messages`, { job: 1 })).status).toBe(202);
        const [act] = await successes(`t-queue-${id}`, 1);
        expect(act?.trigger).toBe(`queue:t-queue-${id}`);
        expect(JSON.stringify(act?.result)).toContain('"job":1');
      });

      it('storage', async () => {
        await deploy(`t-store-${id}`, fns.echo);
        await trigger(`t-store-${id}`, { type: 'storage', function: `t-store-${id}`, bucket: `rt-${id}`, events: ['created'] });
        expect((await a.req('PUT', `/v1/objects/rt-${id}/in/a.txt`, 'hello', { 'content-type': 'text/plain' })).status).toBe(200);
        const [act] = await successes(`t-store-${id}`, 1);
        expect(act).toMatchObject({ trigger: `storage:t-store-${id}`, result: { event: { event: 'created', key: 'in/a.txt', size: 5 } } });
      });

      it('schedule', async () => {
        await deploy(`t-cron-${id}`, fns.echo);
        await trigger(`t-cron-${id}`, { type: 'schedule', function: `t-cron-${id}`, cron: '* * * * * *' });
        const [act] = await successes(`t-cron-${id}`, 1);
        expect(act?.trigger).toBe(`schedule:t-cron-${id}`);
        expect((await a.req('DELETE', `/v1/triggers/t-cron-${id}`)).status).toBe(204);
      });
    });
  });
}
