// A campaign action is an Update the run's worker must answer: with no worker polling the
// campaigns queue, the API gives up at its deadline with a 503 (retry later), not a hang or a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCalls, bearer, login, register, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(() => h?.close());

const { call, ok } = apiCalls(() => h);

describe('campaign actions without a worker', () => {
  it('answers 503 when the run does not answer in time', async () => {
    const { email } = await register(h);
    const auth = bearer((await login(h, email)).accessToken);
    const fan = await ok(auth, 'POST', '/crm/fans', { handle: 'nobody_home' }, 201);
    const { campaignId } = await ok(auth, 'POST', '/messages/bulk', { campaignName: 'x', content: 'hi', recipientIds: [fan.id] }, 202);
    const res = await call(auth, 'POST', `/campaigns/${campaignId}/pause`);
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('dependency_unavailable');
  }, 30_000);
});
