// The HMAC scheme every platform adapter speaks, both ways: the sandbox and a bridge sign the
// webhooks they send us, and we sign what we send to a bridge. Header value `t=<unix seconds>,
// v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; the timestamp bounds replays of a captured request.
import { createHmac } from 'node:crypto';
import { safeEqual } from '../../lib/crypto.js';

export const SIGNATURE_HEADER = 'x-platform-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function signPayload(secret: string, body: string, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

/** True when `header` signs `body` with `secret` and its timestamp is within the tolerance of now. */
export function verifySignature(
  secret: string,
  body: string,
  header: string | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  if (!header) return false;
  const parts = new Map(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1');
  if (!Number.isInteger(t) || !given || Math.abs(nowSeconds - t) > SIGNATURE_TOLERANCE_SECONDS) return false;
  return safeEqual(signPayload(secret, body, t), `t=${t},v1=${given}`);
}
