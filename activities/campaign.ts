// A campaign run's side effects (workflows/campaign.ts decides the order): snapshot the audience
// into campaign_recipients, hand pending recipients to the creator's send queue in batches, take
// queued messages back on pause or cancel, re-queue dead ones on retry-failed, report totals.
// Each step is one statement or transaction keyed by (campaign, run, fan), so a retried attempt
// repeats nothing: a fan is snapshotted once and messaged once per run. A cancelled campaign's
// Schedule is removed through the campaign's process client.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { and, count, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { campaignRecipients, campaigns, fans, messages, type CampaignAudience } from '../db/schema.js';
import { campaignTotals, pacedMessageMs, segmentWhere, type CampaignTotals } from '../domain/campaigns.js';
import type { Config } from '../lib/config.js';
import { requeueDead } from '../domain/messages.js';
import { connectionFor, NotConnectedError, PRIORITY } from '../domain/outbox.js';
import { createCampaignProcess } from '../processes/campaign.js';
import type { SendQueueProcess } from '../processes/send-queue.js';

/** Fans snapshotted per activity call (the hand-off batch is the workflow's). */
export const SNAPSHOT_BATCH = 5_000;
const WITHDRAW_CHUNK = 5_000;

export type CampaignDeps = {
  db: Db;
  sendQueue: SendQueueProcess;
  /** For the campaign's Schedule. */
  client: Client;
  config: Pick<Config, 'production' | 'CREDENTIALS_KEY' | 'SEND_RATE_LIMIT_PER_MINUTE' | 'TEMPORAL_TASK_QUEUE_PREFIX'>;
};

type RunKey = { campaignId: string; run: number };

export function createCampaignActivities({ db, sendQueue, client, config }: CampaignDeps) {
  const campaignProcess = createCampaignProcess(client, config);
  /** The campaign without its audience (an explicit list can be 100,000 ids): what most steps need. */
  async function campaignOf(campaignId: string) {
    const campaign = await db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId), columns: { audience: false } });
    // Gone (its creator was deleted, or its start was rolled back): retrying cannot help.
    if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} not found`, 'CampaignNotFound');
    return campaign;
  }

  /** Platforms the run may send on (outside production, missing ones get a sandbox connection). */
  async function connectedPlatforms(creatorId: string, platforms: string[]): Promise<Set<string>> {
    const ok = new Set<string>();
    for (const platform of platforms) {
      try {
        await connectionFor(db, config, creatorId, platform);
        ok.add(platform);
      } catch (err) {
        if (!(err instanceof NotConnectedError)) throw err;
      }
    }
    return ok;
  }

  /** A cancelled campaign recurs no more: its Schedule goes (a missing one is fine), and so does the row's record of it. */
  async function removeSchedule({ campaignId }: { campaignId: string }): Promise<void> {
    await campaignProcess.deleteSchedule(campaignId);
    await db.update(campaigns).set({ schedule: null, updatedAt: sql`now()` }).where(eq(campaigns.id, campaignId));
  }

  return {
    /**
     * Snapshots the next batch of the audience (by position in an explicit list, or by fan id
     * through a segment); `after` is where the previous batch stopped. Fans opted out, deleted,
     * unknown or on an unconnected platform are recorded with their skip reason.
     */
    async snapshotRecipients({
      campaignId,
      run,
      after,
    }: RunKey & { after: string | null }): Promise<{ after: string | null; done: boolean }> {
      const campaign = await db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) });
      if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} not found`, 'CampaignNotFound');
      const audience: CampaignAudience = campaign.audience;
      let batch: { fanId: string; platform: string | null; reason: string | null }[];
      let next: string | null;
      if ('recipientIds' in audience) {
        const start = after === null ? 0 : Number(after);
        const ids = audience.recipientIds.slice(start, start + SNAPSHOT_BATCH);
        const found =
          ids.length === 0
            ? []
            : await db
                .select()
                .from(fans)
                .where(and(eq(fans.creatorId, campaign.creatorId), inArray(fans.id, ids)));
        const byId = new Map(found.map((f) => [f.id, f]));
        batch = ids.map((id) => {
          const f = byId.get(id);
          return {
            fanId: id,
            platform: f?.platform ?? null,
            reason: !f || f.deletedAt ? 'fan not found' : f.optedOutAt ? 'fan opted out' : null,
          };
        });
        next = String(start + ids.length);
      } else {
        const rows = await db
          .select({ id: fans.id, platform: fans.platform, optedOutAt: fans.optedOutAt })
          .from(fans)
          .where(and(segmentWhere(campaign.creatorId, audience.segment), after ? sql`${fans.id} > ${after}::uuid` : undefined))
          .orderBy(fans.id)
          .limit(SNAPSHOT_BATCH);
        batch = rows.map((f) => ({ fanId: f.id, platform: f.platform, reason: f.optedOutAt ? 'fan opted out' : null }));
        next = rows.at(-1)?.id ?? after;
      }
      const platforms = await connectedPlatforms(campaign.creatorId, [
        ...new Set(batch.flatMap((b) => (b.platform && !b.reason ? [b.platform] : []))),
      ]);
      const values = batch.map((b) => ({
        fanId: b.fanId,
        reason: b.reason ?? (b.platform && !platforms.has(b.platform) ? `${b.platform} is not connected` : null),
      }));
      if (values.length > 0) {
        await db.execute(sql`
          insert into campaign_recipients (campaign_id, run, fan_id, skip_reason)
          select ${campaignId}::uuid, ${run}::int, v.fan_id, v.reason
          from json_to_recordset(${JSON.stringify(values.map((v) => ({ fan_id: v.fanId, reason: v.reason })))}::json)
            as v(fan_id uuid, reason text)
          on conflict do nothing`);
      }
      return { after: next, done: batch.length < SNAPSHOT_BATCH };
    },

    /**
     * Hands up to `max` pending recipients to the send queue in one statement: conversation,
     * outbox message (campaign priority, key `campaign:<id>:<run>:<fanId>`) and the recipient's
     * message id together, then wakes the creator's queue. The set-based twin of enqueueMessage
     * (domain/outbox.ts): a row per statement would be 200,000 statements for 100k recipients.
     */
    async enqueueCampaignBatch({ campaignId, run, max }: RunKey & { max: number }): Promise<{ enqueued: number; done: boolean }> {
      const campaign = await campaignOf(campaignId);
      const rows = await db.execute<{ fan_id: string }>(sql`
        with pending as (
          select r.fan_id, f.platform from campaign_recipients r join fans f on f.id = r.fan_id
          where r.campaign_id = ${campaignId} and r.run = ${run} and r.message_id is null and r.skip_reason is null
          order by r.fan_id limit ${max}
          for update of r skip locked
        ),
        conversation as (
          insert into conversations (creator_id, fan_id, platform)
          select ${campaign.creatorId}::uuid, fan_id, platform from pending
          on conflict (creator_id, fan_id) do update set last_message_at = greatest(conversations.last_message_at, now())
          returning id, fan_id
        ),
        message as (
          insert into messages (creator_id, conversation_id, fan_id, platform, direction, status, priority, idempotency_key,
            text, price_cents, attachments, queued_at, campaign_id)
          select ${campaign.creatorId}::uuid, c.id, c.fan_id, p.platform, 'out', 'queued', ${PRIORITY.low},
            ${`campaign:${campaignId}:${run}:`} || c.fan_id, ${campaign.content}, ${campaign.priceCents}::int,
            ${JSON.stringify(campaign.mediaUrls)}::jsonb, now(), ${campaignId}::uuid
          from conversation c join pending p on p.fan_id = c.fan_id
          on conflict (creator_id, idempotency_key) do nothing
          returning id, fan_id
        )
        update campaign_recipients r set message_id = message.id from message
        where r.campaign_id = ${campaignId} and r.run = ${run} and r.fan_id = message.fan_id
        returning r.fan_id`);
      // Always: a retried attempt after one whose wake was lost finds nothing left to hand out.
      await sendQueue.wake(campaign.creatorId);
      // Done only when nothing was left: a short batch may have skipped rows a racing attempt locked.
      return { enqueued: rows.length, done: rows.length === 0 };
    },

    /**
     * Pause and cancel: messages of the run still waiting in the outbox (queued, or failed and
     * waiting for a retry) are taken back; their recipients are pending again (pause) or skipped
     * (cancel). A message already claimed by the send queue finishes.
     */
    async withdrawQueued({ campaignId, run, cancel }: RunKey & { cancel: boolean }): Promise<{ withdrawn: number }> {
      // In chunks with a heartbeat between: a 100k run at 10/min has almost all of it still queued.
      let withdrawn = 0;
      for (;;) {
        const chunk = await db.execute(sql`
          delete from messages where id in (
            select m.id from messages m join campaign_recipients r on m.id = r.message_id
            where r.campaign_id = ${campaignId} and r.run = ${run} and m.status in ('queued', 'failed')
            limit ${WITHDRAW_CHUNK} for update of m skip locked)`);
        withdrawn += chunk.count;
        Context.current().heartbeat(withdrawn);
        if (chunk.count < WITHDRAW_CHUNK) break;
      }
      if (cancel) {
        await db.execute(sql`
          update campaign_recipients set skip_reason = 'campaign cancelled'
          where campaign_id = ${campaignId} and run = ${run} and message_id is null and skip_reason is null`);
      }
      return { withdrawn };
    },

    /** Retry-failed: the run's dead-lettered messages go back to the queue (same idempotency keys). */
    async requeueFailed({ campaignId, run }: RunKey): Promise<{ requeued: number }> {
      const campaign = await campaignOf(campaignId);
      const requeued = await requeueDead(
        db,
        sql`${messages.id} in (select message_id from campaign_recipients where campaign_id = ${campaignId} and run = ${run})`,
      );
      // Always, as in enqueueCampaignBatch: a retried attempt re-queues nothing but may follow a lost wake.
      await sendQueue.wake(campaign.creatorId);
      return { requeued: requeued.count };
    },

    /** The run's totals, and how long its outstanding messages should take at the slowest connected limit. */
    async campaignProgress({ campaignId, run }: RunKey): Promise<CampaignTotals & { msLeft: number; pending: number }> {
      const campaign = await campaignOf(campaignId);
      const totals = (await campaignTotals(db, [{ campaignId, run }])).get(campaignId)!;
      const pace = await pacedMessageMs(db, campaign.creatorId, config.SEND_RATE_LIMIT_PER_MINUTE);
      const [waiting] = await db
        .select({ n: count() })
        .from(campaignRecipients)
        .where(
          and(
            eq(campaignRecipients.campaignId, campaignId),
            eq(campaignRecipients.run, run),
            isNull(campaignRecipients.messageId),
            isNull(campaignRecipients.skipReason),
          ),
        );
      return {
        ...totals,
        msLeft: totals.queued * pace,
        pending: waiting?.n ?? 0,
      };
    },

    /**
     * A scheduled firing's run number and the campaign's creator: the next run, or the one this firing
     * already took (a retried attempt), or null when the previous run is still going, the campaign
     * was cancelled (its Schedule, put by a request that raced the cancel, is removed), or a cron
     * fires the same local wall-clock time as the last run (a time that repeats when the clocks go
     * back fires only once).
     */
    async startScheduledRun({
      campaignId,
      firing,
      scheduledAt,
    }: {
      campaignId: string;
      firing: string;
      scheduledAt: number;
    }): Promise<{ run: number; creatorId: string } | null> {
      const campaign = await campaignOf(campaignId);
      if (campaign.status === 'cancelled') {
        await removeSchedule({ campaignId });
        return null;
      }
      // Only a cron repeats a wall-clock time when the clocks go back; an interval's firings are real.
      const local = campaign.schedule?.cron
        ? new Intl.DateTimeFormat('sv-SE', { timeZone: campaign.schedule.timezone, dateStyle: 'short', timeStyle: 'medium' }).format(
            scheduledAt,
          )
        : `instant ${scheduledAt}`;
      const [started] = await db
        .update(campaigns)
        .set({ runs: sql`${campaigns.runs} + 1`, lastFiring: firing, lastFiredLocal: local, updatedAt: sql`now()` })
        .where(
          and(
            eq(campaigns.id, campaignId),
            // The previous run has settled: a firing while one is still going is skipped (the first
            // run and retry-failed executions are not the Schedule's, so its overlap rule misses them).
            eq(campaigns.status, 'completed'),
            sql`${campaigns.lastFiring} is distinct from ${firing}`,
            sql`${campaigns.lastFiredLocal} is distinct from ${local}`,
          ),
        )
        .returning({ run: campaigns.runs });
      if (started) return { run: started.run, creatorId: campaign.creatorId };
      const again = await campaignOf(campaignId);
      return again.lastFiring === firing ? { run: again.runs, creatorId: campaign.creatorId } : null;
    },

    /**
     * Where a reopened run stands (it has no state of its own): the campaign's status (a cancelled
     * campaign refuses its actions), whether this run has recipients yet, and the campaign's sendAt.
     */
    async reopenedRunFacts({
      campaignId,
      run,
    }: RunKey): Promise<{ status: (typeof campaigns.$inferSelect)['status']; snapshotted: boolean; sendAt: number | null }> {
      const campaign = await campaignOf(campaignId);
      const [recipient] = await db
        .select({ fanId: campaignRecipients.fanId })
        .from(campaignRecipients)
        .where(and(eq(campaignRecipients.campaignId, campaignId), eq(campaignRecipients.run, run)))
        .limit(1);
      return { status: campaign.status, snapshotted: recipient !== undefined, sendAt: campaign.sendAt?.getTime() ?? null };
    },

    removeSchedule,

    /**
     * The latest run's status, the projection the API reads; a cancelled campaign stays cancelled.
     * Back to running (a resume), the run's messages the queue held back while paused are due
     * again: wake the queue, or one that failed mid-send during the pause waits for the sweep.
     */
    async setCampaignStatus({ campaignId, run, status }: RunKey & { status: (typeof campaigns.$inferSelect)['status'] }): Promise<void> {
      const [updated] = await db
        .update(campaigns)
        .set({ status, updatedAt: sql`now()` })
        .where(
          and(eq(campaigns.id, campaignId), eq(campaigns.runs, run), sql`${campaigns.status} <> 'cancelled' or ${status} = 'cancelled'`),
        )
        .returning({ creatorId: campaigns.creatorId });
      if (updated && status === 'running') await sendQueue.wake(updated.creatorId);
    },
  };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
