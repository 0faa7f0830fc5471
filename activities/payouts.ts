// Activities of the payout process (SPEC §7): close the month, check the creator can be paid, and
// pay the statement with one Stripe transfer. The transfer is looked up by its transfer_group
// before it is created (Stripe forgets idempotency keys after about a day, so a retry days later
// must find the transfer, not make another), and created under a key derived from the statement.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { and, eq, inArray, lt, notExists, sql } from 'drizzle-orm';
import Stripe from 'stripe';
import type { Db } from '../db/client.js';
import { creatorProfiles, ledgerJournals, payouts, statementJournals } from '../db/schema.js';
import { tiersFor } from '../domain/commission-tiers.js';
import { monthRange } from '../domain/ledger.js';
import { movePayout, type Payout, payoutFor, recordPaid, transferGroupOf, transferKeyOf } from '../domain/payouts.js';
import { DomainError } from '../domain/errors.js';
import { closeStatement, STATEMENT_KINDS } from '../domain/statements.js';
import type { Config } from '../lib/config.js';
import { createPayoutProcess } from '../processes/payouts.js';

export interface PayoutActivityDeps {
  db: Db;
  stripe: Stripe;
  client: Client;
  config: Pick<Config, 'COMMISSION_TIERS' | 'TEMPORAL_TASK_QUEUE_PREFIX' | 'PAYOUT_BALANCE_RETRY_SECONDS'>;
}

/** The failure type the workflow waits on: the platform's Stripe balance cannot cover the transfer yet. */
export const BALANCE_INSUFFICIENT = 'BalanceInsufficient';
/** Payouts are in the platform's currency; other currencies' statements close but wait for a later milestone. */
export const PAYOUT_CURRENCY = 'usd';
/** Creators whose payouts one run of the monthly start handles per page. */
const START_PAGE = 500;
/** Workflow starts in flight at once: each is a round trip to Temporal. */
const STARTS_IN_FLIGHT = 16;
const HEARTBEAT_EVERY_MS = 2_000;

/** Runs `work` heartbeating all along, so that a worker killed mid-call is noticed in seconds. */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const beat = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

export function createPayoutActivities({ db, stripe, client, config }: PayoutActivityDeps) {
  const process = createPayoutProcess(client, config);
  const load = async (id: string) => (await db.query.payouts.findFirst({ where: eq(payouts.id, id) }))!;

  return {
    /** Closes the creator's month (idempotent) and returns its payout. */
    async closeMonthForPayout({ creatorId, month }: { creatorId: string; month: string }): Promise<Payout> {
      return heartbeating(async () => {
        const { tiers } = await tiersFor(db, config.COMMISSION_TIERS, creatorId);
        // A month not over, skipped or malformed will not close on a retry: fail the payout, not loop.
        const statement = await closeStatement(db, { creatorId, month, currency: PAYOUT_CURRENCY, tiers }).catch((err: unknown) => {
          if (err instanceof DomainError) throw ApplicationFailure.nonRetryable(err.message, 'MonthNotClosable');
          throw err;
        });
        return payoutFor(db, statement);
      });
    },

    /** Held, with the reason, unless the creator is activated and not restricted with payouts enabled. */
    async holdUnlessPayable({ payoutId }: { payoutId: string }): Promise<{ accountId: string } | { held: string }> {
      return heartbeating(async () => {
        const payout = await load(payoutId);
        const profile = await db.query.creatorProfiles.findFirst({ where: eq(creatorProfiles.userId, payout.creatorId) });
        const reason =
          !profile || profile.status === 'onboarding' || !profile.stripeAccountId
            ? 'the creator is not activated'
            : profile.status === 'restricted'
              ? 'the creator’s Stripe account is restricted'
              : !profile.payoutsEnabled
                ? 'payouts are not enabled on the creator’s Stripe account'
                : null;
        if (reason === null) return { accountId: profile!.stripeAccountId! };
        await movePayout(db, payoutId, ['scheduled', 'processing', 'held', 'failed'], { status: 'held', reason });
        return { held: reason };
      });
    },

    /**
     * Pays the statement once; `balance_insufficient` is a failure the workflow waits out. The
     * payout's row stays locked from the lookup by transfer_group to the commit, so two executions
     * (a stale one Temporal gave up on, a new run) never both find nothing and both create; a
     * worker that dies drops its connection and the lock with it. A transfer already in the group
     * is taken only if it is exactly the one this payout would make. The idempotency key is per run
     * and try: Stripe keeps a refused answer under its key, so each try after a definite refusal
     * (which made no transfer) takes a new one.
     */
    async transferPayout({ payoutId, accountId, attempt }: { payoutId: string; accountId: string; attempt: number }): Promise<Payout> {
      const context = Context.current();
      // A refusal is recorded on the payout and committed, then raised to the workflow.
      const outcome = await heartbeating(() =>
        db.transaction(async (tx): Promise<Payout | ApplicationFailure> => {
          // A holder that froze without dying keeps the lock: wait 30 s for it (then retry), and let
          // Postgres end a session idle in its transaction longer than list + create can take.
          await tx.execute(sql`set local lock_timeout = '30s'`);
          await tx.execute(sql`set local idle_in_transaction_session_timeout = '4min'`);
          await tx.execute(sql`select id from payouts where id = ${payoutId} for update`);
          const payout = (await tx.query.payouts.findFirst({ where: eq(payouts.id, payoutId) }))!;
          if (payout.status === 'paid' || payout.status === 'reversed') return payout;
          await movePayout(tx, payoutId, ['scheduled', 'held', 'failed'], { status: 'processing', reason: null });
          if (payout.amountCents <= 0) return recordPaid(tx, payout, 'none');
          const group = transferGroupOf(payout.statementId);
          const found = (await stripe.transfers.list({ transfer_group: group, limit: 10 })).data;
          const expected = (t: Stripe.Transfer) =>
            t.amount === payout.amountCents && t.currency === payout.currency && t.destination === accountId;
          if (found.length > 1 || (found.length === 1 && !expected(found[0]!))) {
            await movePayout(tx, payoutId, ['processing'], {
              status: 'failed',
              reason: 'the statement’s transfer_group holds unexpected transfers',
            });
            return ApplicationFailure.nonRetryable(`transfer_group ${group} holds transfers this payout did not make`, 'TransferRefused');
          }
          if (found[0]) return recordPaid(tx, payout, found[0].id);
          // Temporal gave up on this execution (a cancellation delivered by heartbeat): make nothing.
          if (context.cancellationSignal.aborted) throw new Error('transfer cancelled before it was made');
          try {
            const transfer = await stripe.transfers.create(
              {
                amount: payout.amountCents,
                currency: payout.currency,
                destination: accountId,
                transfer_group: group,
                description: `Statement ${payout.month}`,
                metadata: { payoutId: payout.id, statementId: payout.statementId },
              },
              { idempotencyKey: transferKeyOf(payout.statementId, `${context.info.workflowExecution?.runId ?? 'standalone'}:${attempt}`) },
            );
            return recordPaid(tx, payout, transfer.id);
          } catch (err) {
            if (err instanceof Stripe.errors.StripeError && err.code === 'balance_insufficient') {
              await movePayout(tx, payoutId, ['processing'], { status: 'processing', reason: 'balance_insufficient' });
              log.warn('payout waits for the platform balance', { payoutId, amountCents: payout.amountCents });
              return ApplicationFailure.nonRetryable('the platform’s Stripe balance cannot cover the transfer yet', BALANCE_INSUFFICIENT);
            }
            if (err instanceof Stripe.errors.StripeInvalidRequestError) {
              await movePayout(tx, payoutId, ['processing'], { status: 'failed', reason: 'Stripe refused the transfer' });
              return ApplicationFailure.nonRetryable(`Stripe refused the transfer: ${err.code ?? err.type}`, 'TransferRefused');
            }
            throw err;
          }
        }),
      );
      if (outcome instanceof ApplicationFailure) throw outcome;
      return outcome;
    },

    /**
     * The monthly Schedule's run: starts `payout:<creatorId>:<month>` for every creator with ledger
     * journals up to the month's end that no statement holds yet (a page at a time, heartbeating).
     */
    async startMonthlyPayouts({ month: due }: { month: string }): Promise<{ month: string; started: number }> {
      if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(due)) throw ApplicationFailure.nonRetryable(`${due} is not a YYYY-MM month`, 'MonthNotClosable');
      return heartbeating(async () => {
        let started = 0;
        let after = '00000000-0000-0000-0000-000000000000';
        for (;;) {
          const rows = await db
            .selectDistinct({ creatorId: ledgerJournals.creatorId })
            .from(ledgerJournals)
            .where(
              and(
                sql`${ledgerJournals.creatorId} > ${after}::uuid`,
                eq(ledgerJournals.currency, PAYOUT_CURRENCY),
                lt(ledgerJournals.occurredAt, monthRange(due).to),
                inArray(ledgerJournals.kind, [...STATEMENT_KINDS]),
                notExists(db.select({ one: sql`1` }).from(statementJournals).where(eq(statementJournals.journalId, ledgerJournals.id))),
              ),
            )
            .orderBy(ledgerJournals.creatorId)
            .limit(START_PAGE);
          for (let i = 0; i < rows.length; i += STARTS_IN_FLIGHT) {
            const batch = rows.slice(i, i + STARTS_IN_FLIGHT);
            started += (await Promise.all(batch.map(({ creatorId }) => process.start(creatorId, due)))).filter(Boolean).length;
          }
          if (rows.length < START_PAGE) return { month: due, started };
          after = rows[rows.length - 1]!.creatorId;
        }
      });
    },
  };
}

export type PayoutActivities = ReturnType<typeof createPayoutActivities>;
