// Analytics over real data: overview totals, top fans, revenue per local day (zero-filled, and
// bucketed correctly across the creator's last daylight-saving change), the streamed CSV export.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fans, revenueEvents } from '../../db/schema.js';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());

const TZ = 'America/New_York';
const HOUR = 3_600_000;
const localDate = (t: number) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(t);
const offset = (t: number) => new Intl.DateTimeFormat('en-US', { timeZone: TZ, timeZoneName: 'longOffset' }).format(t).split(' ').pop();

/** The most recent instant (to the hour) at which the creator's UTC offset changed. */
function lastDstChange(now: number): number {
  const start = Math.floor(now / HOUR) * HOUR;
  for (let t = start; t > now - 366 * 24 * HOUR; t -= HOUR) if (offset(t) !== offset(t - HOUR)) return t;
  throw new Error('no DST change within a year');
}

async function creator(timezone = TZ) {
  const { userId, email } = await register(h, { timezone });
  return { userId, auth: bearer((await login(h, email)).accessToken) };
}
const get = async (auth: Record<string, string>, url: string) => {
  const res = await h.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: auth });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  return res;
};

describe('analytics', () => {
  it('buckets revenue by the creator’s local day across a DST change, zero-filled', async () => {
    const c = await creator();
    const [fan] = await h.db.insert(fans).values({ creatorId: c.userId, handle: 'payer' }).returning();
    const now = Date.now();
    const change = lastDstChange(now);
    // Around the change, and 2.5 h before and 22.5 h after it: one of those is local 23:30 or 00:30
    // depending on the offset in force, so a bucket by the wrong offset puts it on the wrong day.
    const instants = [
      change - 30 * 60_000,
      change + 30 * 60_000,
      change - 2.5 * HOUR,
      change + 22.5 * HOUR,
      change - 21 * HOUR,
      now - 60_000,
    ];
    await h.db.insert(revenueEvents).values(
      instants.map((t, i) => ({
        creatorId: c.userId,
        fanId: fan!.id,
        kind: i % 2 ? ('purchase' as const) : ('subscription' as const),
        amountCents: 100 * (i + 1),
        occurredAt: new Date(t),
      })),
    );
    const expected = new Map<string, number>();
    instants.forEach((t, i) => {
      expected.set(localDate(t), (expected.get(localDate(t)) ?? 0) + 100 * (i + 1));
    });

    const body = (await get(c.auth, '/analytics/revenue?days=366')).json() as {
      timezone: string;
      totalCents: number;
      days: { date: string; revenueCents: number }[];
    };
    expect(body.timezone).toBe(TZ);
    expect(body.days).toHaveLength(366);
    expect(body.days.at(-1)!.date).toBe(localDate(now));
    for (let i = 1; i < body.days.length; i++) expect(Date.parse(body.days[i]!.date) - Date.parse(body.days[i - 1]!.date)).toBe(24 * HOUR);
    const got = new Map(body.days.filter((d) => d.revenueCents > 0).map((d) => [d.date, d.revenueCents]));
    expect(got).toEqual(expected);
    expect(body.totalCents).toBe(2100);
  });

  it('sums the overview over a range and ranks top fans', async () => {
    const c = await creator('UTC');
    const rows = await h.db
      .insert(fans)
      .values([
        { creatorId: c.userId, handle: 'whale', valueCents: 90_000, lastSeenAt: new Date(Date.now() - HOUR) },
        { creatorId: c.userId, handle: 'regular', valueCents: 5_000, lastSeenAt: new Date(Date.now() - 40 * 24 * HOUR) },
        { creatorId: c.userId, handle: 'gone', valueCents: 1_000_000, deletedAt: new Date() },
      ])
      .returning();
    await h.db.insert(revenueEvents).values([
      { creatorId: c.userId, fanId: rows[0]!.id, kind: 'purchase', amountCents: 2_500, occurredAt: new Date(Date.now() - 2 * HOUR) },
      {
        creatorId: c.userId,
        fanId: rows[1]!.id,
        kind: 'subscription',
        amountCents: 999,
        occurredAt: new Date(Date.now() - 45 * 24 * HOUR),
      },
    ]);
    const overview = (await get(c.auth, '/analytics/overview')).json();
    expect(overview).toMatchObject({
      totalFans: 2,
      activeFans: 1,
      newFans: 2,
      lifetimeValueCents: 95_000,
      revenueCents: 2_500,
      purchases: 1,
      subscriptions: 0,
    });
    const wider = (await get(c.auth, `/analytics/overview?from=${new Date(Date.now() - 60 * 24 * HOUR).toISOString()}`)).json();
    expect(wider).toMatchObject({ activeFans: 2, revenueCents: 3_499, subscriptions: 1 });
    expect(
      (
        await h.app.inject({
          method: 'GET',
          url: '/api/v1/analytics/overview?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
          headers: c.auth,
        })
      ).statusCode,
    ).toBe(400);

    const top = (await get(c.auth, '/analytics/top-fans?limit=5')).json();
    expect(top.items.map((f: { handle: string }) => f.handle)).toEqual(['whale', 'regular']);

    // Another creator sees none of it.
    const other = await creator('UTC');
    expect((await get(other.auth, '/analytics/overview')).json()).toMatchObject({ totalFans: 0, lifetimeValueCents: 0, revenueCents: 0 });
    expect((await get(other.auth, '/analytics/top-fans')).json().items).toEqual([]);
  });

  it('streams the fans as CSV, quoting what needs it and defusing formulas', async () => {
    const c = await creator('UTC');
    await h.db.insert(fans).values([
      { creatorId: c.userId, handle: 'plain', name: 'Jo, "the fan"', valueCents: 123_456, tags: ['vip', 'new'] },
      { creatorId: c.userId, handle: 'sneaky', name: '=HYPERLINK("http://x")', email: 'a@b.io' },
      { creatorId: c.userId, handle: 'deleted', deletedAt: new Date() },
    ]);
    const res = await get(c.auth, '/analytics/export.csv');
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = res.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('Username,Display Name,Email,Subscription Tier,Total Spent,Last Seen,Tags,Notes,Created');
    expect(lines).toHaveLength(3);
    // Both rows were created in one statement (same created_at): their order is the ids'.
    expect(lines.find((l) => l.startsWith('plain,'))).toMatch(/^plain,"Jo, ""the fan""",,,1234\.56,,vip;new,,\d{4}-/);
    expect(lines.find((l) => l.startsWith('sneaky,'))).toMatch(/^sneaky,"'=HYPERLINK\(""http:\/\/x""\)",a@b\.io,/);
  });
});
