// `npm run chaos`: a mixed workload (onboardings through Stripe to activation, 1:1 sends, a
// campaign, a CSV import, inbound fan events) over HTTP while the API, the worker, the Temporal
// dev server and Postgres are SIGKILLed at random moments and restarted; then every piece of work
// is checked to have happened exactly once. Prints a table, writes it to docs/BENCHMARKS.md, and
// exits 1 if anything was lost, duplicated or left stuck. Replay a run with its CHAOS_SEED.
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../dev/toolchain.js';
import { writeBenchmarkSection } from './bench-report.js';
import { runChaos } from './chaos/run.js';
import { KILLABLE } from './chaos/stack.js';

const int = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
};

const options = {
  seed: int('CHAOS_SEED', Math.floor(Math.random() * 2 ** 31)),
  kills: int('CHAOS_KILLS', 24),
  minGapMs: int('CHAOS_MIN_GAP_MS', 3_000),
  maxGapMs: int('CHAOS_MAX_GAP_MS', 12_000),
  onboardings: int('CHAOS_ONBOARDINGS', 20),
  sends: int('CHAOS_SENDS', 400),
  inboundEvents: int('CHAOS_INBOUND_EVENTS', 200),
  campaignRecipients: int('CHAOS_CAMPAIGN_RECIPIENTS', 10_000),
  importRows: int('CHAOS_IMPORT_ROWS', 20_000),
  settleMs: int('CHAOS_SETTLE_MS', 300_000),
};
console.log(`chaos: seed ${options.seed} (CHAOS_SEED=${options.seed} replays the kill plan), ${options.kills} kills`);

const r = await runChaos({ ...options, dataDir: path.join(projectRoot, '.data', 'chaos', 'run') });
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : 0);
const rows: [string, string][] = [
  ['seed', String(r.seed)],
  ...KILLABLE.map((k): [string, string] => [
    `${k} SIGKILLs (median back in)`,
    `${r.killsByKind[k]} (${s(median(r.restartMs[k]))})${r.selfExits[k] ? `, ${r.selfExits[k]} exits by itself` : ''}`,
  ]),
  ['onboardings (register → … → activated)', String(options.onboardings)],
  ['1:1 sends', String(options.sends)],
  ['inbound fan events', String(options.inboundEvents)],
  ['campaign recipients', String(options.campaignRecipients)],
  ['CSV import rows', String(options.importRows)],
  ...Object.entries(r.facts).map(([k, v]): [string, string] => [k, String(v)]),
  ['HTTP requests (of which retries)', `${r.requests} (${r.retries})`],
  ['lost', String(r.lost)],
  ['duplicated', String(r.duplicated)],
  ['stuck workflows', String(r.stuck)],
  ['workload / total elapsed', `${s(r.workloadMs)} / ${s(r.elapsedMs)}`],
];
console.log('');
for (const [k, v] of rows) console.log(`${k.padEnd(45)} ${v}`);
for (const p of r.problems) console.log(`PROBLEM: ${p}`);

const command = `CHAOS_SEED=${r.seed} CHAOS_KILLS=${options.kills} npm run chaos`;
await writeBenchmarkSection(path.join(projectRoot, 'docs', 'BENCHMARKS.md'), 'chaos', {
  title: 'Chaos: SIGKILLs of the API, worker, Temporal and Postgres under a mixed workload',
  command,
  environment: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, embedded PostgreSQL 18, Temporal dev server on SQLite, shared with other work`,
  rows,
  notes: [
    `Kills every ${s(options.minGapMs)}–${s(options.maxGapMs)} (seeded); each kind is dealt from shuffled decks of the four. Postgres is`,
    'killed as a process group (its backends die with it); every killed process is restarted on the same port and data. Clients retry',
    'the same request with the same Idempotency-Key on network errors, 5xx, 429 and 409 idempotency_in_progress; inbound webhooks',
    'are re-sent (re-signed) until 2xx. Checks: one Stripe account and one welcome mail per onboarding, the sandbox delivery log',
    'holding each expected idempotency key once, campaign recipients = sent = deliveries, import rows once, inbound events once,',
    'no workflow open but the long-lived kinds (activated onboardings, send queues, maintenance) and none with a failing activity.',
    ...(r.problems.length ? ['', 'Problems found:', ...r.problems.map((p) => `- ${p}`)] : []),
  ].join('\n'),
});
process.exit(r.lost || r.duplicated || r.stuck || r.problems.length ? 1 : 0);
