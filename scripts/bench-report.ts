// Shared by the benchmark scripts: percentiles and the section they write into docs/BENCHMARKS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

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
