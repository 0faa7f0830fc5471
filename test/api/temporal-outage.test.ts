// A Temporal that accepts connections and never answers, behind verify-email, accept-terms and the
// Stripe webhook: no request holds a database transaction (a pooled connection) while it waits on
// Temporal, each answers 200 once its fact is committed, and the onboarding sweep later delivers
// every signal that was lost, so the onboarding moves on step by step.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { createDb } from '../../db/client.js';
import { onboardingStatus, stripeEvents, users } from '../../db/schema.js';
import { createLogger } from '../../lib/logger.js';
import { taskQueue } from '../../lib/temporal.js';
import { startStripeStandin, type StandinEvent, type StripeStandin } from '../../standins/stripe/index.js';
import { sweepOnboardingWorkflow } from '../../workflows/maintenance.js';
import { bearer, login, registerUnverified, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const APP_NAME = `outage-${randomUUID().slice(0, 8)}`;

let h: Harness;
let quiet: StripeStandin;
let broken: FastifyInstance;
let hanging: net.Server;
let temporalCalls = 0; // calls the app made to the silent "Temporal"
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  // The Stripe stand-in only records its events: the test decides which reach which API.
  quiet = await startStripeStandin({ port: 0, webhookSecret: 'whsec_unused_no_endpoint' });
  h = await startHarness({ env: { STRIPE_STANDIN_PORT: new URL(quiet.url).port } });
  const sockets = new Set<net.Socket>();
  hanging = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(hanging.address() as net.AddressInfo).port}`;
  const counted = <I, O>(next: (input: I) => Promise<O>) => {
    temporalCalls += 1;
    return next;
  };
  const temporal = new Client({
    connection: Connection.lazy({ address }),
    namespace: h.config.TEMPORAL_NAMESPACE,
    interceptors: {
      workflow: [
        { start: (i, next) => counted(next)(i), signal: (i, next) => counted(next)(i), signalWithStart: (i, next) => counted(next)(i) },
      ],
    },
  });
  // Its own pool, named, so that pg_stat_activity shows this app's connections only.
  const url = new URL(h.config.DATABASE_URL);
  url.searchParams.set('application_name', APP_NAME);
  const { db, close } = createDb(url.toString(), { max: 3 });
  broken = await buildApp({ config: h.config, db, temporal, stripe: h.stripe, logger: createLogger(h.config, 'test') });
  closers.push(
    () => broken.close(),
    () => temporal.connection.close(),
    close,
    async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => hanging.close(resolve));
    },
  );
}, 60_000);
afterAll(async () => {
  for (const close of closers) await close().catch(() => {});
  await h?.close();
  await quiet?.close();
});

/** This app's connections that sit inside an open transaction. */
const idleInTransaction = async () => {
  const rows = await h.db.execute<{ pid: number }>(
    sql`select pid from pg_stat_activity where application_name = ${APP_NAME} and state like 'idle in transaction%'`,
  );
  return rows.length;
};

/**
 * Sends a request to the app whose Temporal hangs; once the request is waiting on Temporal (it made
 * a call and has no answer), no connection of that app may be in a transaction.
 */
async function duringOutage<R extends { statusCode: number; body: string }>(send: () => Promise<R>): Promise<R> {
  const before = temporalCalls;
  let answered = false;
  const response = send().finally(() => {
    answered = true;
  });
  await waitFor(() => temporalCalls > before || answered, 'the request to reach Temporal');
  expect(answered, 'the request waited on Temporal').toBe(false);
  expect(await idleInTransaction()).toBe(0);
  const res = await response;
  expect(res.statusCode, res.body).toBe(200);
  return res;
}

const sweep = () =>
  h.temporal.workflow.execute(sweepOnboardingWorkflow, {
    taskQueue: taskQueue(h.config, 'maintenance'),
    workflowId: `maintenance:sweep-onboarding:${randomUUID()}`,
  });

const stepOf = async (userId: string) =>
  (await h.db.query.onboardingStatus.findFirst({ where: eq(onboardingStatus.userId, userId) }))?.step;
const waitForStep = (userId: string, step: string) => waitFor(async () => (await stepOf(userId)) === step, `onboarding step ${step}`);

/**
 * Dates a fact 90 s back, as if lost a minute and a half ago: an age of 1 whole minute, a power of
 * two, so the sweep (which backs off to 1, 2, 4, 8… minutes of age) repairs it in this run.
 */
const LOST_90S_AGO = sql`now() - interval '90 seconds'`;
const age = (column: 'email_verified_at' | 'terms_accepted_at', userId: string) =>
  h.db.execute(sql`update users set ${sql.raw(column)} = ${LOST_90S_AGO} where id = ${userId}`);

const recorded = async (accountId: string): Promise<StandinEvent[]> => {
  const res = await fetch(`${quiet.url}/_standin/events?account=${accountId}&type=account.updated`);
  return ((await res.json()) as { events: { event: StandinEvent }[] }).events.map((e) => e.event);
};
const deliver = (app: FastifyInstance, event: object) => {
  const payload = JSON.stringify(event);
  const signature = h.stripe.webhooks.generateTestHeaderString({ payload, secret: h.config.STRIPE_WEBHOOK_SECRET });
  return app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    payload,
  });
};
const routedAt = async (eventId: string) => (await h.db.query.stripeEvents.findFirst({ where: eq(stripeEvents.id, eventId) }))?.routedAt;

describe('a Temporal outage during onboarding calls', () => {
  it('holds no transaction while Temporal hangs, and the sweep delivers every lost step', async () => {
    const { userId, email } = await registerUnverified(h);
    await waitForStep(userId, 'verify_email');
    const token = await h.tokenFromMail(email, /confirm|confirmez/i);

    // 1. Verify: committed, answered, the signal lost.
    await duringOutage(() => broken.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } }));
    expect((await h.db.query.users.findFirst({ where: eq(users.id, userId) }))?.emailVerifiedAt).not.toBeNull();
    expect(await stepOf(userId)).toBe('verify_email');
    await age('email_verified_at', userId);
    expect((await sweep()).emailVerified).toBeGreaterThanOrEqual(1);
    await waitForStep(userId, 'accept_terms');

    // 2. Terms.
    const auth = bearer((await login(h, email)).accessToken);
    await duringOutage(() =>
      broken.inject({ method: 'POST', url: '/api/v1/auth/accept-terms', headers: auth, payload: { termsVersion: '2025-01' } }),
    );
    expect((await h.db.query.users.findFirst({ where: eq(users.id, userId) }))?.termsAcceptedAt).not.toBeNull();
    expect(await stepOf(userId)).toBe('accept_terms');
    await age('terms_accepted_at', userId);
    expect((await sweep()).termsAccepted).toBeGreaterThanOrEqual(1);
    await waitForStep(userId, 'stripe_connect');

    // 3. Stripe: the account completes; its webhook reaches the API while Temporal hangs.
    const start = await h.app.inject({ method: 'POST', url: '/api/v1/stripe/connect/start', headers: auth, payload: {} });
    expect(start.statusCode, start.body).toBe(200);
    const accountId = start.json().accountId as string;
    await quiet.complete(accountId);
    const [completed] = await recorded(accountId);
    const res = await duringOutage(() => deliver(broken, completed!));
    expect(res.json()).toEqual({ received: true, duplicate: false });
    expect(await routedAt(completed!.id)).toBeNull();
    await h.db.execute(sql`update stripe_events set received_at = ${LOST_90S_AGO} where id = ${completed!.id}`);
    expect((await sweep()).stripeEvents).toBeGreaterThanOrEqual(1);
    await waitForStep(userId, 'activated');
    expect(await routedAt(completed!.id)).toBeInstanceOf(Date);
  });

  it('routes a redelivered event whose first routing was lost instead of dropping it as a duplicate', async () => {
    const { userId, email } = await registerUnverified(h);
    await h.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: await h.tokenFromMail(email, /confirm/i) } });
    const auth = bearer((await login(h, email)).accessToken);
    expect(
      (await h.app.inject({ method: 'POST', url: '/api/v1/auth/accept-terms', headers: auth, payload: { termsVersion: '1' } })).statusCode,
    ).toBe(200);
    const start = await h.app.inject({ method: 'POST', url: '/api/v1/stripe/connect/start', headers: auth, payload: {} });
    const accountId = start.json().accountId as string;
    await waitForStep(userId, 'stripe_connect');
    await quiet.complete(accountId);
    const [completed] = await recorded(accountId);

    await duringOutage(() => deliver(broken, completed!));
    expect(await routedAt(completed!.id)).toBeNull();
    // Stripe delivers it again (a retry, or its at-least-once delivery) to a healthy API.
    const again = await deliver(h.app, completed!);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ received: true, duplicate: true });
    expect(await routedAt(completed!.id)).toBeInstanceOf(Date);
    await waitForStep(userId, 'activated');
  });
});
