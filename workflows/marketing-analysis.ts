// `marketing-analysis:<userId>` (started in the background at activation; parent-close policy
// ABANDON) and `marketing-analysis:<userId>:profile` (again on each PUT /creator/profile of an
// active creator). LLM-assisted within the creator's AI budget, with the deterministic rules of
// domain/marketing-analysis.ts as the fallback; the profile says which produced it.
import { proxyActivities } from '@temporalio/workflow';
import type { OnboardingActivities } from '../activities/onboarding.js';
import { analyseCreator, type MarketingAnalysis } from '../domain/marketing-analysis.js';

const { loadMarketingInputs, saveMarketingAnalysis } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '30 seconds',
});
// A refusal (budget, no endpoint), a request the endpoint rejects or an answer outside the
// vocabulary is null, not an error; an endpoint that keeps failing costs three attempts before the
// rules answer. It runs on the onboarding queue with the rest of the analysis (a few calls per
// creator per profile change, each bounded by LLM_TIMEOUT_MS).
const { analyseCreatorWithLlm } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});

export async function marketingAnalysisWorkflow({ userId }: { userId: string }): Promise<MarketingAnalysis & { source: string }> {
  const snapshot = await loadMarketingInputs({ userId });
  const inputs = { fanCount: snapshot.fanCount, subscriptionPriceCents: snapshot.subscriptionPriceCents, niche: snapshot.niche };
  const byLlm = await analyseCreatorWithLlm({ userId, inputs }).catch(() => null);
  const analysis = byLlm ?? analyseCreator(inputs);
  const source = byLlm ? 'llm' : 'rules';
  await saveMarketingAnalysis({ userId, ...analysis, source, inputs: snapshot });
  return { ...analysis, source };
}
