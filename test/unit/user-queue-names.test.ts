import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory-bus.js';
import { BusUserQueues } from '../../triggers/bus-user-queues.js';
import { assertUserQueueName, userQueueBrokerName } from '../../triggers/user-queues.js';

describe('user queue names (scoped per namespace)', () => {
  it('puts every user queue under <prefix>.userq.<namespace>.', () => {
    expect(userQueueBrokerName('brisk', 'ns-a', 'jobs')).toBe('brisk.userq.ns-a.jobs');
    expect(userQueueBrokerName('brisk', 'ns-b', 'jobs')).toBe('brisk.userq.ns-b.jobs');
    expect(userQueueBrokerName('brisk', 'default', 'orders.eu:v2')).toBe('brisk.userq.default.orders.eu:v2');
  });

  it('never maps two namespaces, or a user and the platform, to one broker queue', () => {
    // Namespace names have no dot, so the namespace part ends at the first dot.
    expect(userQueueBrokerName('brisk', 'a', 'b.jobs')).not.toBe(userQueueBrokerName('brisk', 'a-b', 'jobs'));
    const platform = ['brisk.invoke', 'brisk.exec.e1', 'brisk.reply.g1', 'brisk.sched.s1', 'brisk.dead', 'brisk.heartbeat', 'brisk.control', 'brisk.objects'];
    for (const q of ['invoke', 'exec.e1', 'dead', 'jobs']) expect(platform).not.toContain(userQueueBrokerName('brisk', 'ns-a', q));
  });

  it.each([
    ['brisk.invoke'],
    ['brisk.exec.ex-1'],
    ['brisk.reply.gw-1'],
    ['brisk.sched.s1'],
    ['brisk.dead'],
    ['brisk'],
    ['amq.x'],
    ['amq.rabbitmq.trace'],
    [''],
    ['has space'],
    ['.leading-dot'],
    ['x'.repeat(201)],
  ])('refuses %j with 400 INVALID_QUEUE', (queue) => {
    expect(() => assertUserQueueName('brisk', queue)).toThrow(expect.objectContaining({ code: 'INVALID_QUEUE', status: 400 }));
    expect(() => userQueueBrokerName('brisk', 'ns-a', queue)).toThrow(expect.objectContaining({ code: 'INVALID_QUEUE' }));
  });

  it('uses the configured prefix, and allows names that only contain it further on', () => {
    expect(() => assertUserQueueName('acme', 'acme.invoke')).toThrow(expect.objectContaining({ code: 'INVALID_QUEUE' }));
    expect(() => assertUserQueueName('acme', 'brisk.invoke')).not.toThrow();
    expect(() => assertUserQueueName('brisk', 'brisky')).not.toThrow();
    expect(() => assertUserQueueName('brisk', 'jobs.brisk.invoke')).not.toThrow();
  });

  it('refuses a name whose broker name (with its .dead companion) would pass 255 bytes', () => {
    const ns = 'n'.repeat(63); // brisk.userq.<63>.<q>.dead = 81 + q bytes
    expect(() => userQueueBrokerName('brisk', ns, 'q'.repeat(174))).not.toThrow();
    expect(() => userQueueBrokerName('brisk', ns, 'q'.repeat(175))).toThrow(expect.objectContaining({ code: 'INVALID_QUEUE' }));
  });

  it('standalone queues are scoped the same way: ns-a and ns-b never share "jobs"', async () => {
    const bus = new MemoryBus({ prefix: 'unit-uq' });
    const queues = new BusUserQueues({ bus, prefix: 'unit-uq' });
    await queues.send('ns-a', 'jobs', Buffer.from('a'));
    await queues.send('ns-a', 'jobs', Buffer.from('a'));
    await queues.send('ns-b', 'jobs', Buffer.from('b'));
    expect(await queues.depth('ns-a', 'jobs')).toEqual({ messages: 2, deadLetters: 0 });
    expect(await queues.depth('ns-b', 'jobs')).toEqual({ messages: 1, deadLetters: 0 });
    await expect(queues.send('ns-a', 'unit-uq.invoke', Buffer.from('x'))).rejects.toMatchObject({ code: 'INVALID_QUEUE' });
    await bus.close();
  });
});
