// The `sandbox` adapter: the local simulated platform (standins/platform-sandbox.ts). An account
// there is registered on first use (and again after the sandbox restarts, which forgets it), with
// our webhook URL and secret so its fan replies and purchases reach the inbound webhook.
import { httpFailure, platformFetch, type OutgoingMessage, type PlatformGateway, type SendOutcome } from './gateway.js';

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
      body: JSON.stringify({ fanHandle: message.fanHandle, text: message.text, mediaUrls: message.mediaUrls, ...(message.priceCents === null ? {} : { priceCents: message.priceCents }) }),
    });
  }

  return {
    async send(message): Promise<SendOutcome> {
      let res = await post(message);
      if (res.status === 404) {
        await res.body?.cancel();
        await register();
        res = await post(message);
      }
      const body = await res.text();
      if (!res.ok) throw httpFailure(res.status, body, res.headers.get('retry-after'));
      const sent = JSON.parse(body) as { id: string; deliveredAt: string };
      return { outcome: 'sent', platformMessageId: sent.id, sentAt: new Date(sent.deliveredAt) };
    },
  };
}
