// The send queue against the sandbox platform in real time (the platform measures real time):
// with a backlog far larger than the limit, no sliding window of the platform's ever holds more
// than the limit, the queue keeps the limit at least 95 % used, and a 1:1 message queued behind
// the campaign backlog goes out within one pacing slot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSendQueueProcess } from '../../processes/send-queue.js';
import { fans } from '../../db/schema.js';
import { enqueueMessage, PRIORITY } from '../../domain/outbox.js';
import { bearer, login, register, startHarness, type Harness } from '../support/harness.js';
import { sandboxOf } from '../support/sandbox.js';
import { waitFor } from '../support/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

// The spec's limits are per minute; a 10 s window keeps the test short. Each window the queue
// waits out costs it a few scheduling latencies (it counts a batch's requests from their end, to be
// safe), so a shorter window weighs that cost up: at 5 s, a loaded CI machine fell under 95 %.
const LIMIT = { messages: 30, perSeconds: 10 };
const WINDOW_MS = LIMIT.perSeconds * 1000;
const BACKLOG = 150;

describe('send queue rate limit', () => {
  it('never exceeds the limit in any sliding window, stays ≥95 % busy, and lets 1:1 overtake campaign traffic', {
    timeout: 120_000,
  }, async () => {
    const { userId, email } = await register(h);
    const auth = bearer((await login(h, email)).accessToken);
    const put = await h.app.inject({
      method: 'PUT',
      url: '/api/v1/platforms/onlyfans/connection',
      headers: auth,
      payload: { adapter: 'sandbox', rateLimit: LIMIT },
    });
    expect(put.statusCode).toBe(201);

    // A campaign-sized backlog at campaign priority, queued straight into the outbox.
    const backlogFans = await h.db
      .insert(fans)
      .values(Array.from({ length: BACKLOG }, (_, i) => ({ creatorId: userId, handle: `bulk_${i}` })))
      .returning({ id: fans.id, platform: fans.platform });
    await h.db.transaction(async (tx) => {
      for (const fan of backlogFans) await enqueueMessage(tx, { creatorId: userId, fan, text: 'campaign', priority: PRIORITY.low });
    });
    await createSendQueueProcess(h.temporal, h.config).wake(userId);

    // The connection was created by the PUT above, so the sandbox account is known.
    const deliveries = () => sandboxOf(h).deliveries(userId);

    // Once the queue is well into the backlog, a 1:1 message arrives.
    await waitFor(async () => (await deliveries()).deliveries.length >= 30, '30 campaign deliveries', 30_000);
    const vip = await h.app.inject({ method: 'POST', url: '/api/v1/crm/fans', headers: auth, payload: { handle: 'vip' } });
    const oneToOne = await h.app.inject({
      method: 'POST',
      url: '/api/v1/onlyfans/messages/send',
      headers: auth,
      payload: { recipientId: vip.json().id, content: 'just for you' },
    });
    expect(oneToOne.statusCode).toBe(202);
    const { messageId, queuedAt } = oneToOne.json();

    const final = await waitFor(
      async () => {
        const d = await deliveries();
        return d.deliveries.length >= 100 ? d : undefined;
      },
      '100 deliveries',
      60_000,
    );

    expect(final.rejectedForRate).toBe(0);
    const times = final.deliveries.map((d) => Date.parse(d.deliveredAt)).sort((a, b) => a - b);
    // Every window starting at a delivery holds at most the limit (the worst windows start at one).
    const worst = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + WINDOW_MS).length));
    expect(worst).toBeLessThanOrEqual(LIMIT.messages);
    // Busy: from the first delivery, each whole window so far carried at least 95 % of the limit.
    const first = times[0]!;
    const windows = Math.floor((times.at(-1)! - first) / WINDOW_MS);
    expect(windows).toBeGreaterThanOrEqual(3);
    for (let k = 1; k <= windows; k++) {
      const inside = times.filter((t) => t < first + k * WINDOW_MS).length;
      expect(inside, `deliveries in the first ${k} windows`).toBeGreaterThanOrEqual(Math.floor(0.95 * k * LIMIT.messages));
    }

    // The 1:1 message overtook the backlog: delivered within a couple of pacing slots, while
    // dozens of campaign messages queued before it were still waiting.
    const keys = final.deliveries.map((d) => d.idempotencyKey);
    const position = keys.indexOf(messageId);
    expect(position).toBeGreaterThan(0);
    const vipDelivered = Date.parse(final.deliveries[position]!.deliveredAt);
    expect(vipDelivered - Date.parse(queuedAt)).toBeLessThan(3_000);
    expect(BACKLOG - position).toBeGreaterThan(40);
  });
});
