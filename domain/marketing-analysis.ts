// The creator's marketing analysis (SPEC §5): account size, pricing tier and content categories
// from what they declared and what the CRM knows. The rules are pure and deterministic (the
// workflow runs them itself, as the fallback); the LLM-assisted version asks the gateway for the
// same three answers, within budget, and keeps only an answer that fits the fixed vocabulary.
import type { ChatMessage, LlmGateway } from '../integrations/llm/gateway.js';

export interface MarketingInputs {
  fanCount: number;
  subscriptionPriceCents: number | null;
  niche: string | null;
}

/** The inputs and the declared values they came from (the save checks these still hold). */
export type MarketingSnapshot = MarketingInputs & { declaredFanCount: number | null };

export const ACCOUNT_SIZES = ['micro', 'small', 'medium', 'large'] as const;
export const PRICING_TIERS = ['entry', 'mid', 'premium'] as const;

export interface MarketingAnalysis {
  accountSize: (typeof ACCOUNT_SIZES)[number];
  pricingTier: (typeof PRICING_TIERS)[number] | null;
  contentCategories: string[];
}

/** Keyword → category; a niche may match several. The keys (and `general`) are the fixed category list. */
const CATEGORY_KEYWORDS: Record<string, string[]> = {
  fitness: ['fitness', 'gym', 'workout', 'yoga', 'sport'],
  lifestyle: ['lifestyle', 'travel', 'fashion', 'beauty', 'vlog'],
  gaming: ['gaming', 'gamer', 'cosplay', 'esport', 'twitch'],
  music: ['music', 'singer', 'dj', 'dance'],
  art: ['art', 'photo', 'drawing', 'design'],
  education: ['education', 'coaching', 'tutorial', 'cooking'],
};
export const CONTENT_CATEGORIES = [...Object.keys(CATEGORY_KEYWORDS), 'general'];

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

const ANALYSIS_MAX_TOKENS = 200;

function analysisPrompt(inputs: MarketingInputs): ChatMessage[] {
  return [
    {
      role: 'system',
      content: [
        'You classify a content creator for marketing. Answer with a JSON object only:',
        `{"accountSize": one of ${JSON.stringify(ACCOUNT_SIZES)}, "pricingTier": one of ${JSON.stringify(PRICING_TIERS)} or null,`,
        ` "contentCategories": a list drawn only from ${JSON.stringify(CONTENT_CATEGORIES)}}.`,
        'Account size is by audience: micro under 1,000 fans, small under 10,000, medium under 100,000, large above.',
        'Pricing tier is by monthly subscription: entry under $10, mid under $25, premium above; null when unknown.',
      ].join('\n'),
    },
    {
      role: 'user',
      content: JSON.stringify({
        fans: inputs.fanCount,
        subscriptionPriceCents: inputs.subscriptionPriceCents,
        niche: inputs.niche?.slice(0, 500) ?? null,
      }),
    },
  ];
}

/** The model's answer when it is a well-formed analysis in the fixed vocabulary; otherwise null. */
export function readAnalysis(content: string): MarketingAnalysis | null {
  let parsed: { accountSize?: unknown; pricingTier?: unknown; contentCategories?: unknown };
  try {
    parsed = JSON.parse(content);
  } catch {
    return null;
  }
  const { accountSize, pricingTier, contentCategories } = parsed;
  if (!ACCOUNT_SIZES.includes(accountSize as never)) return null;
  if (pricingTier !== null && !PRICING_TIERS.includes(pricingTier as never)) return null;
  if (!Array.isArray(contentCategories) || !contentCategories.every((c) => CONTENT_CATEGORIES.includes(c))) return null;
  return {
    accountSize: accountSize as MarketingAnalysis['accountSize'],
    pricingTier: pricingTier as MarketingAnalysis['pricingTier'],
    contentCategories: [...new Set(contentCategories as string[])],
  };
}

/** One LLM-assisted analysis as the business step `stepKey`; null when the answer does not fit. */
export async function analyseWithLlm(gateway: LlmGateway, creatorId: string, stepKey: string, inputs: MarketingInputs) {
  const answer = await gateway.complete({
    creatorId,
    stepKey,
    feature: 'marketing_analysis',
    messages: analysisPrompt(inputs),
    maxTokens: ANALYSIS_MAX_TOKENS,
    json: true,
  });
  return readAnalysis(answer.content);
}
