// Which commission tiers apply to a creator: an admin's override, else COMMISSION_TIERS.
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { commissionOverrides } from '../db/schema.js';
import type { Tier } from './commissions.js';

export async function tiersFor(db: Db, defaults: Tier[], creatorId: string): Promise<{ tiers: Tier[]; overridden: boolean }> {
  const row = await db.query.commissionOverrides.findFirst({ where: eq(commissionOverrides.creatorId, creatorId) });
  return row ? { tiers: row.tiers, overridden: true } : { tiers: defaults, overridden: false };
}

export async function overrideTiers(db: Db, creatorId: string, tiers: Tier[], setBy: string): Promise<void> {
  await db
    .insert(commissionOverrides)
    .values({ creatorId, tiers, setBy })
    .onConflictDoUpdate({ target: commissionOverrides.creatorId, set: { tiers, setBy, updatedAt: sql`now()` } });
}

export const clearTierOverride = (db: Db, creatorId: string) =>
  db.delete(commissionOverrides).where(eq(commissionOverrides.creatorId, creatorId));
