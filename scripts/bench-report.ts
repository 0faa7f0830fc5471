// Shared by the benchmark scripts: percentiles and the section they write into docs/BENCHMARKS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A numeric setting of a benchmark: the environment variable, else its default. */
export const envNumber = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Open loop: requests leave on a fixed schedule whatever the answers do, so a slow server shows up
 * as latency instead of silently lowering the offered rate. A non-200 answer counts as an error.
 */
export async function atFixedRate(rate: number, seconds: number, request: (i: number) => Promise<Response>) {
  const latencies: number[] = [];
  let errors = 0;
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      (async () => {
        const t0 = performance.now();
        const res = await request(i);
        await res.arrayBuffer();
        if (res.status !== 200) errors += 1;
        latencies.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(inflight);
  return { latencies, errors, achievedRate: total / ((performance.now() - started) / 1000) };
}

/** One request of a mixed load: its route (for the per-route figures) and the status that means success. */
export interface MixedRequest {
  route: string;
  expect: number;
  send: () => Promise<Response>;
}

export interface RouteStats {
  /** The status that means success on this route. */
  expect: number;
  latencies: number[];
  /** Answers by status code, the expected one included. */
  statuses: Map<number, number>;
  /** Requests that got no answer (connection error, client timeout). */
  failed: number;
}

/**
 * atFixedRate for a mix of routes: `pick(i)` says what request i is. Per route: latencies and the
 * answers by status. `lagMs` is how late each request left against its schedule (the load
 * generator's own delay: if it grows, the generator, not the server, limits the rate).
 */
export async function atFixedRateMix(rate: number, seconds: number, pick: (i: number) => MixedRequest) {
  const routes = new Map<string, RouteStats>();
  const lagMs: number[] = [];
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const { route, expect, send } = pick(i);
    let stats = routes.get(route);
    if (!stats) routes.set(route, (stats = { expect, latencies: [], statuses: new Map(), failed: 0 }));
    const t0 = performance.now();
    lagMs.push(Math.max(0, t0 - due));
    inflight.push(
      (async () => {
        try {
          const res = await send();
          await res.arrayBuffer();
          stats.statuses.set(res.status, (stats.statuses.get(res.status) ?? 0) + 1);
          stats.latencies.push(performance.now() - t0);
        } catch {
          stats.failed += 1;
        }
      })(),
    );
  }
  const sentSeconds = (performance.now() - started) / 1000;
  await Promise.all(inflight);
  const cpu = process.cpuUsage(cpu0);
  return {
    routes,
    lagMs,
    total,
    achievedRate: total / sentSeconds,
    /** The generator's CPU over the run, as a share of one core. */
    generatorCpu: (cpu.user + cpu.system) / 1e6 / ((performance.now() - started) / 1000),
  };
}

/** Replaces (or appends) the section between `<!-- bench:NAME -->` markers. */
export async function writeBenchmarkSection(
  file: string,
  name: string,
  report: { title: string; command: string; environment: string; rows: [string, string][]; notes?: string },
): Promise<void> {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const section = [
    start,
    `## ${report.title}`,
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with:`,
    '',
    '```',
    report.command,
    '```',
    '',
    `Environment: ${report.environment}.`,
    '',
    '| measure | value |',
    '|---|---|',
    ...report.rows.map(([k, v]) => `| ${k} | ${v} |`),
    ...(report.notes ? ['', report.notes] : []),
    end,
  ].join('\n');
  const current = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nFigures written by the benchmark scripts (`npm run bench:*`); each section names the command that produced it.\n';
  const pattern = new RegExp(`${start}[\\s\\S]*?${end}`);
  writeFileSync(file, pattern.test(current) ? current.replace(pattern, section) : `${current.trimEnd()}\n\n${section}\n`);
  console.log(`wrote ${file} (section ${name})`);
}
