// Development-only routes (ENABLE_DEV_ROUTES; never in production): SPEC §6.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { fetchMailbox } from '../../lib/email/mailbox.js';
import type { RouteDeps } from '../app.js';
import { ApiError, dependencyDown } from '../errors.js';
import { Email, errorResponses } from '../schemas.js';

export const devRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { config }) => {
  // Unauthenticated on purpose: it lets a person or an end-to-end test read the mail of an
  // account that cannot log in yet. It only exists outside production.
  app.get(
    '/dev/mailbox',
    {
      schema: {
        tags: ['dev'],
        summary: 'Mail captured by the local SES stand-in for one address, newest first',
        querystring: Type.Object({ to: Email }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            messages: Type.Array(
              Type.Object({ to: Type.String(), subject: Type.String(), text: Type.String(), html: Type.String(), sentAt: Type.String() }),
            ),
          }),
          ...errorResponses(400, 404, 503),
        },
      },
    },
    async (request) => {
      if (!config.SES_ENDPOINT || !config.usesSesStandin) {
        throw new ApiError(404, 'not_found', 'no local mail stand-in is configured (SES_ENDPOINT points elsewhere)');
      }
      try {
        return { messages: await fetchMailbox(config.SES_ENDPOINT, request.query.to) };
      } catch (err) {
        request.log.warn({ err }, 'mail stand-in unreachable');
        throw dependencyDown('mail stand-in');
      }
    },
  );
};
