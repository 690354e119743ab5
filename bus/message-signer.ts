import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { MIN_BUS_KEY_CHARS } from '../core/config.js';

/** AMQP header that carries a platform message's signature. */
export const SIGNATURE_HEADER = 'x-brisk-sig';

/** HMAC-SHA256 is 32 bytes. */
const MAC_BYTES = 32;

/**
 * Signs and checks the messages Brisk's roles exchange on RabbitMQ, so that
 * only a holder of BRISK_BUS_KEY (a gateway, scheduler or executor) can make
 * one. Anyone else who can publish on the broker — a user's producer given
 * access for its own queues, a compromised client — cannot forge an
 * invocation, a dispatch or a heartbeat.
 *
 * The MAC covers the body and where it was sent (exchange and routing key, so
 * the queue for a direct send, the topic for a fan-out): a message signed for
 * one queue is refused on any other, so a captured reply cannot be replayed
 * into the invoke queue. Headers are not covered; none of them names who a
 * message speaks for. A replay into the same queue is possible and harmless:
 * every consumer already tolerates duplicates (at-least-once delivery).
 */
export class MessageSigner {
  private readonly key: KeyObject;

  constructor(key: string) {
    if (key.length < MIN_BUS_KEY_CHARS) throw new Error(`the bus key must be at least ${MIN_BUS_KEY_CHARS} characters`);
    // A KeyObject is derived once; createHmac with a string key would import it per message.
    this.key = createSecretKey(Buffer.from(key, 'utf8'));
  }

  /** The signature header value for `content` sent to `exchange` with `routingKey`. */
  sign(exchange: string, routingKey: string, content: Buffer): string {
    return this.mac(exchange, routingKey, content).toString('base64url');
  }

  /** Whether `signature` (a header value, possibly missing or of any type) is valid for this destination. */
  verify(exchange: string, routingKey: string, content: Buffer, signature: unknown): boolean {
    const given = typeof signature === 'string' ? Buffer.from(signature, 'base64url') : Buffer.isBuffer(signature) ? Buffer.from(signature.toString('utf8'), 'base64url') : undefined;
    if (given === undefined || given.length !== MAC_BYTES) return false;
    return timingSafeEqual(given, this.mac(exchange, routingKey, content));
  }

  private mac(exchange: string, routingKey: string, content: Buffer): Buffer {
    // NUL separates the parts: no exchange or queue name Brisk declares contains one.
    return createHmac('sha256', this.key).update(exchange).update('\0').update(routingKey).update('\0').update(content).digest();
  }
}
