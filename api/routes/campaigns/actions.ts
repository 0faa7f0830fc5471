// Pause, resume, cancel and retry-failed of the campaign's latest run. The run decides whether the
// action fits its state (a workflow Update's validator, processes/campaign.ts): the route only
// finds the caller's campaign and its latest run.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { CampaignAction } from '../../../processes/campaign.js';
import { bearerAuth, errorResponses, IdempotencyHeaders } from '../../schemas.js';
import type { RouteDeps } from '../../app.js';
import { IdParams } from './schemas.js';
import { campaignOf } from './view.js';

const summaries: Record<CampaignAction, string> = {
  pause: 'Pause the latest run (its messages still waiting are taken back); not while it waits for its sendAt',
  resume: 'Resume a paused run',
  cancel: 'Cancel the campaign: the run stops, who was left is skipped, and a recurring campaign recurs no more',
  'retry-failed': 'Re-send the latest run’s dead-lettered messages (also after the run completed)',
};

export const actionRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { db, campaignProcess }) => {
  for (const action of Object.keys(summaries) as CampaignAction[]) {
    app.post(
      `/campaigns/:id/${action}`,
      {
        config: { idempotent: true },
        schema: {
          tags: ['campaigns'],
          summary: summaries[action],
          description: [
            '409 invalid_state when the run’s state does not allow it (e.g. pausing a paused run).',
            'With an Idempotency-Key, a retry after a 503 gets the first attempt’s outcome.',
          ].join(' '),
          security: bearerAuth,
          headers: IdempotencyHeaders,
          params: IdParams,
          response: {
            202: Type.Object({ campaignId: Type.String(), run: Type.Integer(), action: Type.String() }),
            ...errorResponses(400, 401, 404, 409, 503),
          },
        },
      },
      async (request, reply) => {
        const campaign = await campaignOf(db, request, request.params.id);
        const run = Math.max(campaign.runs, 1);
        const ref = { campaignId: campaign.id, creatorId: campaign.creatorId, run };
        await campaignProcess.act(action, ref, request.idempotency?.key);
        return reply.status(202).send({ campaignId: campaign.id, run, action });
      },
    );
  }
};
