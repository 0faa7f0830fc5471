// A closed statement as the files a creator downloads: CSV (one row per line item, then the
// totals) and PDF (pdfkit). Both are drawn from the stored statement only, so they never disagree
// with its JSON or its hash.
import { stringify } from 'csv-stringify/sync';
import PDFDocument from 'pdfkit';
import type { Statement } from './statements.js';

const money = (cents: number, currency: string) =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(cents / 100);

const totals = (s: Statement): [string, number][] => [
  ['gross', s.grossCents],
  ['refunds and chargebacks', -s.refundsCents],
  ['carried in', s.carriedInCents],
  ['commission', -s.commissionCents],
  ['net', s.netCents],
  ['reversed transfers owed', s.reversalsCents],
  ['payable', s.payableCents],
  ['carried to next month', s.carriedOutCents],
];

export function statementCsv(s: Statement): string {
  const rows: (string | number)[][] = [['occurredAt', 'kind', 'type', 'source', 'amountCents', 'currency']];
  for (const l of s.content.lines) rows.push([l.occurredAt, l.kind, l.revenueType ?? '', l.source, l.amountCents, s.currency]);
  for (const [label, cents] of totals(s)) rows.push(['', 'total', label, '', cents, s.currency]);
  return stringify(rows);
}

export function statementPdf(s: Statement): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Statement ${s.month}`, Subject: s.contentHash } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.fontSize(18).text(`Statement ${s.month} (${s.currency.toUpperCase()})`);
  doc.moveDown(0.5).fontSize(9).fillColor('#555').text(`Closed ${s.closedAt.toISOString()}  ·  SHA-256 ${s.contentHash}`);
  doc.moveDown().fillColor('#000').fontSize(11);
  for (const [label, cents] of totals(s)) doc.text(`${label.padEnd(26, ' ')} ${money(cents, s.currency)}`, { characterSpacing: 0 });
  doc.moveDown().fontSize(12).text(`Line items (${s.content.lines.length})`);
  doc.moveDown(0.3).fontSize(8);
  for (const l of s.content.lines)
    doc.text(
      `${l.occurredAt.slice(0, 10)}  ${l.kind}${l.revenueType ? `:${l.revenueType}` : ''}  ${money(l.amountCents, s.currency)}  ${l.source}`,
    );
  doc.end();
  return done;
}
