// Campaign data shared by the API and the campaign activities: a campaign's id from the request that
// created it, who a segment selects, the pace of a creator's sends, and a run's totals (SPEC §4),
// read from the recipients snapshot and their messages.
import { and, arrayOverlaps, eq, gte, inArray, isNull, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { fans, platformConnections, type CampaignSegment } from '../db/schema.js';
import { requestScopedId } from '../lib/crypto.js';

/** The name space of campaign ids derived from Idempotency-Keys (a fixed random UUID). */
const CAMPAIGN_REQUEST_NAMESPACE = '8f0c6f0e-4d6a-4b7e-9a51-c2d3e4f5a6b7';

/** The campaign id of a POST /messages/bulk with an Idempotency-Key: a retried request names the campaign it created. */
export const campaignIdForRequest = (creatorId: string, idempotencyKey: string): string =>
  requestScopedId(CAMPAIGN_REQUEST_NAMESPACE, creatorId, idempotencyKey);

/** The milliseconds per message at the creator's slowest connected rate limit (or the default one). */
export async function pacedMessageMs(db: Db, creatorId: string, defaultPerMinute: number): Promise<number> {
  const [pace] = await db
    .select({
      perMessageMs: sql<number | null>`max(${platformConnections.rateLimitSeconds} * 1000.0 / ${platformConnections.rateLimitMessages})`,
    })
    .from(platformConnections)
    .where(eq(platformConnections.creatorId, creatorId));
  // numeric arrives as a string.
  return pace?.perMessageMs == null ? 60_000 / defaultPerMinute : Number(pace.perMessageMs);
}

/** Live fans of the creator that a segment selects (opted-out fans included: they are skipped visibly). */
export function segmentWhere(creatorId: string, segment: CampaignSegment): SQL {
  const where: (SQL | undefined)[] = [eq(fans.creatorId, creatorId), isNull(fans.deletedAt)];
  if (segment.tags?.length) where.push(arrayOverlaps(fans.tags, segment.tags));
  if (segment.minValueCents !== undefined) where.push(gte(fans.valueCents, segment.minValueCents));
  if (segment.maxValueCents !== undefined) where.push(lte(fans.valueCents, segment.maxValueCents));
  if (segment.lastSeenAfter) where.push(sql`${fans.lastSeenAt} >= ${segment.lastSeenAfter}::timestamptz`);
  if (segment.lastSeenBefore) where.push(sql`${fans.lastSeenAt} < ${segment.lastSeenBefore}::timestamptz`);
  if (segment.subscriptionTiers?.length) where.push(inArray(fans.subscriptionTier, segment.subscriptionTiers));
  return and(...where)!;
}

export interface CampaignTotals {
  recipients: number;
  /** Not yet settled: waiting to be handed to the send queue, queued, being sent, retrying. */
  queued: number;
  sent: number;
  /** Dead-lettered: retryable with retry-failed. */
  failed: number;
  /** Left out at snapshot (opted out, deleted, not found) or cancelled before sending. */
  skipped: number;
  purchases: number;
  revenueCents: number;
}

/** Totals of one run of each given campaign (keyed by campaign id). */
export async function campaignTotals(db: Db, runs: { campaignId: string; run: number }[]): Promise<Map<string, CampaignTotals>> {
  const result = new Map<string, CampaignTotals>();
  if (runs.length === 0) return result;
  const pairs = sql.join(
    runs.map((r) => sql`(${r.campaignId}::uuid, ${r.run}::int)`),
    sql`, `,
  );
  const rows = await db.execute<{
    campaign_id: string;
    recipients: number;
    queued: number;
    sent: number;
    failed: number;
    skipped: number;
    purchases: number;
    revenue: string;
  }>(sql`
    with wanted(campaign_id, run) as (values ${pairs}),
    recipients as (
      select w.campaign_id,
        count(r.fan_id)::int as recipients,
        count(*) filter (where r.skip_reason is null
          and (r.message_id is null or m.status in ('queued', 'sending', 'failed', 'awaiting_operator')))::int as queued,
        count(*) filter (where m.status = 'sent')::int as sent,
        count(*) filter (where m.status = 'dead')::int as failed,
        count(*) filter (where r.skip_reason is not null or m.status = 'cancelled')::int as skipped
      from wanted w
      left join campaign_recipients r on r.campaign_id = w.campaign_id and r.run = w.run
      left join messages m on m.id = r.message_id
      group by w.campaign_id
    ),
    revenue as (
      select m.campaign_id, count(*)::int as purchases, coalesce(sum(e.amount_cents), 0)::text as revenue
      from revenue_events e join messages m on m.id = e.message_id
      where e.kind = 'purchase' and m.campaign_id in (select campaign_id from wanted)
      group by m.campaign_id
    )
    select r.*, coalesce(v.purchases, 0) as purchases, coalesce(v.revenue, '0') as revenue
    from recipients r left join revenue v on v.campaign_id = r.campaign_id`);
  for (const r of rows) {
    result.set(r.campaign_id, {
      recipients: r.recipients,
      queued: r.queued,
      sent: r.sent,
      failed: r.failed,
      skipped: r.skipped,
      purchases: r.purchases,
      revenueCents: Number(r.revenue),
    });
  }
  return result;
}
