// The request slots of one worker process, shared by every creator's send batches. A request holds
// one of its creator's slots, then one of the shared ones: a creator whose bridge answers slowly
// holds at most its own share, and the other creators' messages still find free slots.
import Bottleneck from 'bottleneck';

export type SendSlots = <T>(creatorId: string, job: () => Promise<T>) => Promise<T>;

export function createSendSlots(shared: number, perCreator: number): SendSlots {
  const limiter = new Bottleneck({ maxConcurrent: shared });
  // A creator's limiter lives while it has requests running or waiting (not on an idle timer, as
  // Bottleneck.Group's would: one dropped with requests still queued would let a new one exceed the cap).
  const creators = new Map<string, { limiter: Bottleneck; jobs: number }>();
  return async (creatorId, job) => {
    let own = creators.get(creatorId);
    if (!own) {
      own = { limiter: new Bottleneck({ maxConcurrent: perCreator }), jobs: 0 };
      creators.set(creatorId, own);
    }
    own.jobs += 1;
    try {
      return await own.limiter.schedule(() => limiter.schedule(job));
    } finally {
      own.jobs -= 1;
      if (own.jobs === 0) creators.delete(creatorId);
    }
  };
}
