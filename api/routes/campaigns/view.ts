// A campaign as the routes read it: the caller's own row (404 otherwise), and its presentation
// with the latest run's totals.
import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { Db } from '../../../db/client.js';
import { campaigns, type CampaignAudience } from '../../../db/schema.js';
import { campaignTotals } from '../../../domain/campaigns.js';
import { caller } from '../../authenticate.js';
import { notFound } from '../../errors.js';

/** An explicit list shows as its size (it can hold 100,000 ids), a segment as given. */
const { audience: _audience, ...campaignColumns } = getTableColumns(campaigns);
export const campaignView = {
  ...campaignColumns,
  audience: sql<CampaignAudience | { recipientCount: number }>`case when ${campaigns.audience} ? 'recipientIds'
    then jsonb_build_object('recipientCount', jsonb_array_length(${campaigns.audience} -> 'recipientIds'))
    else ${campaigns.audience} end`,
};
export type CampaignRow = Omit<typeof campaigns.$inferSelect, 'audience'> & { audience: unknown };

const emptyTotals = { recipients: 0, queued: 0, sent: 0, failed: 0, skipped: 0, purchases: 0, revenueCents: 0 };

/** The caller's campaign, or a 404. */
export async function campaignOf(db: Db, request: FastifyRequest, id: string): Promise<CampaignRow> {
  const [row] = await db
    .select(campaignView)
    .from(campaigns)
    .where(and(eq(campaigns.id, id), eq(campaigns.creatorId, caller(request).userId)));
  if (!row) throw notFound('campaign');
  return row;
}

export async function present(db: Db, rows: CampaignRow[]) {
  const totals = await campaignTotals(
    db,
    rows.map((r) => ({ campaignId: r.id, run: Math.max(r.runs, 1) })),
  );
  return rows.map((c) => ({
    id: c.id,
    name: c.name,
    status: c.status,
    content: c.content,
    mediaUrls: c.mediaUrls,
    priceCents: c.priceCents,
    audience: c.audience,
    sendAt: c.sendAt?.toISOString() ?? null,
    run: c.runs,
    totals: totals.get(c.id) ?? emptyTotals,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  }));
}
