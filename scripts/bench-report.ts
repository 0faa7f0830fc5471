// Shared by the benchmark scripts: percentiles and the section they write into docs/BENCHMARKS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
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
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nFigures written by the benchmark scripts (`npm run bench:*`); each section names the command that produced it.\n';
  const pattern = new RegExp(`${start}[\\s\\S]*?${end}`);
  writeFileSync(file, pattern.test(current) ? current.replace(pattern, section) : `${current.trimEnd()}\n\n${section}\n`);
  console.log(`wrote ${file} (section ${name})`);
}
