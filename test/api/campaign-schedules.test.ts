// Recurring campaigns on Temporal Schedules (the real dev server: the time-skipping test server
// does not implement Schedules). The instants a daily schedule will fire at across the next
// daylight-saving change, runs that stop at maxRuns and endAt each with their own snapshot, a
// local time repeated when the clocks go back firing once, validation and tenancy.
import { ScheduleNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignActivities } from '../../activities/campaign.js';
import { campaigns } from '../../db/schema.js';
import { apiCalls, bearer, login, register, startHarness, type Harness, type Method } from '../support/harness.js';
import { sandboxOf } from '../support/sandbox.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const TZ = 'America/New_York';
const HOUR = 3_600_000;
const offset = (t: number) => new Intl.DateTimeFormat('en-US', { timeZone: TZ, timeZoneName: 'longOffset' }).format(t).split(' ').pop();
const localTime = (t: number) => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit' }).format(t);

function nextDstChange(from: number): number {
  const start = Math.ceil(from / HOUR) * HOUR;
  for (let t = start; t < from + 366 * 24 * HOUR; t += HOUR) if (offset(t) !== offset(t - HOUR)) return t;
  throw new Error('no DST change within a year');
}

const api = apiCalls(() => h);
async function creator() {
  const { userId, email } = await register(h);
  const auth = bearer((await login(h, email)).accessToken);
  const call = (method: Method, url: string, payload?: object) => api.call(auth, method, url, payload);
  const ok = (method: Method, url: string, payload?: object, status = 200) => api.ok(auth, method, url, payload, status);
  await ok('PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 1000, perSeconds: 1 } }, 201);
  return { userId, call, ok };
}
async function campaignFor(c: Awaited<ReturnType<typeof creator>>, fans: number) {
  const ids: string[] = [];
  for (let i = 0; i < fans; i++) ids.push((await c.ok('POST', '/crm/fans', { handle: `sched_${i}` }, 201)).id);
  const { campaignId } = await c.ok('POST', '/messages/bulk', { campaignName: 'weekly', content: 'hi', recipientIds: ids }, 202);
  await waitFor(async () => (await c.ok('GET', `/campaigns/${campaignId}`)).status === 'completed', 'first run completed');
  return campaignId as string;
}

describe('recurring campaigns', () => {
  it('fires daily at 09:00 local time on both sides of the next DST change, and not after endAt', async () => {
    const c = await creator();
    const campaignId = await campaignFor(c, 1);
    const change = nextDstChange(Date.now() + 4 * 24 * HOUR);
    const schedule = await c.ok('PUT', `/campaigns/${campaignId}/schedule`, {
      cron: '0 9 * * *',
      timezone: TZ,
      startAt: new Date(change - 3 * 24 * HOUR).toISOString(),
      endAt: new Date(change + 3 * 24 * HOUR).toISOString(),
    });
    const next = (schedule.nextRuns as string[]).map(Date.parse);
    expect(next.length).toBeGreaterThanOrEqual(5);
    expect(next.length).toBeLessThanOrEqual(7);
    expect(next.every((t) => localTime(t) === '09:00')).toBe(true);
    const before = next.filter((t) => t < change);
    const after = next.filter((t) => t > change);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    // The same wall-clock time is a different UTC hour once the offset changed.
    expect(new Date(before[0]!).getUTCHours()).not.toBe(new Date(after[0]!).getUTCHours());
    expect(next.every((t) => t <= change + 3 * 24 * HOUR)).toBe(true);

    expect((await c.ok('POST', `/campaigns/${campaignId}/schedule/pause`)).paused).toBe(true);
    expect((await c.ok('POST', `/campaigns/${campaignId}/schedule/unpause`)).paused).toBe(false);
    await c.ok('DELETE', `/campaigns/${campaignId}/schedule`, undefined, 204);
    expect((await c.call('GET', `/campaigns/${campaignId}/schedule`)).statusCode).toBe(404);
  });

  it('runs until maxRuns, each run with its own snapshot, each fan messaged once per run', async () => {
    const c = await creator();
    const campaignId = await campaignFor(c, 3);
    await c.ok('PUT', `/campaigns/${campaignId}/schedule`, { every: '2s', timezone: 'UTC', maxRuns: 3 });
    await waitFor(
      async () => {
        const got = await c.ok('GET', `/campaigns/${campaignId}`);
        return got.run === 4 && got.status === 'completed';
      },
      'three scheduled runs',
      60_000,
    );
    await new Promise((r) => setTimeout(r, 4_000));
    expect((await c.ok('GET', `/campaigns/${campaignId}`)).run).toBe(4);
    expect(await c.ok('GET', `/campaigns/${campaignId}/schedule`)).toMatchObject({
      remainingRuns: 0,
      nextRuns: [],
      every: '2s',
      maxRuns: 3,
    });
    for (const run of [2, 3, 4])
      expect((await c.ok('GET', `/campaigns/${campaignId}/recipients?run=${run}&status=sent`)).items).toHaveLength(3);
    const keys = (await sandboxOf(h).deliveries(c.userId)).deliveries.map((d) => d.idempotencyKey);
    expect(keys).toHaveLength(12);
    expect(new Set(keys).size).toBe(12);
    // The scheduled runs carry the creator as well as the campaign, for operators' filters.
    const runsOfCreator = async () => {
      const ids: string[] = [];
      const query = `WorkflowType = 'campaignRunWorkflow' AND CreatorId = '${c.userId}' AND CampaignId = '${campaignId}'`;
      for await (const w of h.temporal.workflow.list({ query })) ids.push(w.workflowId);
      return ids.sort();
    };
    const all = [1, 2, 3, 4].map((run) => `campaign:${campaignId}:${run}`);
    await waitFor(async () => (await runsOfCreator()).length === 4, 'the four runs listed by creator');
    expect(await runsOfCreator()).toEqual(all);
  }, 90_000);

  it('stops at endAt', async () => {
    const c = await creator();
    const campaignId = await campaignFor(c, 1);
    await c.ok('PUT', `/campaigns/${campaignId}/schedule`, {
      every: '1s',
      timezone: 'UTC',
      endAt: new Date(Date.now() + 3_000).toISOString(),
    });
    await new Promise((r) => setTimeout(r, 6_000));
    const runs = (await c.ok('GET', `/campaigns/${campaignId}`)).run;
    expect(runs).toBeGreaterThan(1);
    expect((await c.ok('GET', `/campaigns/${campaignId}/schedule`)).nextRuns).toEqual([]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await c.ok('GET', `/campaigns/${campaignId}`)).run).toBe(runs);
  }, 60_000);

  it('fires a local time that repeats when the clocks go back only once, and a retried firing keeps its run', async () => {
    const c = await creator();
    const campaignId = await campaignFor(c, 1);
    await h.db
      .update(campaigns)
      .set({ schedule: { cron: '30 1 * * *', timezone: TZ } })
      .where(eq(campaigns.id, campaignId));
    const woken: string[] = [];
    const activities = createCampaignActivities({
      db: h.db,
      config: h.config,
      client: h.temporal,
      sendQueue: { wake: async (creatorId: string) => void woken.push(creatorId) },
    });
    // A retried hand-off or re-queue whose first attempt's wake was lost finds nothing left to do, and wakes the queue anyway.
    expect(await activities.enqueueCampaignBatch({ campaignId, run: 1, max: 10 })).toEqual({ enqueued: 0, done: true });
    expect(await activities.requeueFailed({ campaignId, run: 1 })).toEqual({ requeued: 0 });
    expect(woken).toEqual([c.userId, c.userId]);
    const runOf = async (firing: string, at: string) =>
      (await activities.startScheduledRun({ campaignId, firing, scheduledAt: Date.parse(at) }))?.run ?? null;
    // 2026-11-01 01:30 EDT, then 01:30 EST an hour later.
    const first = await activities.startScheduledRun({ campaignId, firing: 'firing-a', scheduledAt: Date.parse('2026-11-01T05:30:00Z') });
    // The run's creator comes from the row: a Schedule created earlier has none in its args.
    expect(first).toEqual({ run: 2, creatorId: c.userId });
    expect(await runOf('firing-a', '2026-11-01T05:30:00Z')).toBe(2);
    expect(await runOf('firing-b', '2026-11-01T06:30:00Z')).toBeNull();
    expect(await runOf('firing-c', '2026-11-02T06:30:00Z')).toBe(3);

    // While a run is still going, a firing starts nothing (the first run is not the Schedule's, so
    // its overlap rule alone would not see it).
    await h.db.update(campaigns).set({ status: 'running' }).where(eq(campaigns.id, campaignId));
    expect(await runOf('firing-d', '2026-11-03T06:30:00Z')).toBeNull();
    // An interval's firings are distinct instants even when the local time repeats.
    await h.db
      .update(campaigns)
      .set({ status: 'completed', schedule: { every: '1h', timezone: TZ } })
      .where(eq(campaigns.id, campaignId));
    expect(await runOf('firing-e', '2027-11-07T05:30:00Z')).toBe(4);
    expect(await runOf('firing-f', '2027-11-07T06:30:00Z')).toBe(5);
    // A cancelled campaign's firings start nothing, and its Schedule (a PUT that raced the cancel) goes.
    await c.ok('PUT', `/campaigns/${campaignId}/schedule`, { every: '7d', timezone: TZ });
    await h.db.update(campaigns).set({ status: 'cancelled' }).where(eq(campaigns.id, campaignId));
    expect(await runOf('firing-g', '2027-11-08T05:30:00Z')).toBeNull();
    await expect(h.temporal.schedule.getHandle(`campaign-schedule:${campaignId}`).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect(
      (await h.db.select({ schedule: campaigns.schedule }).from(campaigns).where(eq(campaigns.id, campaignId)))[0]?.schedule,
    ).toBeNull();
  });

  it('validates the schedule and hides other creators’ campaigns', async () => {
    const c = await creator();
    const campaignId = await campaignFor(c, 1);
    for (const body of [
      { timezone: 'UTC' },
      { cron: '0 9 * * *', every: '1d', timezone: 'UTC' },
      { every: '1d', timezone: '+02:00' },
      { every: '0d', timezone: 'UTC' },
      { every: '1d', timezone: 'UTC', maxRuns: 0 },
      { every: '1d', timezone: 'UTC', startAt: '2027-01-02T00:00:00Z', endAt: '2027-01-01T00:00:00Z' },
    ]) {
      expect((await c.call('PUT', `/campaigns/${campaignId}/schedule`, body)).statusCode, JSON.stringify(body)).toBe(400);
    }
    const badCron = await c.call('PUT', `/campaigns/${campaignId}/schedule`, { cron: '99 99 * * * *', timezone: 'UTC' });
    expect(badCron.json().error.code).toBe('invalid_schedule');
    expect(badCron.statusCode).toBe(400);
    // Temporal's own error text is not echoed.
    expect(badCron.json().error.message).toBe('the cron expression or interval is not valid');
    const other = await creator();
    for (const [method, url] of [
      ['GET', '/schedule'],
      ['PUT', '/schedule'],
      ['DELETE', '/schedule'],
      ['POST', '/schedule/pause'],
    ] as const) {
      const res = await other.call(
        method,
        `/campaigns/${campaignId}${url}`,
        method === 'PUT' ? { every: '1d', timezone: 'UTC' } : undefined,
      );
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
  });
});
