// Forgot-password runs as a workflow for every request, known email or not, so the API does
// the same work either way (no account enumeration) and the mail is retried durably.
import { proxyActivities } from '@temporalio/workflow';
import type { OnboardingActivities } from '../activities/onboarding.js';

export interface PasswordResetInput {
  email: string;
  requestId?: string;
}

const { issuePasswordResetEmail } = proxyActivities<OnboardingActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
});

export async function passwordResetWorkflow(input: PasswordResetInput): Promise<{ sent: boolean }> {
  return issuePasswordResetEmail(input);
}
