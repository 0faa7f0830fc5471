// Send fairness within one worker: a creator whose bridge hangs holds at most its own share of the
// worker's request slots, so another creator's message still goes out at once.
import { describe, expect, it } from 'vitest';
import { createSendSlots } from '../../activities/send-slots.js';
import { MAX_CONCURRENT_SENDS, MAX_CONCURRENT_SENDS_PER_CREATOR } from '../../domain/send-limits.js';

/** A request to a bridge that never answers, and a count of those that started. */
function hangingBridge() {
  const started = { n: 0 };
  const request = () => {
    started.n += 1;
    return new Promise<never>(() => {});
  };
  return { started, request };
}

async function within<T>(ms: number, promise: Promise<T>): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('send slots', () => {
  it("runs creator B's request at once while creator A's 50 requests hang", async () => {
    const slots = createSendSlots(MAX_CONCURRENT_SENDS, MAX_CONCURRENT_SENDS_PER_CREATOR);
    const a = hangingBridge();
    for (let i = 0; i < 50; i++) void slots('creator-a', a.request);
    const b = await within(
      1_000,
      slots('creator-b', async () => 'sent'),
    );
    expect(b).toBe('sent');
    // A holds only its share of the slots; the rest wait in A's own queue.
    const deadline = Date.now() + 2_000;
    while (a.started.n < MAX_CONCURRENT_SENDS_PER_CREATOR && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50)); // nothing more of A's starts
    expect(a.started.n).toBe(MAX_CONCURRENT_SENDS_PER_CREATOR);
  });

  it('keeps the shared cap across creators, each creator within its share, and runs every request', async () => {
    const slots = createSendSlots(MAX_CONCURRENT_SENDS, MAX_CONCURRENT_SENDS_PER_CREATOR);
    const creators = Math.ceil(MAX_CONCURRENT_SENDS / MAX_CONCURRENT_SENDS_PER_CREATOR) + 2;
    const running = new Map<string, number>();
    const releases: Array<() => void> = [];
    const total = () => [...running.values()].reduce((a, b) => a + b, 0);
    const job = (creator: string) => () =>
      new Promise<void>((resolve) => {
        running.set(creator, (running.get(creator) ?? 0) + 1);
        releases.push(() => {
          running.set(creator, running.get(creator)! - 1);
          resolve();
        });
      });
    let done = 0;
    const all = Array.from({ length: creators }, (_, c) => Array.from({ length: 10 }, () => slots(`creator-${c}`, job(`creator-${c}`))));
    for (const p of all.flat()) void p.then(() => (done += 1));
    const deadline = Date.now() + 5_000;
    const until = async (ok: () => boolean) => {
      while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    };
    await until(() => total() === MAX_CONCURRENT_SENDS);
    await new Promise((r) => setTimeout(r, 50)); // nothing more starts while the slots are held
    expect(total()).toBe(MAX_CONCURRENT_SENDS);
    expect(Math.max(...running.values())).toBeLessThanOrEqual(MAX_CONCURRENT_SENDS_PER_CREATOR);
    while (done < creators * 10 && Date.now() < deadline) {
      expect(total()).toBeLessThanOrEqual(MAX_CONCURRENT_SENDS);
      expect(Math.max(...running.values())).toBeLessThanOrEqual(MAX_CONCURRENT_SENDS_PER_CREATOR);
      for (const release of releases.splice(0)) release();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(done).toBe(creators * 10);
  });
});
