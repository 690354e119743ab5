import { describe, expect, it } from 'vitest';
import { MessageSigner } from '../../bus/message-signer.js';
import { configSchema, redactConfig } from '../../core/config.js';

const KEY = 'unit-bus-key-0123456789abcdef-0123';
const body = Buffer.from(JSON.stringify({ request: { activationId: 'a1', fn: { namespace: 'ns-a', name: 'f', version: 1 } } }));

describe('MessageSigner (bus message authentication)', () => {
  const signer = new MessageSigner(KEY);

  it('accepts its own signature for the same destination and body', () => {
    const sig = signer.sign('', 'brisk.invoke', body);
    expect(signer.verify('', 'brisk.invoke', body, sig)).toBe(true);
    // Another signer with the same key (another role's process) agrees.
    expect(new MessageSigner(KEY).verify('', 'brisk.invoke', body, sig)).toBe(true);
    // amqplib may hand a header back as bytes.
    expect(signer.verify('', 'brisk.invoke', body, Buffer.from(sig))).toBe(true);
  });

  it('refuses a missing, malformed or wrong-key signature', () => {
    for (const sig of [undefined, null, '', 42, {}, 'not base64 at all', 'AAAA']) {
      expect(signer.verify('', 'brisk.invoke', body, sig)).toBe(false);
    }
    const other = new MessageSigner('another-unit-bus-key-0123456789abcdef');
    expect(signer.verify('', 'brisk.invoke', body, other.sign('', 'brisk.invoke', body))).toBe(false);
  });

  it('refuses a tampered body', () => {
    const sig = signer.sign('', 'brisk.invoke', body);
    const tampered = Buffer.from(body.toString().replace('ns-a', 'ns-b'));
    expect(signer.verify('', 'brisk.invoke', tampered, sig)).toBe(false);
    expect(signer.verify('', 'brisk.invoke', Buffer.concat([body, Buffer.from(' ')]), sig)).toBe(false);
  });

  it('refuses a signature replayed to another queue, or from a queue to a topic', () => {
    const forReply = signer.sign('', 'brisk.reply.gw-1', body);
    expect(signer.verify('', 'brisk.invoke', body, forReply)).toBe(false);
    expect(signer.verify('', 'brisk.exec.e1', body, forReply)).toBe(false);
    const forTopic = signer.sign('brisk.control', '', body);
    expect(signer.verify('', 'brisk.control', body, forTopic)).toBe(false);
    expect(signer.verify('brisk.control', '', body, forTopic)).toBe(true);
  });

  it('refuses a key shorter than 32 characters, and the config does too and redacts it', () => {
    expect(() => new MessageSigner('short')).toThrow(/at least 32/);
    expect(configSchema.safeParse({ BRISK_BUS_KEY: 'x'.repeat(31) }).success).toBe(false);
    const cfg = configSchema.parse({ BRISK_BUS_KEY: KEY });
    expect(cfg.BRISK_BUS_KEY).toBe(KEY);
    expect(JSON.stringify(redactConfig(cfg))).not.toContain(KEY);
  });

  it('costs a few microseconds per message (sign + verify of a 1 KiB dispatch)', () => {
    const msg = Buffer.alloc(1024, 'x');
    const n = 20_000;
    for (let i = 0; i < 1000; i++) signer.verify('', 'brisk.exec.e1', msg, signer.sign('', 'brisk.exec.e1', msg));
    const t0 = performance.now();
    let ok = 0;
    for (let i = 0; i < n; i++) if (signer.verify('', 'brisk.exec.e1', msg, signer.sign('', 'brisk.exec.e1', msg))) ok++;
    const usPerMessage = ((performance.now() - t0) * 1000) / n;
    console.log(`bus signature: ${usPerMessage.toFixed(2)} µs per message (sign + verify, 1 KiB)`);
    expect(ok).toBe(n);
    // Generous bound for a loaded CI machine; an HMAC of 1 KiB is single-digit µs.
    expect(usPerMessage).toBeLessThan(200);
  });
});
