// A creator as the money and statement tests need one: registered, logged in, connected to the
// sandbox platform, with a poster of signed events to that connection's inbound webhook.
import { SIGNATURE_HEADER, signPayload } from '../../integrations/platforms/signature.js';
import { apiCalls, bearer, type Harness, login, register } from './harness.js';
import { sandboxOf } from './sandbox.js';

export async function connectedCreator(h: Harness) {
  const { ok } = apiCalls(() => h);
  const { userId, email } = await register(h);
  const auth = bearer((await login(h, email)).accessToken);
  await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox' }, 201);
  const conn = await sandboxOf(h).connection(userId);
  let n = 0;
  /** Posts a signed platform event (throws unless 200); the same `id` twice is the platform retrying. */
  const event = async (type: string, data: object, id = `evt_${type}_${n++}`) => {
    const body = JSON.stringify({ id, type, data });
    const res = await h.app.inject({
      method: 'POST',
      url: `/api/v1/platforms/onlyfans/webhook?connectionId=${conn.id}`,
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(conn.webhookSecret, body) },
      payload: body,
    });
    if (res.statusCode !== 200) throw new Error(`${type}: ${res.statusCode} ${res.body}`);
    return res.json() as { duplicate: boolean };
  };
  return { userId, email, auth, event };
}

/**
 * A connected creator who can be paid: a Stripe account the stand-in holds with KYC complete, and
 * `status` on their profile (restricted: their payouts are held).
 */
export async function payableCreator(h: Harness, status: 'active' | 'restricted' = 'active') {
  const creator = await connectedCreator(h);
  const account = await h.stripe.accounts.create({
    type: 'express',
    country: 'US',
    email: creator.email,
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  await h.stripeStandin.complete(account.id);
  await h.sql`insert into creator_profiles (user_id, status, stripe_account_id, payouts_enabled, charges_enabled)
    values (${creator.userId}, ${status}, ${account.id}, true, true)
    on conflict (user_id) do update set status = excluded.status, stripe_account_id = excluded.stripe_account_id, payouts_enabled = true`;
  return { ...creator, accountId: account.id };
}
