// Run by the Temporal Schedule `maintenance-purge-tokens` (see workers/schedules.ts).
import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities, PurgeResult } from '../activities/maintenance.js';

const { purgeExpiredTokens } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 5 },
});

/** Deletes email and refresh tokens 24 h after they expired, and day-old Idempotency-Key records. */
export async function purgeExpiredTokensWorkflow(): Promise<PurgeResult> {
  return purgeExpiredTokens({ graceHours: 24 });
}
