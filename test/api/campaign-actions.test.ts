// Campaign actions are Updates answered by the run itself: an action right after another is judged
// by the run's own state, not by the `campaigns.status` projection that lags behind it; cancelling
// a completed recurring campaign also removes its Schedule.
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);
async function creator(rate: { messages: number; perSeconds: number }) {
  const { userId, email } = await register(h);
  const auth = bearer((await login(h, email)).accessToken);
  await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: rate }, 201);
  return { userId, auth };
}
async function campaignOf(c: Awaited<ReturnType<typeof creator>>, fans: number, tag: string) {
  for (let i = 0; i < fans; i++) await ok(c.auth, 'POST', '/crm/fans', { handle: `${tag}_${i}`, tags: [tag] }, 201);
  const { campaignId } = await ok(c.auth, 'POST', '/messages/bulk', { campaignName: tag, content: 'hi', segment: { tags: [tag] } }, 202);
  return campaignId as string;
}
const statusOf = async (c: Awaited<ReturnType<typeof creator>>, id: string) => (await ok(c.auth, 'GET', `/campaigns/${id}`)).status;

describe('campaign actions answered by the run', () => {
  it('judges back-to-back actions by the run’s state, not the lagging projection', async () => {
    const c = await creator({ messages: 1, perSeconds: 1 });
    const id = await campaignOf(c, 20, 'b2b');
    await waitFor(async () => (await statusOf(c, id)) === 'running', 'running');
    const action = async (verb: string) => (await call(c.auth, 'POST', `/campaigns/${id}/${verb}`)).statusCode;
    // Each pair is sent back to back, before the run has projected the first one.
    expect([await action('pause'), await action('pause')]).toEqual([202, 409]);
    expect([await action('resume'), await action('resume')]).toEqual([202, 409]);
    expect([await action('cancel'), await action('cancel')]).toEqual([202, 409]);
    await waitFor(async () => (await statusOf(c, id)) === 'cancelled', 'cancelled');
    expect(await action('resume')).toBe(409);
    expect(await action('retry-failed')).toBe(409);
  });

  it('cancelling a completed recurring campaign marks it cancelled and removes its Schedule', async () => {
    const c = await creator({ messages: 1000, perSeconds: 1 });
    const id = await campaignOf(c, 1, 'recurring');
    await waitFor(async () => (await statusOf(c, id)) === 'completed', 'first run completed');
    await ok(c.auth, 'PUT', `/campaigns/${id}/schedule`, { every: '7d', timezone: 'UTC' });
    await ok(c.auth, 'POST', `/campaigns/${id}/cancel`, undefined, 202);
    await waitFor(async () => (await call(c.auth, 'GET', `/campaigns/${id}/schedule`)).statusCode === 404, 'schedule gone');
    await expect(h.temporal.schedule.getHandle(`campaign-schedule:${id}`).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect(await statusOf(c, id)).toBe('cancelled');
    expect((await call(c.auth, 'POST', `/campaigns/${id}/cancel`)).statusCode).toBe(409);
    expect((await call(c.auth, 'POST', `/campaigns/${id}/retry-failed`)).statusCode).toBe(409);
  });
});
