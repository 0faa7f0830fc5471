/**
 * Fan CSV import, the pure layer (SPEC §3): header cells → column map, and one record (string[], as
 * csv-parse yields it after handling BOM/CRLF/quotes) → a fan row or a short error naming the column.
 * The caller adds the row number to errors and keeps existing values where a field is null.
 */

export const FAN_CSV_FIELDS = ['handle', 'name', 'email', 'subscriptionTier', 'valueCents', 'lastSeenAt'] as const;
export type FanCsvField = (typeof FAN_CSV_FIELDS)[number];

/** Column index of each field in the record, or undefined when the file has no such column. */
export type ColumnMap = Record<FanCsvField, number | undefined>;

export type ParsedFan = {
  handle: string;
  name: string | null;
  email: string | null;
  subscriptionTier: string | null;
  valueCents: number | null;
  lastSeenAt: Date | null;
};

type Result<T> = ({ ok: true } & T) | { ok: false; error: string };

/** The names used in error messages: those of the OnlyFans export header. */
const LABELS: Record<FanCsvField, string> = {
  handle: 'Username',
  name: 'Display Name',
  email: 'Email',
  subscriptionTier: 'Subscription Tier',
  valueCents: 'Total Spent',
  lastSeenAt: 'Last Seen',
};

/** Accepted header names, already normalized (see normalizeHeader). */
const ALIASES: Record<FanCsvField, readonly string[]> = {
  handle: ['username', 'handle', 'user', 'fanusername', 'fanhandle'],
  name: ['displayname', 'name', 'fullname', 'fanname'],
  email: ['email', 'emailaddress', 'mail'],
  subscriptionTier: ['subscriptiontier', 'tier', 'plan'],
  valueCents: ['totalspent', 'spent', 'totalspend', 'lifetimevalue', 'ltv', 'value'],
  lastSeenAt: ['lastseen', 'lastactive', 'lastseenat', 'lastactivity', 'lastonline'],
};

// "Display Name" = "display_name" = "DisplayName" = " Display-Name "; a unit suffix like "(USD)" is dropped.
// A cell too long to be a column name matches none (and never reaches the regular expressions).
function normalizeHeader(cell: string): string {
  if (cell.length > 200) return '';
  return cell
    .replace(/^\uFEFF/, '')
    .replace(/\(.*\)/g, '')
    .toLowerCase()
    .replace(/[\s_.-]+/g, '');
}

export function mapHeader(header: string[]): Result<{ columns: ColumnMap }> {
  const columns: ColumnMap = {
    handle: undefined,
    name: undefined,
    email: undefined,
    subscriptionTier: undefined,
    valueCents: undefined,
    lastSeenAt: undefined,
  };
  for (const [index, cell] of header.entries()) {
    const key = normalizeHeader(cell);
    const field = FAN_CSV_FIELDS.find((f) => ALIASES[f].includes(key));
    if (!field) continue; // extra columns are ignored
    const seen = columns[field];
    if (seen !== undefined) {
      return {
        ok: false,
        error: `Header: columns ${seen + 1} (${show(header[seen] ?? '')}) and ${index + 1} (${show(cell)}) are both ${LABELS[field]}`,
      };
    }
    columns[field] = index;
  }
  if (columns.handle === undefined) {
    return { ok: false, error: 'Header: no Username column (accepted names: Username, Handle, User Name, User)' };
  }
  return { ok: true, columns };
}

/**
 * The longest cell of a known column that is read further (the field limits below are shorter). A
 * hostile file's cell of hundreds of thousands of characters is refused here in time linear in its
 * length, before any rule or regular expression sees it.
 */
export const MAX_CELL_CHARS = 1_000;
/** Money and dates are short: a longer cell is not one, whatever it holds. */
const MAX_AMOUNT_OR_DATE_CHARS = 100;

export function parseFanRecord(record: string[], columns: ColumnMap): Result<{ fan: ParsedFan }> {
  for (const field of FAN_CSV_FIELDS) {
    const index = columns[field];
    const raw = index === undefined ? undefined : record[index];
    const max = field === 'valueCents' || field === 'lastSeenAt' ? MAX_AMOUNT_OR_DATE_CHARS : MAX_CELL_CHARS;
    if (raw !== undefined && raw.length > max) return { ok: false, error: `${LABELS[field]}: longer than ${max} characters` };
  }
  if (record.every((c) => c.trim() === '')) return { ok: false, error: 'empty row' };

  // A decoder puts U+FFFD where the file had non-UTF-8 bytes; the value would be silently corrupt.
  for (const [index, cell] of record.entries()) {
    const bad = cell.includes('\uFFFD') ? 'invalid UTF-8 bytes' : cell.includes('\u0000') ? 'contains a NUL byte' : null;
    if (bad) {
      const field = FAN_CSV_FIELDS.find((f) => columns[f] === index);
      return { ok: false, error: `${field ? LABELS[field] : `Column ${index + 1}`}: ${bad}` };
    }
  }

  const cell = (field: FanCsvField): string | null => {
    const index = columns[field];
    const value = index === undefined ? '' : (record[index] ?? '').trim(); // a short record just has empty cells
    return value === '' ? null : value;
  };
  const fail = (field: FanCsvField, why: string) => ({ ok: false as const, error: `${LABELS[field]}: ${why}` });

  // OnlyFans usernames are case-insensitive, so handles are stored lower-case: "@Alice" and "alice" are one fan.
  const rawHandle = cell('handle');
  const handle = rawHandle?.replace(/^@/, '').toLowerCase() ?? '';
  if (handle === '') return fail('handle', 'missing');
  if (/\s/u.test(handle)) return fail('handle', `${show(rawHandle ?? '')} contains whitespace`);
  if (length(handle) > 100) return fail('handle', 'longer than 100 characters');

  const name = cell('name');
  if (name !== null && length(name) > 200) return fail('name', 'longer than 200 characters');

  const rawEmail = cell('email');
  let email: string | null = null;
  if (rawEmail !== null) {
    if (rawEmail.length > 254) return fail('email', 'longer than 254 characters');
    if (!EMAIL.test(rawEmail)) return fail('email', `${show(rawEmail)} is not an email address`);
    email = rawEmail.toLowerCase(); // mail providers treat the local part case-insensitively in practice
  }

  const subscriptionTier = cell('subscriptionTier');
  if (subscriptionTier !== null && length(subscriptionTier) > 100) return fail('subscriptionTier', 'longer than 100 characters');

  const rawMoney = cell('valueCents');
  let valueCents: number | null = null;
  if (rawMoney !== null) {
    const money = parseMoneyCents(rawMoney);
    if (typeof money === 'string')
      return fail(
        'valueCents',
        money === 'negative'
          ? 'negative amounts are not allowed'
          : money === 'too large'
            ? `${show(rawMoney)} is too large`
            : `${show(rawMoney)} is not an amount`,
      );
    valueCents = money;
  }

  const rawDate = cell('lastSeenAt');
  let lastSeenAt: Date | null = null;
  if (rawDate !== null) {
    lastSeenAt = parseDate(rawDate);
    if (!lastSeenAt) return fail('lastSeenAt', `${show(rawDate)} is not a valid date`);
  }

  return { ok: true, fan: { handle, name, email, subscriptionTier, valueCents, lastSeenAt } };
}

// The WHATWG <input type=email> rule, but the domain needs a dot: fans don't live at user@localhost.
// Internationalized (non-ASCII) addresses are refused; they are vanishingly rare in fan exports.
const EMAIL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

const CURRENCY_CODES = 'USD|EUR|GBP|CAD|AUD|NZD|CHF|JPY|SEK|NOK|DKK|PLN|CZK|BRL|MXN|INR|ZAR';
// Optional currency before and/or after: "$", "US$", "USD ", " €", " EUR". The number part (spaces
// around it included, trimmed by the caller) is checked below. One greedy class between two bounded
// affixes: no two quantifiers compete for the same characters, so matching time is linear.
const MONEY = new RegExp(`^(?:${CURRENCY_CODES}|[A-Z]{0,2}\\p{Sc})?([\\d.,'\\s]*)(?:\\p{Sc}|${CURRENCY_CODES})?$`, 'iu');

/** Integer cents, or why not. Exported for the tests and for any other money cell. */
export function parseMoneyCents(raw: string): number | 'negative' | 'invalid' | 'too large' {
  let s = raw.trim();
  // Accounting exports write refunds as (12.00); either way a lifetime spend can't be negative.
  // A sign is only a minus before the first digit ("-$5", "$-5") or after the last ("5.00-"); any other is garbage.
  const sign = /^\((.*)\)$/.exec(s) ?? /^([^\d\u2212-]*)[\u2212-](.*)$/.exec(s) ?? /^(.*\d[^\d\u2212-]*)[\u2212-]$/.exec(s);
  const negative = sign !== null;
  if (sign) s = sign.slice(1).join('');
  const number = MONEY.exec(s.trim())?.[1]?.trim();
  if (!number) return 'invalid';

  // The decimal separator is the last "," or "." followed by exactly 1-2 digits at the end; anything else
  // ("1,234", "1.234.567") is thousands grouping, so "€1.234,56" and "$1,234.56" both read 1234.56.
  const decimal = /([.,])(\d{1,2})$/.exec(number);
  const whole = decimal ? number.slice(0, decimal.index) : number;
  const fraction = decimal?.[2] ?? '';
  // Grouping must be regular (1-3 digits, then groups of 3) with one separator other than the decimal one.
  const grouped = /^\d{1,3}(?:([,.'\s])\d{3})(?:\1\d{3})*$/u.exec(whole);
  if (!/^\d*$/.test(whole) && !(grouped && grouped[1] !== decimal?.[1])) return 'invalid';
  if (whole === '' && fraction === '') return 'invalid';

  const cents = BigInt(whole.replace(/\D/g, '') || '0') * 100n + BigInt(fraction.padEnd(2, '0'));
  if (negative) return cents === 0n ? 0 : 'negative';
  return cents > BigInt(Number.MAX_SAFE_INTEGER) ? 'too large' : Number(cents);
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
// An optional time after the date: `T10:00`, ` 10:00:05.123 pm`, `, at 9:30 UTC`, with an offset.
const TIME =
  String.raw`(?:(?:T|,?\s+(?:at\s+)?)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?` +
  String.raw`(?:\s*(am|pm))?(?:\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?)?`;
const ISO = new RegExp(String.raw`^(\d{4})-(\d{2})-(\d{2})${TIME}$`, 'i');
// US order: OnlyFans is a US company and its exports write 11/01/2026 for November 1st.
const US = new RegExp(String.raw`^(\d{1,2})/(\d{1,2})/(\d{4})${TIME}$`, 'i');
const MONTH_FIRST = new RegExp(String.raw`^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})${TIME}$`, 'i'); // Nov 1, 2026
const DAY_FIRST = new RegExp(String.raw`^(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})${TIME}$`, 'i'); // 1 Nov 2026

/**
 * ISO 8601 date or date-time (a missing zone means UTC; a space may replace the T), MM/DD/YYYY, and
 * English month names ("Nov 1, 2026", "1 November 2026"), each with an optional time. Impossible dates
 * (2026-02-30, 25:00) give null rather than rolling over as Date.UTC would.
 */
export function parseDate(raw: string): Date | null {
  const s = raw.trim();
  let m: RegExpExecArray | null;
  let y: string, mo: number, d: string, time: (string | undefined)[];
  if ((m = ISO.exec(s))) [y, mo, d, time] = [m[1]!, Number(m[2]), m[3]!, m.slice(4)];
  else if ((m = US.exec(s))) [y, mo, d, time] = [m[3]!, Number(m[1]), m[2]!, m.slice(4)];
  else if ((m = MONTH_FIRST.exec(s))) [y, mo, d, time] = [m[3]!, monthNumber(m[1]!), m[2]!, m.slice(4)];
  else if ((m = DAY_FIRST.exec(s))) [y, mo, d, time] = [m[3]!, monthNumber(m[2]!), m[1]!, m.slice(4)];
  else return null;

  const [hh, mm, ss, frac, ampm, zone] = time;
  let hour = Number(hh ?? 0);
  if (ampm) {
    if (hour < 1 || hour > 12) return null;
    hour = (hour % 12) + (ampm.toLowerCase() === 'pm' ? 12 : 0);
  }
  const year = Number(y),
    day = Number(d),
    minute = Number(mm ?? 0),
    second = Number(ss ?? 0);
  if (mo < 1 || mo > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const ms = Date.UTC(year, mo - 1, day, hour, minute, second, Number((frac ?? '0').slice(0, 3).padEnd(3, '0')));
  const date = new Date(ms);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== day) return null; // Feb 30 rolled over

  const offset = zoneMinutes(zone);
  return offset === null ? null : new Date(ms - offset * 60_000);
}

/** 0 when absent or Z/UTC/GMT; null when out of range. */
function zoneMinutes(zone: string | undefined): number | null {
  const m = zone ? /^([+-])(\d{2}):?(\d{2})?$/.exec(zone) : null;
  if (!m) return 0;
  const hours = Number(m[2]),
    minutes = Number(m[3] ?? 0);
  if (hours > 14 || minutes > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** 1-12 for a full English month name, its 3-letter abbreviation or "Sept"; 0 (invalid) otherwise. */
function monthNumber(word: string): number {
  const w = word.toLowerCase();
  return MONTHS.findIndex((full) => w === full || w === full.slice(0, 3) || (w === 'sept' && full === 'september')) + 1;
}

/** Length in characters (code points), not UTF-16 units, so an emoji counts as one. */
function length(s: string): number {
  return [...s].length;
}

/** A cell echoed in an error: quoted, escaped, cut to ~40 characters. */
function show(value: string): string {
  const chars = [...value];
  return JSON.stringify(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : value);
}
