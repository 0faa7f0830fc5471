// The `bridge` adapter: an external sending service (a browser-worker fleet, say) reached over
// HTTP. Both directions are signed with the connection's secret (signature.ts): our
// request, its answer, and the events it posts to our inbound webhook.
//   POST <bridgeUrl>/messages  Idempotency-Key: <key>  X-Platform-Signature: t=..,v1=..
//   {idempotencyKey, fanHandle, text, priceCents, mediaUrls}
//   → 200/201 {messageId, sentAt}, signed the same way; 429/5xx transient, other 4xx permanent.
//   The URL is vetted before every send (url-guard.ts) and the request dials only the vetted addresses.
import { httpFailure, pinnedRequest, readSent } from './http.js';
import { PermanentSendError, type PlatformGateway, type SendOutcome, TransientSendError } from './types.js';
import { SIGNATURE_HEADER, signPayload, verifySignature } from './signature.js';
import { ADDRESS_NOT_ALLOWED, BridgeUrlError, type Resolver, type VettedTarget, vetBridgeUrl } from './url-guard.js';

export interface BridgeOptions {
  baseUrl: string;
  secret: string;
  /** Production refuses plain http and every non-public address. */
  production: boolean;
  /** DNS resolution (tests stand one in). */
  resolve?: Resolver;
}

/** The bridge's address, vetted now: a URL stored before today's rules, or a name that now resolves inward, is refused. */
async function vettedTarget(options: BridgeOptions): Promise<VettedTarget> {
  try {
    return await vetBridgeUrl(options.baseUrl, { production: options.production }, options.resolve);
  } catch (err) {
    if (!(err instanceof BridgeUrlError)) throw err;
    // A name that does not resolve may resolve later; a refused URL or address stays refused.
    if (err.kind === 'unresolved') throw new TransientSendError('bridge unreachable (its host does not resolve)');
    throw new PermanentSendError(err.kind === 'address' ? ADDRESS_NOT_ALLOWED : err.message);
  }
}

export function createBridgeGateway(options: BridgeOptions): PlatformGateway {
  return {
    async send(message): Promise<SendOutcome> {
      const { url, addresses } = await vettedTarget(options);
      // Set as a path, never resolved as a reference: a path like `//10.0.0.5/x` must not become the host.
      const target = new URL(url.href);
      target.pathname = `${url.pathname.replace(/\/+$/, '')}/messages`;
      if (target.host !== url.host) throw new PermanentSendError(ADDRESS_NOT_ALLOWED);
      const body = JSON.stringify(message);
      const res = await pinnedRequest(target, addresses, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': message.idempotencyKey,
          [SIGNATURE_HEADER]: signPayload(options.secret, body),
        },
        body,
      });
      const answer = res.text;
      if (res.status < 200 || res.status > 299) throw httpFailure(res.status, answer, res.header('retry-after'));
      // An unsigned or forged answer may not come from our bridge: nothing it says can be trusted.
      if (!verifySignature(options.secret, answer, res.header(SIGNATURE_HEADER) ?? undefined)) {
        throw new PermanentSendError('the bridge answer is not signed with the connection secret');
      }
      const sent = readSent(answer);
      return { outcome: 'sent', platformMessageId: sent.id, sentAt: sent.sentAt };
    },
  };
}
