import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';

/** 32 random bytes, URL-safe base64: used for email tokens and refresh tokens. */
export function newOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Only this hash of an opaque token is ever stored. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * AES-256-GCM for secrets at rest (platform credentials): `v1.<iv>.<tag>.<ciphertext>`, base64url.
 * The version prefix leaves room to rotate the key or the algorithm.
 */
export function encryptSecret(keyBase64: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(keyBase64, 'base64'), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

/** Throws when the value was not encrypted with this key or was tampered with. */
export function decryptSecret(keyBase64: string, sealed: string): string {
  const [version, iv, tag, ciphertext] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('not a sealed secret');
  // A full 16-byte tag only: GCM would otherwise accept a truncated one.
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(keyBase64, 'base64'), Buffer.from(iv, 'base64url'), { authTagLength: 16 });
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}

/**
 * A UUIDv5 (name-based, SHA-1) of a creator and an Idempotency-Key in `namespace`: the id of what
 * that request creates, so a request re-run after its first answer was lost names the same row.
 */
export function requestScopedId(namespace: string, creatorId: string, idempotencyKey: string): string {
  return uuidv5(`${creatorId.toLowerCase()}\n${idempotencyKey}`, namespace);
}
