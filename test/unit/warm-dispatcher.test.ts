import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { Topology } from '../../bus/topology.js';
import type { Dispatch, Heartbeat, InvocationRequest } from '../../core/types.js';
import { WarmDispatcher, type DirectOutcome } from '../../gateway/warm-dispatcher.js';
import { ConcurrencyLimiter } from '../../placement/concurrency-limiter.js';
import { ExecutorRegistry } from '../../placement/executor-registry.js';
import { functionVersion, heartbeat } from '../helpers/records.js';
import { quietWindow, waitFor } from '../helpers/wait.js';

/**
 * The gateway's direct path places a warm sync call from its view of the
 * executors. Its concurrency slot comes from counters shared with the other
 * gateways and schedulers, which can take a round trip (a lease refill): calls
 * placed meanwhile must see the instance the first one chose as taken.
 */

const fn = functionVersion();
/** A heartbeat from an executor that takes direct dispatches, sent now. */
const beat = (executorId: string, over: Partial<Heartbeat> = {}): Heartbeat => heartbeat(executorId, { sentAt: Date.now(), direct: true, running: [], ...over });

const idle = { namespace: 'default', function: 'hello', version: 1, state: 'idle' as const };

describe('WarmDispatcher: placing while the concurrency slot is on its way', () => {
  const topology = new Topology('wd');
  let bus: MemoryBus;
  let registry: ExecutorRegistry;
  let slots: ConcurrencyLimiter;
  /** The counters refuse every slot (a limit reached elsewhere). */
  let refuse = false;
  let dispatcher: WarmDispatcher;
  let seq = 0;
  /** The dispatches each executor's direct queue received, by activation. */
  let received: Record<string, string[]> = {};

  beforeEach(async () => {
    received = {};
    bus = new MemoryBus({ prefix: 'wd' });
    await bus.waitUntilReady();
    registry = new ExecutorRegistry();
    slots = new ConcurrencyLimiter();
    refuse = false;
    // Counters that answer a macrotask later, as a lease refill from Redis does.
    const later = {
      tryAcquire: (namespace: string, fnKey: string, fnMax: number, nsMax: number) =>
        new Promise<boolean>((resolve) => setTimeout(() => resolve(!refuse && slots.tryAcquire(namespace, fnKey, fnMax, nsMax)), 1)),
      release: (namespace: string, fnKey: string) => slots.release(namespace, fnKey),
    };
    dispatcher = new WarmDispatcher({
      bus,
      topology,
      registry,
      limiter: later,
      policy: 'spread',
      namespaceConcurrency: 0,
      store: { finishActivation: async () => true },
      logger: pino({ level: 'silent' }),
    });
    for (const id of ['ex-a', 'ex-b']) {
      const got: string[] = [];
      received[id] = got;
      await bus.assertQueue(topology.directQueue(id), { durable: false });
      await bus.consume<Dispatch>(topology.directQueue(id), async (d) => void got.push(d.request.activationId), { prefetch: 100, autoAck: true });
    }
  });

  afterEach(async () => {
    dispatcher.stop();
    await bus.close();
  });

  const request = (): InvocationRequest => ({
    activationId: `act-${++seq}`,
    fn,
    mode: 'sync',
    payload: '{}',
    replyTo: 'wd.reply.gw',
    deadline: Date.now() + 10_000,
    attempt: 1,
    queuedAt: new Date().toISOString(),
  });

  it('three calls at once onto two idle instances: two are sent to them, the third goes to a scheduler', async () => {
    registry.observe(beat('ex-a', { warm: [idle, idle] }));
    registry.observe(beat('ex-b'));
    const outcomes: DirectOutcome[] = await Promise.all([request(), request(), request()].map((r) => dispatcher.dispatch(r)));
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['scheduler', 'sent', 'sent']);
    await waitFor(() => received['ex-a']?.length === 2, 5000, 5);
    await quietWindow(50); // and no third
    expect(received).toEqual({ 'ex-a': [expect.any(String), expect.any(String)], 'ex-b': [] });
    expect(dispatcher.inFlight).toBe(2);
  });

  it('a call refused its slot gives the instance back: the next call takes it', async () => {
    registry.observe(beat('ex-a', { warm: [idle] }));
    refuse = true;
    const refused = await dispatcher.dispatch(request());
    expect(refused).toMatchObject({ kind: 'answered', result: { status: 'throttled', error: { code: 'CONCURRENCY_LIMIT' } } });
    expect(registry.get('ex-a')?.idleWarm['default/hello@1']).toBe(1);
    refuse = false;
    expect(await dispatcher.dispatch(request())).toEqual({ kind: 'sent' });
    expect(registry.get('ex-a')?.idleWarm['default/hello@1']).toBeUndefined();
  });
});
