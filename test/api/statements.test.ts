// SPEC §7 statements: a closed month is immutable, holds every journal of its creator up to the
// month's end that no earlier statement holds, carries a negative amount forward, and rebuilds
// from the ledger to the same figures and hash. Served as JSON, CSV and PDF.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TIERS } from '../../domain/commissions.js';
import { closeStatement, rebuildStatement, statementOf } from '../../domain/statements.js';
import { apiCalls, startHarness, type Harness } from '../support/harness.js';
import { connectedCreator } from '../support/platform-events.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());
const { call, ok } = apiCalls(() => h);

async function creator() {
  const c = await connectedCreator(h);
  const close = (month: string) => closeStatement(h.db, { creatorId: c.userId, month, currency: 'usd', tiers: DEFAULT_TIERS });
  return { ...c, close };
}

describe('statements', () => {
  it('close a month once, immutable, and rebuild from the ledger to the same hash', async () => {
    const c = await creator();
    await c.event('purchase.created', { fanHandle: 'a', amountCents: 600_000, purchasedAt: '2026-09-10T10:00:00Z' });
    await c.event('tip.created', { fanHandle: 'b', amountCents: 10_001, tippedAt: '2026-09-20T10:00:00Z' });
    await c.event('purchase.created', { fanHandle: 'a', amountCents: 5_000, purchasedAt: '2026-10-01T00:00:00Z' });
    expect((await call(c.auth, 'GET', '/statements/2026-09')).statusCode).toBe(404);

    const september = await c.close('2026-09');
    // 30 % of 500,000 + 25 % of 110,001 = 150,000 + 27,500.25 → 177,500 (half to even, once).
    expect(september).toMatchObject({
      grossCents: 610_001,
      refundsCents: 0,
      commissionCents: 177_500,
      netCents: 432_501,
      payableCents: 432_501,
    });
    expect(await c.close('2026-09')).toEqual(september);
    expect(await rebuildStatement(h.db, september)).toEqual({
      figures: {
        grossCents: 610_001,
        refundsCents: 0,
        reversalsCents: 0,
        commissionCents: 177_500,
        netCents: 432_501,
        carriedInCents: 0,
        payableCents: 432_501,
        carriedOutCents: 0,
      },
      contentHash: september.contentHash,
    });
    await expect(h.sql`update statements set payable_cents = 1 where id = ${september.id}`).rejects.toThrow(/append-only/);

    const json = await ok(c.auth, 'GET', '/statements/2026-09');
    expect(json).toMatchObject({
      month: '2026-09',
      grossCents: 610_001,
      byType: { ppv: 600_000, tip: 10_001, subscription: 0 },
      contentHash: september.contentHash,
    });
    expect(json.lines.map((l: { amountCents: number }) => l.amountCents)).toEqual([600_000, 10_001]);
    expect(await ok(c.auth, 'GET', '/earnings?month=2026-09')).toMatchObject({
      grossCents: 610_001,
      pendingCents: 432_501,
      carriedCents: 0,
    });

    const csv = await call(c.auth, 'GET', '/statements/2026-09.csv');
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\n')[0]).toBe('occurredAt,kind,type,source,amountCents,currency');
    expect(csv.body).toContain(',total,payable,,432501,usd');
    const pdf = await call(c.auth, 'GET', '/statements/2026-09.pdf');
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');

    const other = await creator();
    expect((await call(other.auth, 'GET', '/statements/2026-09')).statusCode).toBe(404);
    for (const file of ['2026-13', '2026-09.xlsx', '2026-9', '..%2F2026-09'])
      expect((await call(c.auth, 'GET', `/statements/${file}`)).statusCode, file).toBe(400);
  });

  it('puts a fact posted after its month closed into the next statement, and carries a negative month forward', async () => {
    const c = await creator();
    await c.event('purchase.created', { fanHandle: 'a', amountCents: 10_000, purchasedAt: '2026-08-05T10:00:00Z' });
    const august = await c.close('2026-08');
    // A refund of August's sale, posted after August closed, plus October's chargeback: October owes nothing.
    await c.event('refund.created', { fanHandle: 'a', amountCents: 10_000, refundedAt: '2026-08-20T10:00:00Z' });
    await c.event('purchase.created', { fanHandle: 'a', amountCents: 1_000, purchasedAt: '2026-09-03T10:00:00Z' });
    // Open, September shows what its statement will take: August's late refund too.
    expect(await ok(c.auth, 'GET', '/earnings?month=2026-09')).toMatchObject({
      grossCents: 1_000,
      refundsCents: 10_000,
      netCents: -9_000,
      pendingCents: 0,
    });
    const september = await c.close('2026-09');
    expect(september).toMatchObject({
      grossCents: 1_000,
      refundsCents: 10_000,
      commissionCents: 0,
      netCents: -9_000,
      payableCents: 0,
      carriedOutCents: -9_000,
    });
    expect((await rebuildStatement(h.db, august)).contentHash).toBe(august.contentHash);

    await c.event('purchase.created', { fanHandle: 'a', amountCents: 20_000, purchasedAt: '2026-10-03T10:00:00Z' });
    const october = await c.close('2026-10');
    // The 9,000 carried in lowers the commission base, as a refund in October would have:
    // 30 % of 11,000. (Carried after commission, the refunded sale's commission would be taken twice.)
    expect(october).toMatchObject({
      grossCents: 20_000,
      carriedInCents: -9_000,
      commissionCents: 3_300,
      netCents: 7_700,
      payableCents: 7_700,
      carriedOutCents: 0,
    });
    // Over the three months: 30 % of the 21,000 kept (31,000 sold, 10,000 refunded), and the rest owed.
    const commission = august.commissionCents + september.commissionCents + october.commissionCents;
    expect(commission).toBe(6_300);
    expect(august.payableCents + september.payableCents + october.payableCents).toBe(21_000 - commission);
    expect(await ok(c.auth, 'GET', '/earnings?month=2026-10')).toMatchObject({
      carriedCents: -9_000,
      netCents: 7_700,
      pendingCents: 7_700,
    });
    const [{ n }] =
      (await h.sql`select count(*)::int as n from statement_journals sj join statements s on s.id = sj.statement_id where s.creator_id = ${c.userId}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(4);
  });

  it('closes only months that are over, in order', async () => {
    const c = await creator();
    const thisMonth = new Date().toISOString().slice(0, 7);
    await expect(c.close(thisMonth)).rejects.toMatchObject({ code: 'month_open' });
    await c.close('2026-06');
    await expect(c.close('2026-05')).rejects.toMatchObject({ code: 'month_skipped' });
    expect(await statementOf(h.db, c.userId, '2026-05', 'usd')).toBeUndefined();
  });
});
