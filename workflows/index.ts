// The workflow bundle entry: every workflow type the workers run.
export { onboardingWorkflow } from './onboarding.js';
export { passwordResetWorkflow } from './password-reset.js';
export {
  purgeExpiredTokensWorkflow,
  releaseLlmReservationsWorkflow,
  retryHeldPayoutsWorkflow,
  sweepOnboardingWorkflow,
} from './maintenance.js';
export { marketingAnalysisWorkflow } from './marketing-analysis.js';
export { fanImportWorkflow } from './fan-import.js';
export { sendQueueWorkflow, sweepOutboxWorkflow } from './send-queue.js';
export { campaignRunWorkflow, scheduledCampaignWorkflow } from './campaign.js';
export { replySuggestionWorkflow } from './reply-suggestion.js';
export { monthlyPayoutsWorkflow, payoutWorkflow } from './payout.js';
