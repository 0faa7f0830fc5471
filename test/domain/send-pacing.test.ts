// The send queue's pacing arithmetic with made-up clocks: a queue whose batches all start late
// keeps its schedule (the loss that put a loaded CI run at 92 % busy), makes up missed slots only
// within the window, and does not burst after idling.
import { describe, expect, it } from 'vitest';
import { batchBudget, nextSlotAt, type Pacing, pacedFrom, type Usage, windowOpensAt } from '../../domain/send-pacing.js';

const LIMIT = { messages: 20, windowMs: 5_000 }; // a slot every 250 ms, four a batch

describe('send pacing', () => {
  it('keeps the schedule while a backlog waits, though every batch starts 100 ms late', () => {
    const start = 1_000_000;
    let pacing: Pacing | undefined;
    let usage: Usage[] = [];
    let now = start;
    let sent = 0;
    for (let batch = 0; batch < 60; batch++) {
      const backlogged = batch > 0;
      const budget = batchBudget(LIMIT, usage, pacing, backlogged, now);
      const from = pacedFrom(pacing, LIMIT, backlogged, now);
      expect(budget).toBeGreaterThan(0);
      sent += budget;
      // Its requests end 50 ms after the batch starts and are counted for a window from then.
      usage = [...usage.filter((u) => u.until > now), { until: now + 50 + LIMIT.windowMs, count: budget }];
      pacing = { from, count: budget };
      // The next batch starts 100 ms after its slot, or after the window opens, whichever is later.
      now = Math.max(nextSlotAt(pacing, LIMIT), windowOpensAt(usage, LIMIT, now)) + 100;
    }
    // 60 one-second batches: the schedule slipped by no more than the windows waited out (50 ms
    // and the 100 ms start each), not by 100 ms a batch (6 s).
    const elapsed = now - start;
    expect(sent / (elapsed / 1_000)).toBeGreaterThanOrEqual(0.95 * 4);
    expect(elapsed).toBeLessThan(60_000 + 12 * 150 + 1_000);
  });

  it('makes up the slots a late batch missed, within what the window has left', () => {
    const pacing = { from: 10_000, count: 4 }; // next slot at 11,000
    expect(batchBudget(LIMIT, [], pacing, true, 11_600)).toBe(4 + 2);
    const nearlyFull = [{ until: 14_000, count: 15 }];
    expect(batchBudget(LIMIT, nearlyFull, pacing, true, 11_600)).toBe(5);
    expect(batchBudget(LIMIT, [], pacing, true, 10_900)).toBe(0);
  });

  it('starts again from now after idling, without a burst', () => {
    const pacing = { from: 10_000, count: 4 };
    // Idle (no backlog) for three seconds: the missed slots are not owed.
    expect(pacedFrom(pacing, LIMIT, false, 14_000)).toBe(14_000);
    expect(batchBudget(LIMIT, [], pacing, false, 14_000)).toBe(4);
    // Backlogged but more than a window behind (a worker was down): the schedule restarts too.
    expect(pacedFrom(pacing, LIMIT, true, 17_000)).toBe(17_000);
    expect(batchBudget(LIMIT, [], pacing, true, 17_000)).toBe(4);
  });

  it('opens the window when enough of what it holds has left it', () => {
    const usage = [
      { until: 5_000, count: 12 },
      { until: 6_000, count: 8 },
    ];
    expect(windowOpensAt(usage, LIMIT, 1_000)).toBe(5_000);
    expect(windowOpensAt(usage.slice(1), LIMIT, 1_000)).toBe(1_000);
  });
});
