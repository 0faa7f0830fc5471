// `payout:<creatorId>:<YYYY-MM>` (SPEC §7): closes the creator's month into its statement, holds
// the payout (with the reason) when the creator cannot be paid, else pays it with one Stripe
// transfer. A platform balance too low for the transfer is waited out: the workflow sleeps (a
// durable timer) and tries again, the payout showing `balance_insufficient` meanwhile. Paid at
// most once whatever crashes or retries happen (activities/payouts.ts says how).
import { ActivityFailure, ApplicationFailure, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { PayoutActivities } from '../activities/payouts.js';
import { ScheduledStartTime } from './search-attributes.js';

// Each activity heartbeats while it runs (activities/payouts.ts), so a worker killed mid-call is
// noticed within the heartbeat timeout and the activity retried elsewhere, not minutes later.
const { closeMonthForPayout, holdUnlessPayable } = proxyActivities<PayoutActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
});
const { transferPayout } = proxyActivities<PayoutActivities>({
  // Stripe's own timeout (20 s) times its tries, for the lookup and the creation, with room.
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '2 seconds',
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: ['BalanceInsufficient', 'TransferRefused'],
  },
});
/** The monthly Schedule's run: starts the month's payouts, retried until it has (an outage on the 1st must not skip a month). */
const { startMonthlyPayouts } = proxyActivities<PayoutActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '10 seconds', maximumInterval: '10 minutes' },
});

export const payoutWorkflowId = (creatorId: string, month: string) => `payout:${creatorId}:${month}`;

export interface PayoutInput {
  creatorId: string;
  month: string;
  /** How long it waits for the platform's balance before trying the transfer again (PAYOUT_BALANCE_RETRY_SECONDS). */
  balanceRetryMs: number;
}

export async function payoutWorkflow({ creatorId, month, balanceRetryMs }: PayoutInput): Promise<string> {
  const payout = await closeMonthForPayout({ creatorId, month });
  if (payout.status === 'paid') return 'paid';
  const payable = await holdUnlessPayable({ payoutId: payout.id });
  if ('held' in payable) return 'held';
  for (let attempt = 1; ; attempt++) {
    try {
      return (await transferPayout({ payoutId: payout.id, accountId: payable.accountId, attempt })).status;
    } catch (err) {
      const waiting = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'BalanceInsufficient';
      if (!waiting) throw err;
      await sleep(balanceRetryMs);
    }
  }
}

/** Every month (Schedule `payouts-monthly`, the 1st at 06:00 UTC): a payout per creator for the month before. */
export async function monthlyPayoutsWorkflow(input?: { month?: string }): Promise<{ month: string; started: number }> {
  // The month before the Schedule's firing (its nominal time: a backfill of a missed month gives that
  // month's), else before this run's start; never the clock when the activity happens to run.
  const info = workflowInfo();
  const started = info.typedSearchAttributes.get(ScheduledStartTime) ?? info.startTime;
  const previous = new Date(Date.UTC(started.getUTCFullYear(), started.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
  return startMonthlyPayouts({ month: input?.month ?? previous });
}
