import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { PlatformError } from './errors.js';

/**
 * Encrypts function secrets at rest with AES-256-GCM. The 256-bit key is
 * stretched from BRISK_SECRET_KEY with scrypt (a fixed, public salt: the input
 * is an operator's secret, not a user's password, and every process must derive
 * the same key). A second key derived the same way signs a digest of the
 * secrets, so a deploy can tell "same secrets" without storing them in clear.
 */
export class SecretBox {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(secret: string) {
    this.encKey = scryptSync(secret, 'brisk-secrets-v1-enc', 32);
    this.macKey = scryptSync(secret, 'brisk-secrets-v1-mac', 32);
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
  seal(values: Record<string, string>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const ct = Buffer.concat([cipher.update(JSON.stringify(values), 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  open(sealed: string): Record<string, string> {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== 'v1' || iv === undefined || tag === undefined || ct === undefined) {
      throw new PlatformError('SECRETS_CORRUPT', 'stored secrets have an unknown format', { retryable: false, status: 500 });
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const pt = Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
      return JSON.parse(pt.toString('utf8')) as Record<string, string>;
    } catch (err) {
      throw new PlatformError('SECRETS_UNREADABLE', 'stored secrets cannot be decrypted (wrong BRISK_SECRET_KEY?)', {
        retryable: false,
        status: 500,
        cause: err,
      });
    }
  }

  /** A keyed digest of the secrets (order-independent), safe to store and compare. */
  digest(values: Record<string, string>): string {
    const canonical = JSON.stringify(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return createHmac('sha256', this.macKey).update(canonical).digest('hex').slice(0, 32);
  }
}
