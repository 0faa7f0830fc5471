// Campaigns through the API with real workers, the real campaign and send-queue workflows and the
// sandbox platform: segments and opt-outs, explicit lists, pause and resume, cancel,
// retry-failed, PPV attribution, validation and tenant isolation.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { sandboxOf } from '../support/sandbox.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
let platform: ReturnType<typeof sandboxOf>;
beforeAll(async () => {
  h = await startHarness({ env: { SEND_RETRY_BASE_SECONDS: '0.2', SEND_MAX_ATTEMPTS: '2' } });
  platform = sandboxOf(h);
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);
async function creator(rate = { messages: 1000, perSeconds: 1 }) {
  const { userId, email } = await register(h);
  const auth = bearer((await login(h, email)).accessToken);
  await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: rate }, 201);
  return { userId, auth };
}
type Creator = Awaited<ReturnType<typeof creator>>;
const addFans = async (c: Creator, prefix: string, n: number, extra: (i: number) => object = () => ({})) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await ok(c.auth, 'POST', '/crm/fans', { handle: `${prefix}_${i}`, ...extra(i) }, 201)).id);
  return ids;
};
const bulk = (c: Creator, body: object) =>
  ok(c.auth, 'POST', '/messages/bulk', { campaignName: 'test', content: 'hello all', ...body }, 202);
const campaign = (c: Creator, id: string) => ok(c.auth, 'GET', `/campaigns/${id}`);
const statusIs = (c: Creator, id: string, status: string, timeoutMs = 30_000) =>
  waitFor(
    async () => {
      const got = await campaign(c, id);
      return got.status === status ? got : undefined;
    },
    `campaign ${id} ${status}`,
    timeoutMs,
  );

describe('bulk campaigns', () => {
  it('sends to a segment once per fan, skipping opted-out and deleted fans visibly', async () => {
    const c = await creator();
    const vip = await addFans(c, 'vip', 12, (i) => ({ tags: ['vip'], valueCents: i * 100, ...(i === 0 ? { optedOut: true } : {}) }));
    await addFans(c, 'plain', 5);
    await ok(c.auth, 'DELETE', `/crm/fans/${vip[1]}`, undefined, 204);

    const started = await bulk(c, { segment: { tags: ['vip'], minValueCents: 0 } });
    expect(started).toMatchObject({ status: 'queued', totalRecipients: 10, campaignId: expect.any(String) });
    const done = await statusIs(c, started.campaignId, 'completed');
    expect(done.totals).toEqual({ recipients: 11, queued: 0, sent: 10, failed: 0, skipped: 1, purchases: 0, revenueCents: 0 });
    const skipped = await ok(c.auth, 'GET', `/campaigns/${started.campaignId}/recipients?status=skipped`);
    expect(skipped.items).toEqual([
      expect.objectContaining({ fanId: vip[0], status: 'skipped', skipReason: 'fan opted out', messageId: null }),
    ]);

    const delivered = (await platform.deliveries(c.userId)).deliveries;
    expect(delivered).toHaveLength(10);
    expect(new Set(delivered.map((d) => d.fanHandle)).size).toBe(10);
    expect(delivered.every((d) => d.requests === 1 && d.idempotencyKey.startsWith(`campaign:${started.campaignId}:1:`))).toBe(true);
    expect((await ok(c.auth, 'GET', '/campaigns')).items.map((x: { id: string }) => x.id)).toEqual([started.campaignId]);
    // A completed campaign can be cancelled (its run, reopened, projects it): that stops any recurring runs.
    await ok(c.auth, 'POST', `/campaigns/${started.campaignId}/cancel`, undefined, 202);
    await statusIs(c, started.campaignId, 'cancelled');
  });

  it('sends to an explicit list; ids it does not own are skipped as not found', async () => {
    const c = await creator();
    const other = await creator();
    const mine = await addFans(c, 'listed', 3);
    const theirs = await addFans(other, 'foreign', 1);
    // Ids in capitals are the same fans (and a repeat in other case is one recipient).
    const started = await bulk(c, {
      recipientIds: [mine[0]!.toUpperCase(), mine[0]!, ...mine.slice(1), ...theirs],
      priceCents: 700,
      mediaUrls: ['https://cdn.example.com/set.jpg'],
    });
    expect(started.totalRecipients).toBe(3);
    const done = await statusIs(c, started.campaignId, 'completed');
    expect(done.totals).toMatchObject({ recipients: 4, sent: 3, skipped: 1 });
    expect(done.audience).toEqual({ recipientCount: 4 });
    expect((await ok(c.auth, 'GET', `/campaigns/${started.campaignId}/recipients?status=skipped`)).items[0]).toMatchObject({
      fanId: theirs[0],
      skipReason: 'fan not found',
      handle: null,
    });

    // PPV attribution: a purchase of the campaign's message is credited to the campaign.
    const [first] = (await platform.deliveries(c.userId)).deliveries;
    await platform.fanEvent(c.userId, 'purchase.created', { fanHandle: first!.fanHandle, amountCents: 700, messageId: first!.messageId });
    expect((await campaign(c, started.campaignId)).totals).toMatchObject({ purchases: 1, revenueCents: 700 });
  });

  it('pauses within a batch, resumes, and ends with every fan messaged exactly once', async () => {
    const c = await creator({ messages: 4, perSeconds: 1 });
    await addFans(c, 'paced', 30, () => ({ tags: ['paced'] }));
    const { campaignId } = await bulk(c, { segment: { tags: ['paced'] } });
    await waitFor(async () => (await platform.deliveries(c.userId)).deliveries.length >= 4, 'first deliveries');
    await ok(c.auth, 'POST', `/campaigns/${campaignId}/pause`, undefined, 202);
    const paused = await statusIs(c, campaignId, 'paused');
    const atPause = (await platform.deliveries(c.userId)).deliveries.length;
    await new Promise((r) => setTimeout(r, 2_500));
    const later = (await platform.deliveries(c.userId)).deliveries.length;
    // Only what the send queue had already claimed (one paced batch) may still go out.
    expect(later - atPause).toBeLessThanOrEqual(4);
    expect(paused.totals.queued).toBeGreaterThan(0);
    expect((await call(c.auth, 'POST', `/campaigns/${campaignId}/pause`)).statusCode).toBe(409);

    await ok(c.auth, 'POST', `/campaigns/${campaignId}/resume`, undefined, 202);
    const done = await statusIs(c, campaignId, 'completed', 60_000);
    expect(done.totals).toMatchObject({ recipients: 30, sent: 30, queued: 0 });
    const delivered = (await platform.deliveries(c.userId)).deliveries;
    expect(delivered).toHaveLength(30);
    expect(delivered.every((d) => d.requests === 1)).toBe(true);
  });

  it('cancel stops the run and skips who was left', async () => {
    const c = await creator({ messages: 2, perSeconds: 1 });
    await addFans(c, 'cancelled', 20, () => ({ tags: ['c'] }));
    const { campaignId } = await bulk(c, { segment: { tags: ['c'] } });
    await waitFor(async () => (await platform.deliveries(c.userId)).deliveries.length >= 2, 'first deliveries');
    await ok(c.auth, 'POST', `/campaigns/${campaignId}/cancel`, undefined, 202);
    const cancelled = await statusIs(c, campaignId, 'cancelled');
    await new Promise((r) => setTimeout(r, 2_000));
    const sent = (await platform.deliveries(c.userId)).deliveries.length;
    const totals = (await campaign(c, campaignId)).totals;
    expect(totals.sent).toBe(sent);
    expect(totals.sent + totals.skipped).toBe(20);
    expect(cancelled.totals.skipped).toBeGreaterThan(10);
    expect((await call(c.auth, 'POST', `/campaigns/${campaignId}/resume`)).statusCode).toBe(409);
  });

  it('retry-failed re-sends only the failures, each once', async () => {
    const c = await creator();
    await addFans(c, 'flaky', 6, () => ({ tags: ['f'] }));
    await ok(c.auth, 'POST', '/onlyfans/messages/send', { recipientId: (await addFans(c, 'warm', 1))[0], content: 'warm-up' }, 202);
    await waitFor(
      async () => (await platform.deliveries(c.userId).catch(() => ({ deliveries: [] }))).deliveries.length === 1,
      'account registered',
    );
    await platform.block(c.userId, 'flaky_1');
    await platform.block(c.userId, 'flaky_4');
    const { campaignId } = await bulk(c, { segment: { tags: ['f'] } });
    const done = await statusIs(c, campaignId, 'completed');
    expect(done.totals).toMatchObject({ sent: 4, failed: 2 });
    const failed = await ok(c.auth, 'GET', `/campaigns/${campaignId}/recipients?status=failed`);
    expect(failed.items.map((r: { handle: string }) => r.handle).sort()).toEqual(['flaky_1', 'flaky_4']);
    expect(failed.items[0].lastError).toMatch(/fan_blocked/);

    await platform.unblock(c.userId, 'flaky_1');
    await platform.unblock(c.userId, 'flaky_4');
    await ok(c.auth, 'POST', `/campaigns/${campaignId}/retry-failed`, undefined, 202);
    await waitFor(async () => (await campaign(c, campaignId)).totals.sent === 6, 'failures re-sent');
    const delivered = (await platform.deliveries(c.userId)).deliveries.filter((d) => d.idempotencyKey.startsWith('campaign:'));
    expect(delivered).toHaveLength(6);
    expect(delivered.every((d) => d.requests === 1)).toBe(true);
    expect((await statusIs(c, campaignId, 'completed')).totals).toMatchObject({ sent: 6, failed: 0 });
  });
});

describe('campaign audience limits', () => {
  it('takes 100,000 explicit ids in one request and snapshots every one of them', async () => {
    const c = await creator();
    const mine = await addFans(c, 'big_list', 2);
    const ids = [...mine, ...Array.from({ length: 100_000 - mine.length }, () => randomUUID())];
    const started = await bulk(c, { recipientIds: ids });
    expect(started.totalRecipients).toBe(2);
    const done = await statusIs(c, started.campaignId, 'completed', 60_000);
    expect(done.totals).toMatchObject({ recipients: 100_000, sent: 2, skipped: 99_998 });
  }, 90_000);
});

describe('campaign validation and tenancy', () => {
  it('needs exactly one audience and a name; other creators get 404s', async () => {
    const c = await creator();
    const [fan] = await addFans(c, 'v', 1);
    for (const body of [
      {},
      { campaignName: 'x', content: 'y' },
      { campaignName: 'x', content: 'y', recipientIds: [fan], segment: {} },
      { campaignName: 'x', content: 'y', recipientIds: [] },
      { campaignName: 'x', content: 'y', segment: { tags: [] } },
      { campaignName: 'x', content: 'y', segment: { colour: 'red' } },
    ]) {
      const res = await call(c.auth, 'POST', '/messages/bulk', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    const { campaignId } = await bulk(c, { recipientIds: [fan] });
    const bob = await creator();
    for (const [method, url] of [
      ['GET', `/campaigns/${campaignId}`],
      ['GET', `/campaigns/${campaignId}/recipients`],
      ['POST', `/campaigns/${campaignId}/pause`],
      ['POST', `/campaigns/${campaignId}/resume`],
      ['POST', `/campaigns/${campaignId}/cancel`],
      ['POST', `/campaigns/${campaignId}/retry-failed`],
    ] as const) {
      const res = await call(bob.auth, method, url);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await ok(bob.auth, 'GET', '/campaigns')).items).toEqual([]);
  });
});
