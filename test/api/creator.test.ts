import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskQueue } from '../../lib/temporal.js';
import { marketingAnalysisWorkflow } from '../../workflows/marketing-analysis.js';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const profile = (token: string, method: 'GET' | 'PUT' = 'GET', payload?: object) =>
  h.app.inject({ method, url: '/api/v1/creator/profile', headers: bearer(token), payload });

describe('creator profile', () => {
  it('stores declared inputs, scoped to the caller, and shows the marketing analysis once run', async () => {
    const alice = await register(h);
    const bob = await register(h);
    const aliceToken = (await login(h, alice.email)).accessToken;
    const bobToken = (await login(h, bob.email)).accessToken;

    expect((await profile(aliceToken)).json()).toMatchObject({ status: 'onboarding', niche: null, analysis: null });
    const put = await profile(aliceToken, 'PUT', {
      niche: 'Yoga and travel vlogs',
      subscriptionPriceCents: 2999,
      declaredFanCount: 42_000,
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ niche: 'Yoga and travel vlogs', subscriptionPriceCents: 2999, declaredFanCount: 42_000 });
    expect((await profile(aliceToken, 'PUT', { niche: null })).json()).toMatchObject({ niche: null, subscriptionPriceCents: 2999 });
    await profile(aliceToken, 'PUT', { niche: 'Yoga and travel vlogs' });
    expect((await profile(bobToken)).json()).toMatchObject({ niche: null, declaredFanCount: null });

    // The background analysis the onboarding starts at activation, run here directly.
    await h.temporal.workflow.execute(marketingAnalysisWorkflow, {
      taskQueue: taskQueue(h.config, 'onboarding'),
      workflowId: `marketing-analysis:${alice.userId}:${randomUUID()}`,
      args: [{ userId: alice.userId }],
    });
    expect((await profile(aliceToken)).json().analysis).toMatchObject({
      accountSize: 'medium',
      pricingTier: 'premium',
      contentCategories: ['fitness', 'lifestyle'],
    });
  });

  it('rejects bad declarations', async () => {
    const token = (await login(h, (await register(h)).email)).accessToken;
    for (const body of [{ subscriptionPriceCents: -1 }, { declaredFanCount: 1.5 }, { niche: '' }, { status: 'active' }]) {
      const res = await profile(token, 'PUT', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
  });
});
