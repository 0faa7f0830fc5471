// Helpers for tests that drive the Stripe stand-in through the real `stripe` SDK: a local endpoint
// receiving its webhooks (verified with the SDK), the SDK client as the app builds it, and the
// stand-in's control endpoints.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { createStripeClient } from '../../integrations/stripe.js';
import type { EventDelivery, StripeStandin } from '../../standins/stripe/index.js';

export interface WebhookReceiver {
  url: string;
  deliveries: { body: string; signature: string }[];
  /** The next `failures` deliveries are answered with 500. */
  failures: number;
  /** Verified events of `type`; `account` null selects the platform's own events (no `account`). */
  events(stripe: Stripe, secret: string, type: string, account?: string | null): Stripe.Event[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (receiver.failures > 0) {
        receiver.failures -= 1;
        res.writeHead(500).end('down');
        return;
      }
      receiver.deliveries.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['stripe-signature']) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/webhooks/stripe`,
    deliveries: [],
    failures: 0,
    events(stripe, secret, type, account) {
      return receiver.deliveries
        .map((d) => stripe.webhooks.constructEvent(d.body, d.signature, secret))
        .filter((e) => e.type === type && (account === undefined || (e.account ?? null) === account));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return receiver;
}

/** The SDK client exactly as the app builds it, pointed at this stand-in's port. */
export function stripeClientFor(standin: Pick<StripeStandin, 'url'>): Stripe {
  return createStripeClient({
    STRIPE_SECRET_KEY: undefined,
    STRIPE_STANDIN_PORT: Number(new URL(standin.url).port),
    usesStripeStandin: true,
  });
}

/** POSTs JSON to a control endpoint (`/_standin/...`) and returns status and parsed body. */
export async function standinControl<T = unknown>(standin: Pick<StripeStandin, 'url'>, path: string, body?: unknown) {
  const res = await fetch(`${standin.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

export type StandinEventEntry = { event: Stripe.Event; delivery: EventDelivery };

/** The promise's rejection (the call must fail). */
export const rejectionOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
