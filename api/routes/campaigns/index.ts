// SPEC §4 campaigns: POST /messages/bulk creates a campaign and starts its first run
// (`campaign:<id>:1`); the lists read Postgres (the runs project their status and the totals come
// from the recipients snapshot); pause, resume, cancel and retry-failed ask the latest run, and the
// schedule routes manage the campaign's Schedule, all through processes/campaign.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createCampaignProcess, type CampaignProcess } from '../../../processes/campaign.js';
import type { RouteDeps } from '../../app.js';
import { actionRoutes } from './actions.js';
import { bulkRoutes } from './bulk.js';
import { readRoutes } from './read.js';
import { scheduleRoutes } from './schedule.js';

export type CampaignRouteDeps = RouteDeps & { campaignProcess: CampaignProcess };

export const campaignRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, deps) => {
  app.addHook('onRequest', app.authenticate);
  const campaignDeps = { ...deps, campaignProcess: createCampaignProcess(deps.temporal, deps.config) };
  await app.register(bulkRoutes, campaignDeps);
  await app.register(readRoutes, campaignDeps);
  await app.register(scheduleRoutes, campaignDeps);
  await app.register(actionRoutes, campaignDeps);
};
