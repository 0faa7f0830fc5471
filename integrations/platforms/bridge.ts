// The `bridge` adapter: an external sending service (a browser-worker fleet, say) reached over
// HTTP. Both directions are signed with the connection's secret (signature.ts): our
// request, its answer, and the events it posts to our inbound webhook.
//   POST <bridgeUrl>/messages  Idempotency-Key: <key>  X-Platform-Signature: t=..,v1=..
//   {idempotencyKey, fanHandle, text, priceCents, mediaUrls}
//   → 200/201 {messageId, sentAt}, signed the same way; 429/5xx transient, other 4xx permanent.
import { httpFailure, platformFetch, readSent } from './http.js';
import { PermanentSendError, type PlatformGateway, type SendOutcome } from './types.js';
import { SIGNATURE_HEADER, signPayload, verifySignature } from './signature.js';

export function createBridgeGateway(options: { baseUrl: string; secret: string }): PlatformGateway {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/messages`;
  return {
    async send(message): Promise<SendOutcome> {
      const body = JSON.stringify(message);
      const res = await platformFetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': message.idempotencyKey,
          [SIGNATURE_HEADER]: signPayload(options.secret, body),
        },
        body,
      });
      const answer = await res.text();
      if (!res.ok) throw httpFailure(res.status, answer, res.headers.get('retry-after'));
      // An unsigned or forged answer may not come from our bridge: nothing it says can be trusted.
      if (!verifySignature(options.secret, answer, res.headers.get(SIGNATURE_HEADER) ?? undefined)) {
        throw new PermanentSendError('the bridge answer is not signed with the connection secret');
      }
      const sent = readSent(answer);
      return { outcome: 'sent', platformMessageId: sent.id, sentAt: sent.sentAt };
    },
  };
}
