// The campaign routes' request and response schemas (they are also the OpenAPI document).
import { Type } from 'typebox';
import { Nullable } from '../../schemas.js';

/** The largest explicit recipient list; larger audiences are segments. */
export const MAX_RECIPIENT_IDS = 100_000;

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const Segment = Type.Object(
  {
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 50 })),
    minValueCents: Type.Optional(Type.Integer({ minimum: 0 })),
    maxValueCents: Type.Optional(Type.Integer({ minimum: 0 })),
    lastSeenAfter: Type.Optional(Type.String({ format: 'date-time' })),
    lastSeenBefore: Type.Optional(Type.String({ format: 'date-time' })),
    subscriptionTiers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 20 })),
  },
  { additionalProperties: false, description: 'fans matching every given condition (tags: any of them)' },
);

const Totals = Type.Object({
  recipients: Type.Integer(),
  queued: Type.Integer(),
  sent: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  purchases: Type.Integer(),
  revenueCents: Type.Integer(),
});

export const Campaign = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Enum(['scheduled', 'running', 'paused', 'completed', 'cancelled']),
  content: Type.String(),
  mediaUrls: Type.Array(Type.String()),
  priceCents: Nullable(Type.Integer()),
  audience: Type.Unknown({ description: '{segment} as created, or {recipientCount} for an explicit list' }),
  sendAt: Nullable(Type.String({ format: 'date-time' })),
  run: Type.Integer({ description: 'the latest run; totals are this run’s (purchases and revenue: all runs)' }),
  totals: Totals,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const RecipientStatus = Type.Enum(['queued', 'sent', 'failed', 'skipped']);

export const ScheduleBody = Type.Object(
  {
    cron: Type.Optional(Type.String({ minLength: 9, maxLength: 100, description: 'five-field cron in the timezone, e.g. "0 9 * * 1-5"' })),
    every: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,4}(s|m|h|d)$', description: 'an interval: 30m, 12h, 7d (…s for seconds)' })),
    timezone: Type.String({ minLength: 1, maxLength: 64 }),
    startAt: Type.Optional(Type.String({ format: 'date-time' })),
    endAt: Type.Optional(Type.String({ format: 'date-time' })),
    maxRuns: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  },
  { additionalProperties: false },
);

export const ScheduleView = Type.Object({
  ...ScheduleBody.properties,
  paused: Type.Boolean(),
  remainingRuns: Nullable(Type.Integer()),
  nextRuns: Type.Array(Type.String({ format: 'date-time' })),
  recentRuns: Type.Array(Type.String({ format: 'date-time' })),
  skippedOverlapping: Type.Integer(),
});
