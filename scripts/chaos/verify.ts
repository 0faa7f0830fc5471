// The end-of-run checks: what the clients were told, against what the outside world (the Stripe
// stand-in, the sandbox platform's delivery log, the captured mail) and the database saw, and no
// workflow left open that should have finished or with an activity that keeps failing.
import { Client, Connection } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { createDb } from '../../db/client.js';
import { platformConnections } from '../../db/schema.js';
import { unsealConnection } from '../../domain/platform-connections.js';
import { loadConfig } from '../../lib/config.js';

export interface Expected {
  onboardings: { userId: string; email: string; accountId: string }[];
  sends: { creatorId: string; messageIds: string[] };
  campaign: { creatorId: string; campaignId: string; recipients: number } | undefined;
  imports: { creatorId: string; importIds: string[]; rows: number } | undefined;
  inbound: { creatorId: string; eventIds: string[] };
}

export interface Verdict {
  lost: number;
  duplicated: number;
  stuck: number;
  problems: string[];
  facts: Record<string, string | number>;
}

/** Long-lived by design: an activated creator's onboarding (restrictions), send queues and the maintenance runs. */
const LONG_LIVED = /^(onboarding|send-queue|maintenance):/;
const FAILING_ATTEMPTS = 3;

export async function verify(
  opts: { databaseUrl: string; temporalAddress: string; stripeUrl: string; sandboxUrl: string; base: string },
  expected: Expected,
): Promise<Verdict> {
  const problems: string[] = [];
  const facts: Record<string, string | number> = {};
  let lost = 0;
  let duplicated = 0;
  let stuck = 0;
  const { db, sql, close } = createDb(opts.databaseUrl, { max: 2 });
  const connection = await Connection.connect({ address: opts.temporalAddress, connectTimeout: 5_000 });
  try {
    // Onboardings: activated once (one welcome mail), one Stripe account each.
    const stripe = (await (await fetch(`${opts.stripeUrl}/_standin/accounts`)).json()) as {
      accountCreations: number;
      accounts: { account: { id: string; metadata?: Record<string, string> } }[];
    };
    let activated = 0;
    for (const o of expected.onboardings) {
      const accounts = stripe.accounts.filter((a) => a.account.metadata?.userId === o.userId);
      if (accounts.length !== 1) {
        problems.push(`onboarding ${o.email}: ${accounts.length} Stripe accounts`);
        if (accounts.length > 1) duplicated += accounts.length - 1;
        else lost += 1;
      }
      const [profile] = await sql<{ account: string | null }[]>`
        select stripe_account_id as account from creator_profiles where user_id = ${o.userId}`;
      if (profile?.account !== o.accountId)
        problems.push(`onboarding ${o.email}: profile holds ${profile?.account}, client saw ${o.accountId}`);
      const mail = (await (await fetch(`${opts.base}/api/v1/dev/mailbox?to=${encodeURIComponent(o.email)}`)).json()) as {
        messages: { subject: string }[];
      };
      const welcomes = mail.messages.filter((m) => /active/i.test(m.subject)).length;
      if (welcomes === 1) activated += 1;
      else {
        problems.push(`onboarding ${o.email}: ${welcomes} welcome mails`);
        if (welcomes > 1) duplicated += welcomes - 1;
        else lost += 1;
      }
    }
    facts['onboardings activated once'] = `${activated} / ${expected.onboardings.length}`;

    // Deliveries: the sandbox's log per creator account, one entry per idempotency key.
    const deliveriesOf = async (creatorId: string) => {
      const row = await db.query.platformConnections.findFirst({ where: eq(platformConnections.creatorId, creatorId) });
      const account = unsealConnection(row!, loadConfig({}).CREDENTIALS_KEY).credentials.accountId!;
      const body = (await (await fetch(`${opts.sandboxUrl}/_sandbox/accounts/${account}/deliveries`)).json()) as {
        deliveries?: { idempotencyKey: string }[];
      };
      return (body.deliveries ?? []).map((d) => d.idempotencyKey);
    };
    const compare = (what: string, keys: string[], want: Set<string>, matches: (k: string) => boolean) => {
      const mine = keys.filter(matches);
      const seen = new Set<string>();
      let dup = 0;
      let extra = 0;
      for (const k of mine) {
        if (seen.has(k)) dup += 1;
        else if (!want.has(k)) extra += 1;
        seen.add(k);
      }
      const missing = [...want].filter((k) => !seen.has(k)).length;
      if (dup || extra || missing) problems.push(`${what}: ${missing} missing, ${dup} delivered twice, ${extra} not asked for`);
      lost += missing;
      duplicated += dup + extra;
      return mine.length - dup - extra;
    };

    const sendKeys = await deliveriesOf(expected.sends.creatorId);
    const sent = compare('1:1 sends', sendKeys, new Set(expected.sends.messageIds), () => true);
    facts['1:1 messages delivered'] = `${sent} / ${expected.sends.messageIds.length}`;
    const [out] = await sql<{ total: number; sent: number }[]>`
      select count(*)::int as total, count(*) filter (where status = 'sent')::int as sent
      from messages where creator_id = ${expected.sends.creatorId} and direction = 'out'`;
    if (out!.total !== expected.sends.messageIds.length || out!.sent !== out!.total)
      problems.push(`1:1 sends: ${out!.total} message rows (${out!.sent} sent) for ${expected.sends.messageIds.length} sends`);
    if (out!.total > expected.sends.messageIds.length) duplicated += out!.total - expected.sends.messageIds.length;

    if (expected.campaign) {
      const c = expected.campaign;
      const keys = await deliveriesOf(c.creatorId);
      const [t] = await sql<{ recipients: number; sent: number; status: string }[]>`
        select (select count(*)::int from campaign_recipients where campaign_id = ${c.campaignId}) as recipients,
               (select count(*)::int from messages where campaign_id = ${c.campaignId} and status = 'sent') as sent,
               (select status from campaigns where id = ${c.campaignId}) as status`;
      const want = new Set(keys.filter((k) => k.startsWith(`campaign:${c.campaignId}:`)));
      const unique = want.size;
      const dup = keys.length - unique;
      if (t!.status !== 'completed' || t!.recipients !== c.recipients || t!.sent !== c.recipients || unique !== c.recipients || dup) {
        problems.push(`campaign: status ${t!.status}, ${t!.recipients} recipients, ${t!.sent} sent, ${unique} delivered, ${dup} twice`);
        lost += Math.max(0, c.recipients - unique);
        duplicated += dup;
      }
      facts['campaign recipients / sent / delivered'] = `${t!.recipients} / ${t!.sent} / ${unique}`;
    }

    if (expected.imports) {
      const i = expected.imports;
      const [f] = await sql<{ fans: number; handles: number }[]>`
        select count(*)::int as fans, count(distinct handle)::int as handles from fans where creator_id = ${i.creatorId} and deleted_at is null`;
      const imports = await sql<{ id: string; status: string; processed: number }[]>`
        -- an upload cut off by a kill (its row still 'uploading') was refused to the client, who sent it again
        select id, status, processed_rows as processed from fan_imports where creator_id = ${i.creatorId} and status <> 'uploading'`;
      const done = imports.filter((x) => x.status === 'completed' && x.processed === i.rows);
      if (f!.fans !== i.rows || f!.handles !== i.rows || done.length < 1 || imports.some((x) => x.status !== 'completed')) {
        problems.push(
          `import: ${f!.fans} fans (${f!.handles} handles) for ${i.rows} rows; imports ${imports.map((x) => `${x.status}:${x.processed}`).join(', ')}`,
        );
        lost += Math.max(0, i.rows - f!.handles);
        duplicated += Math.max(0, f!.fans - f!.handles);
      }
      if (imports.length !== i.importIds.length)
        problems.push(`import: ${imports.length} imports for ${i.importIds.length} accepted uploads`);
      facts['import rows applied'] = `${f!.handles} / ${i.rows} (${imports.length} import${imports.length === 1 ? '' : 's'})`;
    }

    const inbound = await sql<{ id: string; n: number }[]>`
      select platform_message_id as id, count(*)::int as n from messages
      where creator_id = ${expected.inbound.creatorId} and direction = 'in' and platform_message_id like 'chaos-in-%'
      group by platform_message_id`;
    const applied = new Map(inbound.map((r) => [r.id, r.n]));
    const inMissing = expected.inbound.eventIds.filter((e) => !applied.has(e)).length;
    const inDup = inbound.reduce((n, r) => n + r.n - 1, 0);
    if (inMissing || inDup) problems.push(`inbound events: ${inMissing} missing, ${inDup} applied twice`);
    lost += inMissing;
    duplicated += inDup;
    facts['inbound events applied once'] = `${expected.inbound.eventIds.length - inMissing} / ${expected.inbound.eventIds.length}`;

    // Workflows: only the long-lived kinds may still run, and none with an activity that keeps failing.
    const client = new Client({ connection });
    let open = 0;
    for await (const wf of client.workflow.list({ query: 'ExecutionStatus="Running"' })) {
      open += 1;
      const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
      const failing = (d.raw.pendingActivities ?? []).filter((a) => (a.attempt ?? 0) >= FAILING_ATTEMPTS && a.lastFailure);
      if (!LONG_LIVED.test(wf.workflowId) || failing.length) {
        stuck += 1;
        problems.push(
          `workflow ${wf.workflowId} (${wf.type}) still open${failing.length ? `, ${failing.map((a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message}`).join('; ')}` : ''}`,
        );
      }
    }
    facts['open workflows (long-lived)'] = open - stuck;
  } finally {
    await connection.close().catch(() => {});
    await close().catch(() => {});
  }
  return { lost, duplicated, stuck, problems, facts };
}
