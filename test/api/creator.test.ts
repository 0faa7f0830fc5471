import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskQueue } from '../../lib/temporal.js';
import { marketingAnalysisWorkflow } from '../../workflows/marketing-analysis.js';
import { createOnboardingActivities } from '../../activities/onboarding.js';
import { creatorProfiles } from '../../db/schema.js';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { llmOf } from '../support/llm.js';
import { waitFor } from '../support/wait.js';

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
    // The stand-in's prose answer is not an analysis: the rules produced it.
    expect((await profile(aliceToken)).json().analysis).toMatchObject({
      accountSize: 'medium',
      pricingTier: 'premium',
      contentCategories: ['fitness', 'lifestyle'],
      source: 'rules',
    });
  });

  it('re-runs the analysis on a profile change of an active creator, by the LLM within budget, else by the rules', async () => {
    const carol = await register(h);
    const token = (await login(h, carol.email)).accessToken;
    await h.db
      .insert(creatorProfiles)
      .values({ userId: carol.userId, status: 'active' })
      .onConflictDoUpdate({
        target: creatorProfiles.userId,
        set: { status: 'active' },
      });
    const analysed = (source: string, accountSize: string) =>
      waitFor(async () => {
        const a = (await profile(token)).json().analysis;
        return a?.source === source && a.accountSize === accountSize ? a : undefined;
      }, `analysis by ${source}`);

    // A well-formed answer in the fixed vocabulary is the LLM's analysis (the rules would say micro).
    await llmOf(h).reply(JSON.stringify({ accountSize: 'large', pricingTier: 'mid', contentCategories: ['gaming', 'music'] }));
    expect((await profile(token, 'PUT', { niche: 'cosplay streams', declaredFanCount: 500 })).statusCode).toBe(200);
    expect(await analysed('llm', 'large')).toMatchObject({ pricingTier: 'mid', contentCategories: ['gaming', 'music'] });
    const [call] = await h.sql`select feature, status from llm_calls where creator_id = ${carol.userId}`;
    expect(call).toEqual({ feature: 'marketing_analysis', status: 'settled' });

    // Out of vocabulary: the rules answer.
    await llmOf(h).reply(JSON.stringify({ accountSize: 'huge', pricingTier: 'mid', contentCategories: ['gaming'] }));
    await profile(token, 'PUT', { declaredFanCount: 2_000 });
    expect(await analysed('rules', 'small')).toMatchObject({ contentCategories: ['gaming'] });

    // No budget left: refused without a call, and the rules answer.
    const before = (await llmOf(h).calls()).length;
    await h.app.inject({
      method: 'PUT',
      url: '/api/v1/ai/budget',
      headers: bearer(token),
      payload: { dailyCapCents: 0, monthlyCapCents: 0 },
    });
    await llmOf(h).reply(JSON.stringify({ accountSize: 'large', pricingTier: 'mid', contentCategories: ['gaming'] }));
    await profile(token, 'PUT', { declaredFanCount: 20_000 });
    expect(await analysed('rules', 'medium')).toBeTruthy();
    expect((await llmOf(h).calls()).length).toBe(before);
    await llmOf(h).clearReplies();

    // A run on older inputs that finishes last (activation's, racing a profile change's) saves nothing.
    const activities = createOnboardingActivities({ db: h.db, email: undefined as never, stripe: undefined as never, config: h.config });
    await activities.saveMarketingAnalysis({
      userId: carol.userId,
      source: 'llm',
      accountSize: 'micro',
      pricingTier: null,
      contentCategories: [],
      inputs: { fanCount: 500, subscriptionPriceCents: null, niche: 'cosplay streams', declaredFanCount: 500 },
    });
    expect((await profile(token)).json().analysis).toMatchObject({ source: 'rules', accountSize: 'medium' });
  });

  it('rejects bad declarations', async () => {
    const token = (await login(h, (await register(h)).email)).accessToken;
    for (const body of [{ subscriptionPriceCents: -1 }, { declaredFanCount: 1.5 }, { niche: '' }, { status: 'active' }]) {
      const res = await profile(token, 'PUT', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
  });
});
