// The sandbox platform as tests see it: a creator's account there, its delivery log, and its
// control endpoints (blocks, outages, fan events).
import { and, eq } from 'drizzle-orm';
import { platformConnections } from '../../db/schema.js';
import { unsealConnection } from '../../domain/platform-connections.js';
import type { Harness } from './harness.js';

export interface Deliveries {
  deliveries: { idempotencyKey: string; requests: number; messageId: string; deliveredAt: string; fanHandle: string }[];
  rejectedForRate: number;
}

export function sandboxOf(h: Harness) {
  async function connection(creatorId: string, platform = 'onlyfans') {
    const row = await h.db.query.platformConnections.findFirst({
      where: and(eq(platformConnections.creatorId, creatorId), eq(platformConnections.platform, platform)),
    });
    if (!row) throw new Error(`no ${platform} connection for ${creatorId}`);
    return unsealConnection(row, h.config.CREDENTIALS_KEY);
  }
  async function control(path: string, init?: { method: string; body?: object }) {
    const res = await fetch(`${h.platformSandbox.url}${path}`, {
      method: init?.method ?? 'GET',
      headers: { 'content-type': 'application/json' },
      body: init?.body ? JSON.stringify(init.body) : undefined,
    });
    return res.status === 204 ? null : res.json();
  }
  const account = async (creatorId: string) => (await connection(creatorId)).credentials.accountId!;
  return {
    connection,
    control,
    deliveries: async (creatorId: string) => (await control(`/_sandbox/accounts/${await account(creatorId)}/deliveries`)) as Deliveries,
    fanEvent: async (creatorId: string, type: string, data: object) =>
      control(`/_sandbox/accounts/${await account(creatorId)}/events`, { method: 'POST', body: { type, data } }),
    block: async (creatorId: string, fanHandle: string) =>
      control(`/_sandbox/accounts/${await account(creatorId)}/blocks`, { method: 'POST', body: { fanHandle } }),
    unblock: async (creatorId: string, fanHandle: string) =>
      control(`/_sandbox/accounts/${await account(creatorId)}/blocks/${fanHandle}`, { method: 'DELETE' }),
    outage: async (creatorId: string, seconds: number) =>
      control(`/_sandbox/accounts/${await account(creatorId)}/outage`, { method: 'POST', body: { seconds } }),
  };
}
