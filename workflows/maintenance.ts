// Run by the maintenance Temporal Schedules (see processes/maintenance.ts).
import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities, OnboardingSweepResult, PurgeResult } from '../activities/maintenance.js';

const { purgeExpiredTokens, releaseStaleLlmReservations } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 5 },
});
// A batch of workflow starts, heartbeated per start.
const { retryHeldPayouts } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});
// One batch of users and events, each signal bounded by a few seconds and heartbeated.
const { sweepOnboarding } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

/** Deletes email and refresh tokens 24 h after they expired, day-old Idempotency-Key records, and abandoned import uploads. */
export async function purgeExpiredTokensWorkflow(): Promise<PurgeResult> {
  return purgeExpiredTokens({ graceHours: 24 });
}

/**
 * Every minute (Schedule `maintenance-sweep-onboarding`): starts or signals creators' onboardings that
 * missed their registration or a committed fact, backing off per fact (see activities/maintenance.ts).
 */
export async function sweepOnboardingWorkflow(): Promise<OnboardingSweepResult> {
  return sweepOnboarding();
}

/** Every 5 minutes (Schedule `maintenance-release-llm-reservations`): see domain/llm-budget.ts. */
export async function releaseLlmReservationsWorkflow(): Promise<{ released: number }> {
  return releaseStaleLlmReservations();
}

/** Every 10 minutes (Schedule `maintenance-retry-held-payouts`): held payouts whose creator can now be paid run again. */
export async function retryHeldPayoutsWorkflow(): Promise<{ retried: number }> {
  return retryHeldPayouts();
}
