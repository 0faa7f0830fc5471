// The send queue's rate-limit arithmetic for one platform account, pure so that the workflow
// bundle imports it and a unit test can drive it with made-up clocks. workflows/send-queue.ts says
// why the window and the pacing are what they are.
import { SEND_BATCH_MAX } from './send-limits.js';

export interface PlatformLimit {
  messages: number;
  windowMs: number;
}

/** Requests the platform may still count: `count` of them leave its window at `until` (epoch ms). */
export interface Usage {
  until: number;
  count: number;
}

/** The last batch's requests, paced from `from`: the next slot opens `count` intervals later. */
export interface Pacing {
  from: number;
  count: number;
}

/** Requests still inside the window at `now`. */
export const usedAt = (usage: Usage[] | undefined, now: number) => (usage ?? []).reduce((n, u) => (u.until > now ? n + u.count : n), 0);

/** The earliest instant at which `limit` allows one more request. */
export function windowOpensAt(usage: Usage[] | undefined, limit: PlatformLimit, now: number): number {
  const live = (usage ?? []).filter((u) => u.until > now).sort((a, b) => a.until - b.until);
  let inWindow = live.reduce((n, u) => n + u.count, 0);
  for (const u of live) {
    if (inWindow < limit.messages) break;
    inWindow -= u.count;
    if (inWindow < limit.messages) return u.until;
  }
  return now;
}

/** When pacing lets the account take its next request, at its current limit (which may have changed). */
export const nextSlotAt = (pacing: Pacing | undefined, limit: PlatformLimit): number =>
  pacing ? pacing.from + (pacing.count * limit.windowMs) / limit.messages : 0;

/**
 * The slot a batch starting at `now` is paced from. While a backlog waits the schedule is kept, so
 * a batch that starts late (timers fire after the workflow task that set them completes; a loaded
 * worker adds more) does not push every later slot back. Idle, or over a window behind, the
 * schedule starts again from now.
 */
export function pacedFrom(pacing: Pacing | undefined, limit: PlatformLimit, backlogged: boolean, now: number): number {
  const slot = nextSlotAt(pacing, limit);
  return backlogged && now - slot < limit.windowMs ? slot : Math.max(slot, now);
}

/**
 * How many requests the account may take at `now`: one second's worth of slots, plus the slots a
 * late start missed, within what the window has left. Nothing before the next slot.
 */
export function batchBudget(
  limit: PlatformLimit,
  usage: Usage[] | undefined,
  pacing: Pacing | undefined,
  backlogged: boolean,
  now: number,
) {
  if (nextSlotAt(pacing, limit) > now) return 0;
  const perSecond = Math.max(1, Math.floor((limit.messages * 1000) / limit.windowMs));
  const missed = Math.floor(((now - pacedFrom(pacing, limit, backlogged, now)) * limit.messages) / limit.windowMs);
  return Math.max(0, Math.min(limit.messages - usedAt(usage, now), perSecond + missed, SEND_BATCH_MAX));
}
