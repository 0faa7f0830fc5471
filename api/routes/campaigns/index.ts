// SPEC §4 campaigns: POST /messages/bulk creates a campaign and starts its first run
// (`campaign:<id>:1`); the lists read Postgres (the runs project their status and the totals come
// from the recipients snapshot); pause, resume, cancel and retry-failed ask the latest run, and the
// schedule routes manage the campaign's Schedule, all through processes/campaign.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteDeps } from '../../app.js';
import { actionRoutes } from './actions.js';
import { bulkRoutes } from './bulk.js';
import { readRoutes } from './read.js';
import { scheduleRoutes } from './schedule.js';

export const campaignRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, deps) => {
  app.addHook('onRequest', app.authenticate);
  await app.register(bulkRoutes, deps);
  await app.register(readRoutes, deps);
  await app.register(scheduleRoutes, deps);
  await app.register(actionRoutes, deps);
};
