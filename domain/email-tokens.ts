// Email tokens (verification, password reset): 32 random bytes, only the SHA-256 stored,
// single use, short-lived; issuing a new one kills the older ones of the same purpose.
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { newOpaqueToken, sha256Hex } from '../lib/crypto.js';
import type { Db } from '../db/client.js';
import { emailTokens } from '../db/schema.js';

export type EmailTokenPurpose = (typeof emailTokens.$inferSelect)['purpose'];
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** The token's row, if it is unused, not superseded and not expired. */
const liveToken = (token: string, purpose: EmailTokenPurpose) =>
  and(
    eq(emailTokens.tokenHash, sha256Hex(token)),
    eq(emailTokens.purpose, purpose),
    isNull(emailTokens.usedAt),
    isNull(emailTokens.invalidatedAt),
    gt(emailTokens.expiresAt, sql`now()`),
  );

/** Returns the plaintext token (to put in the email; never stored) and its expiry. */
export async function issueEmailToken(
  db: Db | Tx,
  userId: string,
  purpose: EmailTokenPurpose,
  ttlMinutes: number,
): Promise<{ token: string; expiresAt: Date }> {
  const token = newOpaqueToken();
  const expiresAt = new Date(Date.now() + ttlMinutes * 60_000);
  await db
    .update(emailTokens)
    .set({ invalidatedAt: sql`now()` })
    .where(
      and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt), isNull(emailTokens.invalidatedAt)),
    );
  await db.insert(emailTokens).values({ userId, purpose, tokenHash: sha256Hex(token), expiresAt });
  return { token, expiresAt };
}

/**
 * Marks a live token used and returns its user, or null when the token is unknown, expired,
 * used or superseded. The conditional UPDATE makes it single-use under concurrency.
 */
export async function consumeEmailToken(db: Db | Tx, token: string, purpose: EmailTokenPurpose): Promise<string | null> {
  const [row] = await db
    .update(emailTokens)
    .set({ usedAt: sql`now()` })
    .where(liveToken(token, purpose))
    .returning({ userId: emailTokens.userId });
  return row?.userId ?? null;
}

/** Whether the token is live (unused, current, unexpired), without consuming it. */
export async function isLiveEmailToken(db: Db | Tx, token: string, purpose: EmailTokenPurpose): Promise<boolean> {
  const [row] = await db.select({ id: emailTokens.id }).from(emailTokens).where(liveToken(token, purpose));
  return row !== undefined;
}

/** Seconds since the newest token of this purpose was issued to the user (null if none). */
export async function secondsSinceLastEmailToken(db: Db | Tx, userId: string, purpose: EmailTokenPurpose): Promise<number | null> {
  const [row] = await db
    .select({ age: sql<number>`extract(epoch from now() - max(${emailTokens.createdAt}))::float8` })
    .from(emailTokens)
    .where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose)));
  return row?.age ?? null;
}
