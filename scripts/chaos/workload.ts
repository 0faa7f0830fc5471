// The chaos run's mixed workload, spoken over HTTP as clients would: full onboardings through
// Stripe to activation, 1:1 sends, a campaign, a CSV import and signed inbound fan events. Each
// step retries the same request (same Idempotency-Key) until it is answered; what the clients were
// told (message ids, campaign id, import id, event ids) is recorded for the final checks.
import { SIGNATURE_HEADER, signPayload } from '../../integrations/platforms/signature.js';
import { type RetryingClient, until } from './client.js';
import { withSql } from './stack.js';

export const PASSWORD = 'chaos-monkey-tangerine-42';

export interface Creator {
  userId: string;
  email: string;
  token: string;
}

const tokensIn = (body: any): string[] =>
  ((body?.messages ?? []) as { text: string }[]).map((m) => /token=([\w-]+)/.exec(m.text)?.[1]).filter((t): t is string => !!t);

function ok(what: string, a: { status: number; body: unknown }, ...statuses: number[]) {
  if (!statuses.includes(a.status)) throw new Error(`${what}: HTTP ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`);
  return a.body as any;
}

export async function login(client: RetryingClient, email: string): Promise<string> {
  return ok('login', await client.call('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } }), 200).accessToken;
}

/** register → verification mail from the dev mailbox → verify → login; a lost answer is checked, never guessed. */
export async function registerAndVerify(client: RetryingClient, email: string, key: string): Promise<Creator> {
  const reg = await client.call('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD }, idempotencyKey: key });
  // 409: an earlier attempt whose answer was lost created the account (its key abandoned after a crash).
  ok('register', reg, 201, 409);
  for (;;) {
    const mails = await until(
      `verification mail for ${email}`,
      async () => {
        const t = tokensIn((await client.call('GET', `/api/v1/dev/mailbox?to=${encodeURIComponent(email)}`)).body);
        return t.length ? t : undefined;
      },
      600_000,
      1_000,
    );
    const verify = await client.call('POST', '/api/v1/auth/verify-email', { body: { token: mails.at(-1) } });
    const token = await login(client, email);
    const me = ok('me', await client.call('GET', '/api/v1/auth/me', { token }), 200).user;
    // A 400 after a retry is our own earlier attempt having consumed the token: /auth/me says.
    if (me.emailVerified) return { userId: me.id, email, token };
    if (verify.status !== 400) throw new Error(`verify-email: HTTP ${verify.status} but the email is not verified`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** A full onboarding to `activated`; resolves with the user id and its Stripe account. */
export async function onboard(client: RetryingClient, email: string, key: string): Promise<{ userId: string; accountId: string }> {
  const me = await registerAndVerify(client, email, key);
  let token = me.token;
  const authed = async (method: string, url: string, body?: unknown) => {
    let a = await client.call(method, url, { body, token });
    if (a.status === 401) {
      token = await login(client, email);
      a = await client.call(method, url, { body, token });
    }
    return a;
  };
  ok('accept-terms', await authed('POST', '/api/v1/auth/accept-terms', { termsVersion: '2026-11' }), 200);
  // connect/start is a workflow Update: while no worker runs it answers 503, and the client retries.
  await until('connect/start', async () => ((await authed('POST', '/api/v1/stripe/connect/start', {})).status === 200 ? true : undefined));
  const accountId = await until(
    'the Stripe account id',
    async () => (await authed('GET', '/api/v1/stripe/status')).body?.accountId ?? undefined,
  );
  await until('KYC completed', async () =>
    (await authed('POST', `/api/v1/dev/stripe/accounts/${accountId}/complete`, {})).status === 200 ? true : undefined,
  );
  await until(
    'activation',
    async () => ((await authed('GET', '/api/v1/onboarding/status')).body?.step === 'activated' ? true : undefined),
    900_000,
    1_000,
  );
  return { userId: me.userId, accountId };
}

/** A creator with a sandbox connection (rate limit lifted) and `fans` fans, set up before the chaos starts. */
export async function senderCreator(client: RetryingClient, databaseUrl: string, email: string, fans: number, tag: string) {
  const me = await registerAndVerify(client, email, `setup-${email}`);
  const conn = ok(
    'connection',
    await client.call('PUT', '/api/v1/platforms/onlyfans/connection', {
      token: me.token,
      body: { adapter: 'sandbox', rateLimit: { messages: 100_000, perSeconds: 60 } },
    }),
    201,
  ) as { id: string; webhookSecret: string };
  const fanRows = await withSql(databaseUrl, async (sql) => {
    if (fans > 0)
      await sql`insert into fans (creator_id, handle, tags)
        select ${me.userId}, ${tag} || '_' || i, array[${tag}] from generate_series(1, ${fans}) i`;
    return sql<{ id: string; handle: string }[]>`select id, handle from fans where creator_id = ${me.userId} order by handle`;
  });
  return { ...me, connectionId: conn.id, webhookSecret: conn.webhookSecret, fans: fanRows };
}

/** One 1:1 send; resolves with the message id the API answered (a replay answers the same one). */
export async function sendOne(client: RetryingClient, creator: { email: string; token: string }, fanId: string, key: string) {
  const body = { recipientId: fanId, content: `chaos ${key}` };
  let a = await client.call('POST', '/api/v1/onlyfans/messages/send', { token: creator.token, body, idempotencyKey: key });
  if (a.status === 401) {
    creator.token = await login(client, creator.email);
    a = await client.call('POST', '/api/v1/onlyfans/messages/send', { token: creator.token, body, idempotencyKey: key });
  }
  return ok('send', a, 202).messageId as string;
}

/** A campaign to every fan tagged `tag`; a retried POST with the same key names the same campaign. */
export async function startCampaign(client: RetryingClient, creator: { token: string }, tag: string, key: string) {
  const a = await client.call('POST', '/api/v1/messages/bulk', {
    token: creator.token,
    idempotencyKey: key,
    body: { campaignName: `chaos ${key}`, content: 'chaos campaign', segment: { tags: [tag] } },
  });
  return ok('bulk', a, 202) as { campaignId: string; totalRecipients: number };
}

export function importCsv(rows: number, prefix: string): string {
  const lines = ['Username,Display Name,Total Spent'];
  for (let i = 0; i < rows; i++) lines.push(`${prefix}_${i},"Fan ${i}","$${i % 500}.00"`);
  return `${lines.join('\r\n')}\r\n`;
}

/** Uploads the CSV (multipart), retried whole after a failure (the route takes no Idempotency-Key); resolves with the import id. */
export async function uploadCsv(client: RetryingClient, creator: { token: string }, csv: string): Promise<string> {
  const form = () => {
    const f = new FormData();
    f.append('file', new Blob([csv], { type: 'text/csv' }), 'fans.csv');
    return f;
  };
  return ok('import', await client.call('POST', '/api/v1/onlyfans/import/csv', { token: creator.token, form }), 202).importId;
}

/** A fan's message as the platform signs it, POSTed until a 2xx (a platform retries its webhooks). */
export async function inboundEvent(
  client: RetryingClient,
  creator: { connectionId: string; webhookSecret: string },
  fanHandle: string,
  eventId: string,
) {
  const event = {
    id: eventId,
    type: 'message.received',
    createdAt: new Date().toISOString(),
    data: { fanHandle, text: `chaos inbound ${eventId}`, messageId: eventId, sentAt: new Date().toISOString() },
  };
  const raw = JSON.stringify(event);
  await until(`inbound event ${eventId}`, async () => {
    const res = await fetch(`${client.base}/api/v1/platforms/onlyfans/webhook?connectionId=${creator.connectionId}`, {
      method: 'POST',
      // Signed afresh at each attempt, as the sandbox does: the timestamp must stay within tolerance.
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(creator.webhookSecret, raw) },
      body: raw,
      signal: AbortSignal.timeout(30_000),
    });
    client.stats.requests += 1;
    await res.arrayBuffer();
    if (res.ok) return true;
    client.stats.retries += 1;
    if (res.status < 500) throw new Error(`inbound event ${eventId}: HTTP ${res.status}`);
    return undefined;
  });
}
