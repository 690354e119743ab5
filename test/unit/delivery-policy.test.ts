import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_LIMIT, DeliveryPolicy, UNSIGNED_ERROR, type FailedDelivery } from '../../bus/delivery-policy.js';
import { OUTAGE_RETRY_MS } from '../../bus/types.js';
import { BriskError, HandedBackError, PlatformError, ServiceUnavailableError, ValidationError } from '../../core/errors.js';

/**
 * The delivery-failure decision both bus drivers ask (`memory-bus.ts`,
 * `amqp-bus.ts`), branch by branch. The bus contract suite checks that each
 * driver carries the verdicts out (test/contracts/bus-contract.ts).
 */

const DLQ = 'p.dead';
const policy = new DeliveryPolicy(DLQ);
const at = (over: Partial<FailedDelivery> = {}): FailedDelivery => ({ queue: 'p.invoke', autoAck: false, redeliveries: 0, deliveryLimit: undefined, ...over });

describe('DeliveryPolicy', () => {
  it('malformed → dead-letter with the reason and the parse error', () => {
    expect(policy.malformed(at(), new ValidationError('INVALID_BODY', 'ok must be true'))).toEqual({ action: 'dead-letter', reason: 'malformed', error: 'ok must be true' });
  });

  it('unauthenticated → dead-letter, saying why', () => {
    expect(policy.unauthenticated(at())).toEqual({ action: 'dead-letter', reason: 'unauthenticated', error: UNSIGNED_ERROR });
  });

  it('a non-retryable error → dead-letter as rejected, whatever the count', () => {
    expect(policy.failed(at(), new BriskError('INVALID_BODY', 'will never work', { retryable: false }))).toEqual({ action: 'dead-letter', reason: 'rejected', error: 'will never work' });
    expect(policy.failed(at({ redeliveries: 3 }), new ValidationError('INVALID_BODY', 'bad'))).toMatchObject({ action: 'dead-letter', reason: 'rejected' });
  });

  it('an outage → redeliver after a pause, uncounted, even past the limit', () => {
    const outage = new ServiceUnavailableError('redis', 'connection refused');
    expect(policy.failed(at({ redeliveries: 2 }), outage)).toEqual({ action: 'redeliver', redeliveries: 2, delayMs: OUTAGE_RETRY_MS });
    expect(policy.failed(at({ redeliveries: 9, deliveryLimit: 3 }), outage)).toEqual({ action: 'redeliver', redeliveries: 9, delayMs: OUTAGE_RETRY_MS });
  });

  it('handed back → redeliver at once, uncounted, even past the limit', () => {
    const back = new HandedBackError('scheduler stopping; request left for another scheduler');
    expect(policy.failed(at({ redeliveries: 1 }), back)).toEqual({ action: 'redeliver', redeliveries: 1, delayMs: 0 });
    expect(policy.failed(at({ redeliveries: 4, deliveryLimit: 2 }), back)).toEqual({ action: 'redeliver', redeliveries: 4, delayMs: 0 });
  });

  it('a retryable failure → redeliver with the count raised, until the limit', () => {
    expect(policy.failed(at(), new Error('transient'))).toEqual({ action: 'redeliver', redeliveries: 1, delayMs: 0 });
    expect(policy.failed(at({ redeliveries: 1, deliveryLimit: 3 }), new PlatformError('INTERNAL', 'retry me'))).toEqual({ action: 'redeliver', redeliveries: 2, delayMs: 0 });
  });

  it('the delivery limit reached → dead-letter as delivery-limit (the queue\'s limit, else the default)', () => {
    expect(policy.failed(at({ redeliveries: 2, deliveryLimit: 3 }), new Error('transient'))).toEqual({ action: 'dead-letter', reason: 'delivery-limit', error: 'transient' });
    expect(policy.failed(at({ redeliveries: DEFAULT_DELIVERY_LIMIT - 2 }), new Error('x'))).toMatchObject({ action: 'redeliver' });
    expect(policy.failed(at({ redeliveries: DEFAULT_DELIVERY_LIMIT - 1 }), new Error('x'))).toMatchObject({ action: 'dead-letter', reason: 'delivery-limit' });
  });

  it('a message settled on delivery (autoAck) is dropped, never kept; an unsigned one still leaves a dead-letter copy', () => {
    expect(policy.malformed(at({ autoAck: true }), new Error('not JSON'))).toMatchObject({ action: 'drop', error: 'not JSON' });
    expect(policy.failed(at({ autoAck: true }), new ServiceUnavailableError('redis', 'down'))).toMatchObject({ action: 'drop' });
    expect(policy.failed(at({ autoAck: true }), new HandedBackError('stopping'))).toMatchObject({ action: 'drop' });
    expect(policy.unauthenticated({ queue: 'p.reply.gw1' })).toMatchObject({ action: 'dead-letter', reason: 'unauthenticated' });
  });

  it('never dead-letters from the dead-letter queue itself (it would loop): drops instead', () => {
    expect(policy.malformed(at({ queue: DLQ }), new Error('garbled'))).toMatchObject({ action: 'drop', error: 'garbled' });
    expect(policy.unauthenticated({ queue: DLQ })).toMatchObject({ action: 'drop' });
    expect(policy.failed(at({ queue: DLQ }), new BriskError('INVALID_BODY', 'no', { retryable: false }))).toMatchObject({ action: 'drop' });
    expect(policy.failed(at({ queue: DLQ, redeliveries: 4 }), new Error('again'))).toMatchObject({ action: 'drop' });
    // Redelivering on the dead-letter queue is fine: it ends at the limit, in a drop.
    expect(policy.failed(at({ queue: DLQ }), new Error('once'))).toMatchObject({ action: 'redeliver', redeliveries: 1 });
  });
});
