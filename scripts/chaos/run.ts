// One chaos run: the stack, the workload spread over the kill plan, the killer, then the checks.
// Importable: `npm run chaos` (scripts/chaos.ts) and test/e2e/chaos.e2e.test.ts both call runChaos.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { projectRoot } from '../../dev/toolchain.js';
import { retryingClient, until } from './client.js';
import { KILLABLE, type Killable, startChaosStack } from './stack.js';
import { type Expected, type Verdict, verify } from './verify.js';
import { importCsv, inboundEvent, onboard, registerAndVerify, sendOne, senderCreator, startCampaign, uploadCsv } from './workload.js';

export interface ChaosOptions {
  seed: number;
  kills: number;
  /** Gap before each kill, drawn uniformly in [minGapMs, maxGapMs]. */
  minGapMs: number;
  maxGapMs: number;
  onboardings: number;
  sends: number;
  inboundEvents: number;
  campaignRecipients: number;
  importRows: number;
  /** How long the checks may wait for the system to converge after the workload is done. */
  settleMs: number;
  dataDir?: string;
  log?: (line: string) => void;
}

export interface ChaosResult extends Verdict {
  seed: number;
  plan: { kind: Killable; gapMs: number }[];
  killsByKind: Record<Killable, number>;
  selfExits: Record<Killable, number>;
  restartMs: Record<Killable, number[]>;
  workloadErrors: string[];
  requests: number;
  retries: number;
  elapsedMs: number;
  workloadMs: number;
}

/** mulberry32: a tiny seeded generator, so a run's kill plan can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Kinds dealt from shuffled decks of all four, so every kind is hit about kills/4 times; gaps uniform. */
export function killPlan(seed: number, kills: number, minGapMs: number, maxGapMs: number) {
  const rand = seededRandom(seed);
  const plan: { kind: Killable; gapMs: number }[] = [];
  while (plan.length < kills) {
    const deck = [...KILLABLE];
    for (let i = deck.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [deck[i], deck[j]] = [deck[j]!, deck[i]!];
    }
    for (const kind of deck) if (plan.length < kills) plan.push({ kind, gapMs: Math.round(minGapMs + rand() * (maxGapMs - minGapMs)) });
  }
  return plan;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = Date.now();
  const nonce = randomUUID().slice(0, 8);
  const stack = await startChaosStack({ dataDir: opts.dataDir ?? path.join(projectRoot, '.data', 'chaos', 'run'), log });
  try {
    log(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s: API ${stack.base}, Temporal ${stack.temporalAddress}`);
    const client = retryingClient(stack.base);

    // Set-up before the first kill: the creators that send, receive and import, and their fans.
    const sender = await senderCreator(client, stack.databaseUrl, `chaos-${nonce}-sender@example.com`, 50, 'direct');
    const campaigner = await senderCreator(
      client,
      stack.databaseUrl,
      `chaos-${nonce}-campaign@example.com`,
      opts.campaignRecipients,
      'camp',
    );
    const importer = await registerAndVerify(client, `chaos-${nonce}-import@example.com`, `setup-import-${nonce}`);
    log('creators and fans set up');

    const plan = killPlan(opts.seed, opts.kills, opts.minGapMs, opts.maxGapMs);
    const span = plan.reduce((n, k) => n + k.gapMs, 0);
    log(`seed ${opts.seed}: ${plan.map((k) => `${k.kind}+${(k.gapMs / 1000).toFixed(1)}s`).join(' ')}`);

    const expected: Expected = {
      onboardings: [],
      sends: { creatorId: sender.userId, messageIds: [] },
      campaign: undefined,
      imports: undefined,
      inbound: { creatorId: sender.userId, eventIds: [] },
    };
    const workloadErrors: string[] = [];
    const tasks: Promise<void>[] = [];
    const at = (ms: number, what: string, fn: () => Promise<void>) =>
      tasks.push(
        sleep(ms)
          .then(fn)
          .catch((err: unknown) => {
            workloadErrors.push(`${what}: ${(err as Error).message}`);
            log(`workload ${what} failed: ${(err as Error).message}`);
          }),
      );
    const spread = (n: number, i: number) => Math.round((span * i) / Math.max(1, n));
    const workStart = Date.now();

    for (let i = 0; i < opts.onboardings; i++)
      at(spread(opts.onboardings, i), `onboarding ${i}`, async () => {
        const email = `chaos-${nonce}-onboard-${i}@example.com`;
        const o = await onboard(client, email, `register-${nonce}-${i}`);
        expected.onboardings.push({ ...o, email });
      });
    for (let i = 0; i < opts.sends; i++)
      at(spread(opts.sends, i), `send ${i}`, async () => {
        const fan = sender.fans[i % sender.fans.length]!;
        expected.sends.messageIds.push(await sendOne(client, sender, fan.id, `send-${nonce}-${i}`));
      });
    for (let i = 0; i < opts.inboundEvents; i++)
      at(spread(opts.inboundEvents, i), `inbound ${i}`, async () => {
        const id = `chaos-in-${nonce}-${i}`;
        await inboundEvent(client, sender, sender.fans[(i * 7) % sender.fans.length]!.handle, id);
        expected.inbound.eventIds.push(id);
      });
    if (opts.campaignRecipients > 0)
      at(Math.round(span * 0.1), 'campaign', async () => {
        const c = await startCampaign(client, campaigner, 'camp', `campaign-${nonce}`);
        expected.campaign = { creatorId: campaigner.userId, campaignId: c.campaignId, recipients: opts.campaignRecipients };
        await until(
          'campaign completed',
          async () => {
            const a = await client.call('GET', `/api/v1/campaigns/${c.campaignId}`, { token: campaigner.token });
            return a.body?.status === 'completed' ? true : undefined;
          },
          1_200_000,
          2_000,
        );
      });
    if (opts.importRows > 0)
      at(Math.round(span * 0.3), 'import', async () => {
        expected.imports = { creatorId: importer.userId, importIds: [], rows: opts.importRows };
        const id = await uploadCsv(client, importer, importCsv(opts.importRows, `imp_${nonce}`));
        expected.imports.importIds.push(id);
        await until(
          'import completed',
          async () => {
            const a = await client.call('GET', `/api/v1/imports/${id}`, { token: importer.token });
            return a.body?.status === 'completed' ? true : undefined;
          },
          1_200_000,
          2_000,
        );
      });

    const killsByKind: Record<Killable, number> = { api: 0, worker: 0, temporal: 0, postgres: 0 };
    const restartMs: Record<Killable, number[]> = { api: [], worker: [], temporal: [], postgres: [] };
    const killer = (async () => {
      for (const [n, k] of plan.entries()) {
        await sleep(k.gapMs);
        const { downMs } = await stack.killAndRestart(k.kind);
        killsByKind[k.kind] += 1;
        restartMs[k.kind].push(downMs);
        log(`kill ${n + 1}/${plan.length}: ${k.kind} SIGKILLed, serving again after ${(downMs / 1000).toFixed(1)} s`);
      }
    })();
    await killer;
    log('kills done; waiting for the workload');
    await Promise.all(tasks);
    const workloadMs = Date.now() - workStart;
    log(`workload done in ${(workloadMs / 1000).toFixed(0)} s; checking`);

    // Settle: converging work (queued sends, a sweep's repair) may need a while; the checks are
    // repeated until clean or the settle time is up, and the last verdict stands.
    const settleUntil = Date.now() + opts.settleMs;
    let verdict: Verdict;
    for (;;) {
      verdict = await verify(stack, expected).catch(
        (err: unknown): Verdict => ({
          lost: 0,
          duplicated: 0,
          stuck: 1,
          problems: [`checks failed: ${(err as Error).message}`],
          facts: {},
        }),
      );
      if (verdict.problems.length === 0 || Date.now() > settleUntil) break;
      await sleep(5_000);
    }
    return {
      ...verdict,
      problems: [...verdict.problems, ...workloadErrors.map((e) => `client gave up: ${e}`)],
      lost: verdict.lost + workloadErrors.length,
      seed: opts.seed,
      plan,
      killsByKind,
      selfExits: { ...stack.selfExits },
      restartMs,
      workloadErrors,
      requests: client.stats.requests,
      retries: client.stats.retries,
      elapsedMs: Date.now() - t0,
      workloadMs,
    };
  } finally {
    await stack.stop();
  }
}
