// The `reply-suggestion` workflow under the time-skipping test server, with the real activities
// (createAiActivities on the test database, the LLM stand-in behind the real gateway): a suggestion
// nobody decides on expires after 24 hours of workflow time, and an approval before that is carried
// out once, even when it arrives while the workflow has not yet learnt that the draft is ready.
// The approved reply goes through the real send queue of a harness (its workers, the sandbox).
// Also: a reject Postgres refuses, a provider refusal kept as a code, and a missing row.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowNotFoundError, WorkflowUpdateStage } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAiActivities, type AiActivities } from '../../activities/ai.js';
import { messages, replySuggestions } from '../../db/schema.js';
import { inboundWebhookUrl } from '../../domain/platform-connections.js';
import { createSuggestion, expireOnFanMessage, SUGGESTION_TTL_MS } from '../../domain/reply-suggestions.js';
import { createReplySuggestionProcess } from '../../processes/reply-suggestion.js';
import { createSendQueueProcess } from '../../processes/send-queue.js';
import { approveSuggestionUpdate, replySuggestionWorkflow } from '../../workflows/reply-suggestion.js';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { llmOf } from '../support/llm.js';
import { sandboxOf } from '../support/sandbox.js';
import { waitFor } from '../support/wait.js';
import { startTimeSkippingServer, withBundledWorker } from '../support/time-skipping.js';

let env: TestWorkflowEnvironment;
let h: Harness;
beforeAll(async () => {
  [env, h] = await Promise.all([startTimeSkippingServer(), startHarness()]);
});
afterAll(async () => {
  await env?.teardown();
  await h?.close();
});

const { ok } = apiCalls(() => h);

/** A creator whose sandbox fan wrote once: the creator and the conversation a suggestion answers. */
async function fanConversation(fanHandle: string) {
  const { userId, email } = await register(h);
  const auth = bearer((await login(h, email)).accessToken);
  await ok(auth, 'PUT', '/platforms/onlyfans/connection', { adapter: 'sandbox', rateLimit: { messages: 100, perSeconds: 1 } }, 201);
  // The sandbox knows an account once the adapter registered it (before a first send); do it now so the fan can write first.
  const conn = await sandboxOf(h).connection(userId);
  await fetch(`${h.platformSandbox.url}/v1/accounts/${conn.credentials.accountId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${conn.credentials.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ webhookUrl: inboundWebhookUrl(h.config.PUBLIC_API_URL, conn), webhookSecret: conn.webhookSecret }),
  });
  await sandboxOf(h).fanEvent(userId, 'message.received', { fanHandle, text: 'still there?' });
  const conversationId = await waitFor(
    async () => (await ok(auth, 'GET', '/crm/conversations')).items[0]?.id as string | undefined,
    'inbox',
  );
  return { userId, conversationId };
}

const rowOf = async (id: string) => (await h.db.query.replySuggestions.findFirst({ where: eq(replySuggestions.id, id) }))!;
const statusIs = (id: string, status: string) => waitFor(async () => ((await rowOf(id)).status === status ? rowOf(id) : undefined), status);

/** The real AI activities, waking the harness's real send queue; `hold` delays the draft's completion (not its work). */
function realActivities(hold?: Promise<void>): AiActivities {
  const real = createAiActivities({ db: h.db, config: h.config, sendQueue: createSendQueueProcess(h.temporal, h.config) });
  return {
    ...real,
    async draftReplySuggestion(input) {
      const drafted = await real.draftReplySuggestion(input);
      await hold;
      return drafted;
    },
  };
}

const run = <T>(activities: AiActivities, fn: (taskQueue: string) => Promise<T>) => withBundledWorker(env.nativeConnection, activities, fn);

/**
 * Starts the workflow as processes/reply-suggestion.ts does, with the expiry 24 h from now in the
 * test server's clock: it runs ahead of the database's once a test skipped time.
 */
const start = async (taskQueue: string, suggestionId: string) =>
  env.client.workflow.start(replySuggestionWorkflow, {
    taskQueue,
    workflowId: `reply-suggestion:${suggestionId}`,
    args: [{ suggestionId, expiresAt: (await env.currentTimeMs()) + SUGGESTION_TTL_MS }],
  });

describe('reply-suggestion workflow', () => {
  it('expires a suggestion nobody decided on after 24 hours, and sends nothing', { timeout: 60_000 }, async () => {
    const { userId, conversationId } = await fanConversation('waiting_fan');
    await llmOf(h).reply(JSON.stringify({ text: 'sorry, was busy!', priceCents: null }));
    const suggestion = (await createSuggestion(h.db, userId, conversationId, 'person'))!;
    expect(suggestion.expiresAt.getTime() - suggestion.createdAt.getTime()).toBe(SUGGESTION_TTL_MS);

    await run(realActivities(), async (taskQueue) => {
      const handle = await start(taskQueue, suggestion.id);
      await statusIs(suggestion.id, 'ready');
      const startedAt = await env.currentTimeMs();
      await env.sleep('23 hours');
      expect((await rowOf(suggestion.id)).status).toBe('ready');

      expect(await handle.result()).toBe('expired');
      expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(startedAt + SUGGESTION_TTL_MS - 60_000);
      const late = handle.executeUpdate(approveSuggestionUpdate, { args: [{ decidedBy: userId }], updateId: 'late' });
      await expect(late).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });
    expect(await rowOf(suggestion.id)).toMatchObject({
      status: 'expired',
      reason: 'nobody decided within 24 hours',
      draftText: 'sorry, was busy!',
      decidedBy: null,
      sentMessageId: null,
    });
    expect(await h.db.select().from(messages).where(eq(messages.creatorId, userId))).toEqual([
      expect.objectContaining({ direction: 'in' }),
    ]);
  });

  it('carries out an approval before the expiry once, even one sent before the workflow saw the draft', { timeout: 60_000 }, async () => {
    const { userId, conversationId } = await fanConversation('approved_fan');
    await llmOf(h).reply(JSON.stringify({ text: 'just for you', priceCents: 700 }));
    const suggestion = (await createSuggestion(h.db, userId, conversationId, 'person'))!;
    let release = () => {};
    const hold = new Promise<void>((r) => (release = r));

    await run(realActivities(hold), async (taskQueue) => {
      const handle = await start(taskQueue, suggestion.id);
      // Postgres says ready (as the API would show it) while the draft activity has not completed.
      await statusIs(suggestion.id, 'ready');
      const approve = (updateId: string, text: string) =>
        handle.executeUpdate(approveSuggestionUpdate, { args: [{ decidedBy: userId, text }], updateId });
      // Accepted (not refused as "not ready") while the draft is still held back; carried out once it completes.
      const first = await handle
        .startUpdate(approveSuggestionUpdate, {
          args: [{ decidedBy: userId, text: 'just for you, edited' }],
          updateId: 'approve-1',
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        })
        .finally(release);
      const outcome = await first.result();
      expect(outcome).toEqual({ status: 'approved', sentMessageId: expect.any(String), reason: null });
      expect(await handle.result()).toBe('approved');
      // The same Update again gets the same outcome; another approval finds the workflow closed.
      expect(await approve('approve-1', 'just for you, edited')).toEqual(outcome);
      await expect(approve('approve-2', 'twice?')).rejects.toBeInstanceOf(WorkflowNotFoundError);

      const sent = await waitFor(async () => {
        const m = await h.db.query.messages.findFirst({ where: eq(messages.id, outcome.sentMessageId!) });
        return m?.status === 'sent' ? m : undefined;
      }, 'approved reply sent');
      expect(sent).toMatchObject({ text: 'just for you, edited', priceCents: 700 });
    });
    expect(await rowOf(suggestion.id)).toMatchObject({
      status: 'approved',
      draftText: 'just for you',
      sentText: 'just for you, edited',
      decidedBy: userId,
    });
    const { deliveries } = await sandboxOf(h).deliveries(userId);
    expect(deliveries).toEqual([expect.objectContaining({ fanHandle: 'approved_fan', requests: 1 })]);
  });

  it('answers a reject Postgres refuses (the fan wrote, the signal never came) with suggestion_not_ready', {
    timeout: 60_000,
  }, async () => {
    const { userId, conversationId } = await fanConversation('lost_signal_fan');
    await llmOf(h).reply(JSON.stringify({ text: 'too late', priceCents: null }));
    const suggestion = (await createSuggestion(h.db, userId, conversationId, 'person'))!;
    await run(realActivities(), async (taskQueue) => {
      const handle = await start(taskQueue, suggestion.id);
      await statusIs(suggestion.id, 'ready');
      // The fan wrote again: Postgres expired it with the message, and the workflow was not told.
      expect(await expireOnFanMessage(h.db, conversationId)).toEqual([suggestion.id]);
      const reject = createReplySuggestionProcess(env.client, h.config).reject(suggestion.id, userId);
      await expect(reject).rejects.toMatchObject({ kind: 'invalid_state', code: 'suggestion_not_ready' });
      await handle.result();
    });
    expect(await rowOf(suggestion.id)).toMatchObject({ status: 'expired', reason: 'the fan wrote again', decidedBy: null });
  });

  it('keeps a code, never the provider’s words, when the provider refuses the request', { timeout: 60_000 }, async () => {
    const { userId, conversationId } = await fanConversation('refused_request_fan');
    const suggestion = (await createSuggestion(h.db, userId, conversationId, 'person'))!;
    // A priced model the endpoint does not know: it answers 404 model_not_found.
    const config = {
      ...h.config,
      LLM_MODEL: 'no-such-model',
      LLM_PRICES: { ...h.config.LLM_PRICES, 'no-such-model': { input: 1, output: 1 } },
    };
    const activities = createAiActivities({ db: h.db, config, sendQueue: createSendQueueProcess(h.temporal, h.config) });
    await run(activities, async (taskQueue) => {
      expect(await (await start(taskQueue, suggestion.id)).result()).toBe('failed');
    });
    expect(await rowOf(suggestion.id)).toMatchObject({ status: 'failed', reason: 'llm_request_rejected', draftText: null });
  });

  it('ends at the draft’s first attempt when the suggestion row is gone', { timeout: 60_000 }, async () => {
    const real = realActivities();
    let drafts = 0;
    const activities: AiActivities = {
      ...real,
      async draftReplySuggestion(input) {
        drafts++;
        return real.draftReplySuggestion(input);
      },
    };
    await run(activities, async (taskQueue) => {
      expect(await (await start(taskQueue, randomUUID())).result()).toBe('failed');
    });
    expect(drafts).toBe(1);
  });
});
