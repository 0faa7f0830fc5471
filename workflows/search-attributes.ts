// Search attributes operators filter on in the Temporal UI. Pure: imported by workflows,
// by the API and by the dev launcher (which registers them with `--search-attribute`).
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

export const UserId = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);
/** Set by Temporal on a run a Schedule started: the time it was due (backfills included). */
export const ScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);
export const OnboardingStep = defineSearchAttributeKey('OnboardingStep', SearchAttributeType.KEYWORD);
export const CreatorId = defineSearchAttributeKey('CreatorId', SearchAttributeType.KEYWORD);
export const CampaignId = defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD);

export const allSearchAttributes = [UserId, OnboardingStep, CreatorId, CampaignId];

/** `Name=Type` pairs for `temporal server start-dev --search-attribute` / `operator search-attribute create`. */
export function searchAttributeCliPairs(): string[] {
  const cliType: Record<string, string> = {
    KEYWORD: 'Keyword',
    TEXT: 'Text',
    INT: 'Int',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    DOUBLE: 'Double',
    KEYWORD_LIST: 'KeywordList',
  };
  return allSearchAttributes.map((k) => `${k.name}=${cliType[k.type]}`);
}
