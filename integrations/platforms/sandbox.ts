// The `sandbox` adapter: the local simulated platform (standins/platform-sandbox/). The account
// there is (re-)registered before a gateway's first send, with our webhook URL, secret and rate
// limit, so a rotated secret or a changed limit applies from the next batch and a restarted
// sandbox (which forgets accounts) knows the account again.
import { httpFailure, platformFetch, readSent } from './http.js';
import type { OutgoingMessage, PlatformGateway, SendOutcome } from './types.js';

export interface SandboxGatewayOptions {
  baseUrl: string;
  accountId: string;
  apiKey: string;
  webhookUrl: string;
  webhookSecret: string;
  rateLimit: { messages: number; perSeconds: number };
}

export function createSandboxGateway(options: SandboxGatewayOptions): PlatformGateway {
  const account = `${options.baseUrl.replace(/\/+$/, '')}/v1/accounts/${encodeURIComponent(options.accountId)}`;
  const auth = { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' };

  async function register(): Promise<void> {
    const res = await platformFetch(account, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ webhookUrl: options.webhookUrl, webhookSecret: options.webhookSecret, rateLimit: options.rateLimit }),
    });
    if (!res.ok) throw httpFailure(res.status, await res.text(), res.headers.get('retry-after'));
  }

  async function post(message: OutgoingMessage): Promise<Response> {
    return platformFetch(`${account}/messages`, {
      method: 'POST',
      headers: { ...auth, 'idempotency-key': message.idempotencyKey },
      body: JSON.stringify({
        fanHandle: message.fanHandle,
        text: message.text,
        mediaUrls: message.mediaUrls,
        ...(message.priceCents === null ? {} : { priceCents: message.priceCents }),
      }),
    });
  }

  let registered: Promise<void> | undefined;
  return {
    async send(message): Promise<SendOutcome> {
      registered ??= register().catch((err: unknown) => {
        registered = undefined;
        throw err;
      });
      await registered;
      const res = await post(message);
      const body = await res.text();
      if (!res.ok) throw httpFailure(res.status, body, res.headers.get('retry-after'));
      const sent = readSent(body);
      return { outcome: 'sent', platformMessageId: sent.id, sentAt: sent.sentAt };
    },
  };
}
