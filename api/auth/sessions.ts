// Refresh-token sessions. A login starts a family; each refresh rotates the token inside it.
// Presenting a token that was already rotated or revoked means it leaked: the family dies.
import { and, eq, isNull, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/client.js';
import { refreshTokens } from '../../db/schema.js';
import { newOpaqueToken, sha256Hex } from '../../lib/crypto.js';

type Executor = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

export async function issueRefreshToken(db: Executor, userId: string, ttlDays: number, familyId: string = randomUUID()): Promise<string> {
  const token = newOpaqueToken();
  await db.insert(refreshTokens).values({
    userId,
    familyId,
    tokenHash: sha256Hex(token),
    expiresAt: new Date(Date.now() + ttlDays * 86_400_000),
  });
  return token;
}

export type RotationResult = { ok: true; userId: string; refreshToken: string } | { ok: false; reason: 'unknown' | 'expired' | 'reused' };

export async function rotateRefreshToken(db: Db, token: string, ttlDays: number): Promise<RotationResult> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, sha256Hex(token)))
      .for('update');
    if (!row) return { ok: false, reason: 'unknown' } as const;
    if (row.usedAt || row.revokedAt) {
      await revokeFamily(tx, row.familyId);
      return { ok: false, reason: 'reused' } as const;
    }
    if (row.expiresAt.getTime() <= Date.now()) return { ok: false, reason: 'expired' } as const;
    await tx.update(refreshTokens).set({ usedAt: sql`now()` }).where(eq(refreshTokens.id, row.id));
    const refreshToken = await issueRefreshToken(tx, row.userId, ttlDays, row.familyId);
    return { ok: true, userId: row.userId, refreshToken } as const;
  });
}

async function revokeFamily(db: Executor, familyId: string): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

/** Logout: ends the session the token belongs to, if it is the caller's. */
export async function revokeSessionOfToken(db: Db, userId: string, token: string): Promise<void> {
  const [row] = await db
    .select({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tokenHash, sha256Hex(token)), eq(refreshTokens.userId, userId)));
  if (row) await revokeFamily(db, row.familyId);
}

export async function revokeAllSessions(db: Executor, userId: string): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
}
