// SPEC §7, first part: commission tiers and calculator, and the earnings ledger that signed
// platform events post to (once per event id), with its append-only and balance rules enforced by
// Postgres itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { connectedCreator } from '../support/platform-events.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());
const { call, ok } = apiCalls(() => h);
const creator = () => connectedCreator(h);

describe('commissions', () => {
  it('lists the default tiers and calculates marginally, rounded once', async () => {
    const { auth } = await creator();
    expect(await ok(auth, 'GET', '/commissions/rates')).toEqual({
      currency: 'usd',
      tiers: [
        { upToCents: 500_000, rate: 0.3 },
        { upToCents: 2_000_000, rate: 0.25 },
        { upToCents: null, rate: 0.2 },
      ],
    });
    const c = await ok(auth, 'POST', '/commissions/calculate', { grossCents: 2_500_000 });
    expect(c).toMatchObject({ grossCents: 2_500_000, commissionCents: 625_000, netCents: 1_875_000, effectiveRate: 0.25 });
    expect(c.breakdown).toEqual([
      { fromCents: 0, upToCents: 500_000, rate: 0.3, amountCents: 500_000, commissionCents: 150_000 },
      { fromCents: 500_000, upToCents: 2_000_000, rate: 0.25, amountCents: 1_500_000, commissionCents: 375_000 },
      { fromCents: 2_000_000, upToCents: null, rate: 0.2, amountCents: 500_000, commissionCents: 100_000 },
    ]);
    for (const body of [{ grossCents: 1.5 }, { grossCents: '100' }, { grossCents: 1e15 }, {}, { grossCents: 1, extra: true }]) {
      const res = await call(auth, 'POST', '/commissions/calculate', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
  });
});

describe('commission overrides', () => {
  it('an admin sets a creator’s own tiers, which their rates, calculations and statements use; a creator cannot', async () => {
    const c = await creator();
    const other = await creator();
    const admin = await register(h);
    await h.sql`update users set role = 'admin' where id = ${admin.userId}`;
    const adminAuth = bearer((await login(h, admin.email)).accessToken);
    const tiers = [
      { upToCents: 100_000, rate: 0.1 },
      { upToCents: null, rate: 0.05 },
    ];
    expect((await call(c.auth, 'PUT', `/admin/creators/${c.userId}/commission`, { tiers })).statusCode).toBe(403);
    // A token that still says admin after a demotion is refused: the role is read from Postgres.
    await h.sql`update users set role = 'creator' where id = ${admin.userId}`;
    expect((await call(adminAuth, 'PUT', `/admin/creators/${c.userId}/commission`, { tiers })).statusCode).toBe(403);
    await h.sql`update users set role = 'admin' where id = ${admin.userId}`;

    expect(await ok(adminAuth, 'PUT', `/admin/creators/${c.userId}/commission`, { tiers })).toEqual({ currency: 'usd', tiers });
    expect((await ok(c.auth, 'GET', '/commissions/rates')).tiers).toEqual(tiers);
    expect(await ok(c.auth, 'POST', '/commissions/calculate', { grossCents: 200_000 })).toMatchObject({
      commissionCents: 15_000,
      netCents: 185_000,
    });
    expect((await ok(other.auth, 'GET', '/commissions/rates')).tiers[0]).toEqual({ upToCents: 500_000, rate: 0.3 });
    for (const bad of [
      [{ upToCents: 100, rate: 0.1 }],
      [
        { upToCents: 100, rate: 0.1 },
        { upToCents: 50, rate: 0.1 },
        { upToCents: null, rate: 0.1 },
      ],
      [{ upToCents: null, rate: 1.5 }],
      [],
    ])
      expect((await call(adminAuth, 'PUT', `/admin/creators/${c.userId}/commission`, { tiers: bad })).statusCode, JSON.stringify(bad)).toBe(
        400,
      );
    expect((await call(adminAuth, 'PUT', `/admin/creators/${crypto.randomUUID()}/commission`, { tiers })).statusCode).toBe(404);

    expect((await call(adminAuth, 'DELETE', `/admin/creators/${c.userId}/commission`)).statusCode).toBe(204);
    expect((await ok(c.auth, 'GET', '/commissions/rates')).tiers[0]).toEqual({ upToCents: 500_000, rate: 0.3 });
  });
});

describe('earnings ledger', () => {
  const at = '2026-10-15T12:00:00Z';

  it('posts every money event once, balanced per currency, and derives the month’s earnings from it', async () => {
    const c = await creator();
    await c.event('purchase.created', { fanHandle: 'whale', amountCents: 400_000, purchasedAt: at }, 'evt_ppv');
    // The platform retries the delivery: acknowledged as a duplicate, posted nothing.
    expect(await c.event('purchase.created', { fanHandle: 'whale', amountCents: 400_000, purchasedAt: at }, 'evt_ppv')).toMatchObject({
      duplicate: true,
    });
    await c.event('tip.created', { fanHandle: 'whale', amountCents: 150_000, tippedAt: at });
    await c.event('subscription.created', { fanHandle: 'fan2', amountCents: 1_000, subscribedAt: at });
    await c.event('refund.created', { fanHandle: 'whale', amountCents: 50_000, refundedAt: at });
    await c.event('chargeback.created', { fanHandle: 'fan2', amountCents: 1_000, chargedBackAt: at });
    // Another currency and another month stay apart.
    await c.event('purchase.created', { fanHandle: 'euro', amountCents: 9_900, currency: 'eur', purchasedAt: at });
    await c.event('purchase.created', { fanHandle: 'whale', amountCents: 700, purchasedAt: '2026-11-02T00:00:00Z' });

    const earnings = await ok(c.auth, 'GET', '/earnings?month=2026-10');
    // Gross 551,000; refunds and chargebacks 51,000; commission on 500,000 at 30 % = 150,000.
    expect(earnings).toEqual({
      month: '2026-10',
      currency: 'usd',
      grossCents: 551_000,
      refundsCents: 51_000,
      commissionCents: 150_000,
      netCents: 350_000,
      carriedCents: 0,
      paidCents: 0,
      pendingCents: 350_000,
      byType: { ppv: 400_000, tip: 150_000, subscription: 1_000 },
    });
    expect(await ok(c.auth, 'GET', '/earnings?month=2026-10&currency=eur')).toMatchObject({ grossCents: 9_900, commissionCents: 2_970 });
    expect(await ok(c.auth, 'GET', '/earnings?month=2026-11')).toMatchObject({ grossCents: 700, byType: { ppv: 700 } });

    const [sums] = await h.sql`
      select count(*)::int as journals, count(distinct currency)::int as currencies,
        (select count(*) from (select currency, sum(amount_cents) s from ledger_entries where creator_id = ${c.userId} group by currency) t where s <> 0)::int as unbalanced
      from ledger_journals where creator_id = ${c.userId}`;
    expect(sums).toEqual({ journals: 7, currencies: 2, unbalanced: 0 });
    // The fan's value counts what they kept paying.
    const [whale] = await h.sql`select value_cents from fans where creator_id = ${c.userId} and handle = 'whale'`;
    expect(Number(whale!.value_cents)).toBe(400_000 + 150_000 - 50_000 + 700);

    // Cursor pages, newest first, and another creator sees none of it.
    const first = await ok(c.auth, 'GET', '/ledger?limit=5');
    expect(first.items).toHaveLength(5);
    expect(first.items[0]).toMatchObject({ account: 'gross:ppv', amountCents: -700, kind: 'sale', revenueType: 'ppv', currency: 'usd' });
    const rest = await ok(c.auth, 'GET', `/ledger?limit=50&cursor=${first.nextCursor}`);
    expect(rest.items).toHaveLength(9);
    expect(rest.nextCursor).toBeNull();
    expect(new Set([...first.items, ...rest.items].map((e: { id: string }) => e.id)).size).toBe(14);
    const other = await creator();
    expect((await ok(other.auth, 'GET', '/ledger')).items).toEqual([]);
    expect(await ok(other.auth, 'GET', '/earnings?month=2026-10')).toMatchObject({ grossCents: 0, netCents: 0 });
  });

  it('refuses to change or delete a posted entry, and an unbalanced journal, in Postgres itself', async () => {
    const c = await creator();
    await c.event('purchase.created', { fanHandle: 'a', amountCents: 100, purchasedAt: at });
    await expect(h.sql`update ledger_entries set amount_cents = 0 where creator_id = ${c.userId}`).rejects.toThrow(/append-only/);
    await expect(h.sql`delete from ledger_journals where creator_id = ${c.userId}`).rejects.toThrow(/append-only/);
    await expect(
      h.sql.begin(async (tx) => {
        const [j] = await tx`insert into ledger_journals (creator_id, source, kind, currency, occurred_at)
          values (${c.userId}, 'manual:1', 'sale', 'usd', now()) returning id`;
        await tx`insert into ledger_entries (journal_id, creator_id, account, currency, amount_cents) values (${j!.id}, ${c.userId}, 'receivable', 'usd', 5)`;
      }),
    ).rejects.toThrow(/does not balance/);
    await expect(
      h.sql.begin(async (tx) => {
        const [j] = await tx`insert into ledger_journals (creator_id, source, kind, currency, occurred_at)
          values (${c.userId}, 'manual:2', 'sale', 'usd', now()) returning id`;
        await tx`insert into ledger_entries (journal_id, creator_id, account, currency, amount_cents)
          values (${j!.id}, ${c.userId}, 'receivable', 'usd', 5), (${j!.id}, ${c.userId}, 'gross:ppv', 'eur', -5)`;
      }),
    ).rejects.toThrow(/mixes currencies/);
    expect((await ok(c.auth, 'GET', '/ledger')).items).toHaveLength(2);
  });

  it('refuses bad money events and bad queries with 400s', async () => {
    const c = await creator();
    for (const [type, data] of [
      ['refund.created', { fanHandle: 'a', amountCents: -1, refundedAt: at }],
      ['tip.created', { fanHandle: 'a', amountCents: 1, currency: 'EURO', tippedAt: at }],
      ['chargeback.created', { fanHandle: 'a', amountCents: 1 }],
    ] as const)
      await expect(c.event(type, data)).rejects.toThrow(/400/);
    for (const q of ['month=2026-13', 'month=26-10', 'currency=US', 'month=1999-12', 'month=2026-10&x=1'])
      expect((await call(c.auth, 'GET', `/earnings?${q}`)).statusCode, q).toBe(400);
    for (const q of ['cursor=abc', 'cursor=0', 'limit=0', 'limit=1000', 'cursor=99999999999999999999'])
      expect((await call(c.auth, 'GET', `/ledger?${q}`)).statusCode, q).toBe(400);
  });
});
