// Started in the background at activation (parent-close policy ABANDON). Deliberately simple
// and deterministic for now: the rules below are pure, so the workflow computes them itself
// and activities only read inputs and store results. A later milestone deepens the analysis.
import { proxyActivities } from '@temporalio/workflow';
import type { OnboardingActivities } from '../activities/onboarding.js';

export interface MarketingInputs {
  fanCount: number;
  subscriptionPriceCents: number | null;
  niche: string | null;
}
export interface MarketingAnalysis {
  accountSize: 'micro' | 'small' | 'medium' | 'large';
  pricingTier: 'entry' | 'mid' | 'premium' | null;
  contentCategories: string[];
}

/** Keyword → category; a niche may match several. */
const CATEGORY_KEYWORDS: Record<string, string[]> = {
  fitness: ['fitness', 'gym', 'workout', 'yoga', 'sport'],
  lifestyle: ['lifestyle', 'travel', 'fashion', 'beauty', 'vlog'],
  gaming: ['gaming', 'gamer', 'cosplay', 'esport', 'twitch'],
  music: ['music', 'singer', 'dj', 'dance'],
  art: ['art', 'photo', 'drawing', 'design'],
  education: ['education', 'coaching', 'tutorial', 'cooking'],
};

export function analyseCreator({ fanCount, subscriptionPriceCents, niche }: MarketingInputs): MarketingAnalysis {
  const accountSize = fanCount < 1_000 ? 'micro' : fanCount < 10_000 ? 'small' : fanCount < 100_000 ? 'medium' : 'large';
  const pricingTier =
    subscriptionPriceCents === null ? null : subscriptionPriceCents < 1_000 ? 'entry' : subscriptionPriceCents < 2_500 ? 'mid' : 'premium';
  const words = (niche ?? '').toLowerCase();
  const contentCategories = Object.entries(CATEGORY_KEYWORDS)
    .filter(([, keywords]) => keywords.some((k) => words.includes(k)))
    .map(([category]) => category);
  return { accountSize, pricingTier, contentCategories: contentCategories.length ? contentCategories : words ? ['general'] : [] };
}

const { loadMarketingInputs, saveMarketingAnalysis } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '30 seconds',
});

export async function marketingAnalysisWorkflow({ userId }: { userId: string }): Promise<MarketingAnalysis> {
  const analysis = analyseCreator(await loadMarketingInputs({ userId }));
  await saveMarketingAnalysis({ userId, ...analysis });
  return analysis;
}
