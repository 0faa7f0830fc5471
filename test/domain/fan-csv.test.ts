import { describe, expect, it } from 'vitest';
import {
  FAN_CSV_FIELDS,
  mapHeader,
  parseDate,
  parseFanRecord,
  parseMoneyCents,
  type ColumnMap,
  type ParsedFan,
} from '../../domain/fan-csv.js';

const OF_HEADER = ['Username', 'Display Name', 'Email', 'Subscription Tier', 'Total Spent', 'Last Seen'];
const standard: ColumnMap = { handle: 0, name: 1, email: 2, subscriptionTier: 3, valueCents: 4, lastSeenAt: 5 };

function columns(header: string[]): ColumnMap {
  const r = mapHeader(header);
  if (!r.ok) throw new Error(r.error);
  return r.columns;
}

describe('mapHeader', () => {
  it('lists the fields in header order', () => {
    expect(FAN_CSV_FIELDS).toEqual(['handle', 'name', 'email', 'subscriptionTier', 'valueCents', 'lastSeenAt']);
  });

  it.each<[string, string[], Partial<ColumnMap>]>([
    ['the OnlyFans export header', OF_HEADER, standard],
    ['a BOM, spaces and odd case', ['\uFEFFUsername', '  DISPLAY NAME ', 'email'], { handle: 0, name: 1, email: 2 }],
    [
      'snake, kebab and glued separators',
      ['user_name', 'display-name', 'E-Mail', 'subscription_tier', 'total_spent', 'last.seen'],
      standard,
    ],
    [
      'aliases in another order',
      ['Lifetime Value', 'Tier', 'Handle', 'Last Active', 'Name'],
      { valueCents: 0, subscriptionTier: 1, handle: 2, lastSeenAt: 3, name: 4 },
    ],
    ['more aliases', ['User Name', 'Spent', 'Email Address'], { handle: 0, valueCents: 1, email: 2 }],
    ['a unit suffix', ['Username', 'Total Spent (USD)'], { handle: 0, valueCents: 1 }],
    [
      'extra and empty columns ignored',
      ['Fan ID', '', 'Username', 'Country', 'Email'],
      { handle: 2, email: 4, name: undefined, valueCents: undefined },
    ],
    [
      'only a username',
      ['username'],
      { handle: 0, name: undefined, email: undefined, subscriptionTier: undefined, valueCents: undefined, lastSeenAt: undefined },
    ],
  ])('accepts %s', (_, header, expected) => {
    expect(columns(header)).toMatchObject(expected);
  });

  it.each<[string, string[], RegExp]>([
    ['no username column', ['Display Name', 'Email'], /no Username column/],
    ['an empty header', [], /no Username column/],
    ['a near miss', ['Usernames', 'Email'], /no Username column/],
    ['two username columns', ['Username', 'Email', 'Handle'], /columns 1 \("Username"\) and 3 \("Handle"\) are both Username/],
    ['the same column twice', ['Username', 'Email', 'email '], /columns 2 .* and 3 .* are both Email/],
    ['name and display name', ['Name', 'Username', 'Display_Name'], /are both Display Name/],
  ])('refuses %s', (_, header, error) => {
    const r = mapHeader(header);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });
});

describe('parseFanRecord', () => {
  const base: ParsedFan = { handle: 'alice', name: null, email: null, subscriptionTier: null, valueCents: null, lastSeenAt: null };

  it('parses a full OnlyFans row', () => {
    const r = parseFanRecord(['@Alice_99', 'Alice B.', 'Alice@Example.COM', 'VIP', '$1,234.56', 'Nov 1, 2026'], standard);
    expect(r).toEqual({
      ok: true,
      fan: {
        handle: 'alice_99',
        name: 'Alice B.',
        email: 'alice@example.com',
        subscriptionTier: 'VIP',
        valueCents: 123456,
        lastSeenAt: new Date('2026-11-01T00:00:00Z'),
      },
    });
  });

  it.each<[string, string[], ColumnMap, Partial<ParsedFan>]>([
    ['trimmed cells, empties as null', ['  alice ', ' ', '', '\t', '', ''], standard, base],
    ['a record shorter than the header', ['alice', 'Alice'], standard, { ...base, name: 'Alice' }],
    ['absent columns as null', ['x', 'alice', 'y'], columns(['Country', 'Username', 'Notes']), base],
    ['reordered columns', ['12', 'ALICE'], columns(['Spent', 'Handle']), { ...base, valueCents: 1200 }],
    ['a handle of 100 characters', ['a'.repeat(100)], standard, { handle: 'a'.repeat(100) }],
    ['only one leading @ removed', ['@@alice'], standard, { handle: '@alice' }],
    ['a quoted name with a comma and a newline', ['alice', 'Smith, Alice\nthe 2nd'], standard, { name: 'Smith, Alice\nthe 2nd' }],
    ['a name of 200 emoji', ['alice', '😀'.repeat(200)], standard, { name: '😀'.repeat(200) }],
    ['a plus-addressed email', ['alice', '', 'A.B+of@mail.Example.co.uk'], standard, { email: 'a.b+of@mail.example.co.uk' }],
    ['a zero spend', ['alice', '', '', '', '$0.00'], standard, { valueCents: 0 }],
    ['extra cells beyond the header', ['alice', '', '', '', '', '', 'extra', 'more'], standard, base],
  ])('accepts %s', (_, record, map, expected) => {
    const r = parseFanRecord(record, map);
    if (!r.ok) throw new Error(r.error);
    expect(r.fan).toMatchObject(expected);
  });

  it.each<[string, string[], string]>([
    ['an empty row', ['', ' ', '\t', '', '', ''], 'empty row'],
    ['a record with no cells', [], 'empty row'],
    ['no handle', ['', 'Alice', 'a@b.co'], 'Username: missing'],
    ['a lone @', ['@', 'Alice'], 'Username: missing'],
    ['whitespace inside the handle', ['ali ce'], 'Username: "ali ce" contains whitespace'],
    ['a tab inside the handle', ['ali\tce'], 'Username: "ali\\tce" contains whitespace'],
    ['a handle of 101 characters', ['a'.repeat(101)], 'Username: longer than 100 characters'],
    ['a name of 201 characters', ['alice', 'n'.repeat(201)], 'Display Name: longer than 200 characters'],
    ['a bad email', ['alice', '', 'not-an-email'], 'Email: "not-an-email" is not an email address'],
    ['an email without a dot in the domain', ['alice', '', 'a@localhost'], 'Email: "a@localhost" is not an email address'],
    ['an email with two @', ['alice', '', 'a@b@c.com'], 'Email: "a@b@c.com" is not an email address'],
    ['an email with a space', ['alice', '', 'a b@c.com'], 'Email: "a b@c.com" is not an email address'],
    ['an email too long', ['alice', '', `${'a'.repeat(64)}@${'b'.repeat(200)}.com`], 'Email: longer than 254 characters'],
    ['a long bad value, truncated', ['alice', '', 'x'.repeat(100)], `Email: "${'x'.repeat(40)}…" is not an email address`],
    ['a tier of 101 characters', ['alice', '', '', 't'.repeat(101)], 'Subscription Tier: longer than 100 characters'],
    ['a garbage amount', ['alice', '', '', '', '12abc'], 'Total Spent: "12abc" is not an amount'],
    ['a negative amount', ['alice', '', '', '', '-$5.00'], 'Total Spent: negative amounts are not allowed'],
    ['an accounting negative', ['alice', '', '', '', '(12.00)'], 'Total Spent: negative amounts are not allowed'],
    [
      'an amount over MAX_SAFE_INTEGER cents',
      ['alice', '', '', '', '$90,071,992,547,409.92'],
      'Total Spent: "$90,071,992,547,409.92" is too large',
    ],
    ['an impossible date', ['alice', '', '', '', '', '2026-02-30'], 'Last Seen: "2026-02-30" is not a valid date'],
    ['a garbage date', ['alice', '', '', '', '', 'yesterday'], 'Last Seen: "yesterday" is not a valid date'],
    ['a replacement character', ['alice', 'Al\uFFFDce'], 'Display Name: invalid UTF-8 bytes'],
    ['a NUL byte', ['ali\u0000ce'], 'Username: contains a NUL byte'],
    ['bad bytes in an ignored column', ['alice', '', '', '', '', '', '\uFFFD'], 'Column 7: invalid UTF-8 bytes'],
    // Hostile cells are refused on their length before any rule reads them.
    ['an amount of 300,000 characters', ['alice', '', '', '', '1 '.repeat(150_000)], 'Total Spent: longer than 100 characters'],
    [
      'a date of 300,000 characters',
      ['alice', '', '', '', '', `2026-01-01 10:00${' '.repeat(300_000)}x`],
      'Last Seen: longer than 100 characters',
    ],
    ['a handle of 300,000 characters', ['a'.repeat(300_000)], 'Username: longer than 1000 characters'],
    ['a long cell before a bad one', ['alice', 'n'.repeat(5_000), 'not-an-email'], 'Display Name: longer than 1000 characters'],
  ])('refuses %s', (_, record, error) => {
    expect(parseFanRecord(record, standard)).toEqual({ ok: false, error });
  });
});

describe('parseMoneyCents', () => {
  it.each<[string, number]>([
    ['$1,234.56', 123456],
    ['1234.5', 123450],
    ['€1.234,56', 123456],
    ['1 234,56 €', 123456],
    ['1\u00a0234,56\u00a0€', 123456], // no-break spaces, as French locales write them
    ['USD 12.00', 1200],
    ['12.00 EUR', 1200],
    ['usd12', 1200],
    ['US$ 5', 500],
    ['12', 1200],
    ['£0.99', 99],
    ['1,234', 123400], // three digits after the separator: grouping, never decimals
    ['1.234', 123400],
    ['12.345', 1234500],
    ['1,5', 150],
    ['1,234,567.89', 123456789],
    ['1.234.567,89', 123456789],
    ["1'234.50", 123450],
    ['.5', 50],
    ['0012', 1200],
    ['-0', 0],
    ['$90,071,992,547,409.91', Number.MAX_SAFE_INTEGER],
  ])('reads %s as %i cents', (raw, cents) => {
    expect(parseMoneyCents(raw)).toBe(cents);
  });

  it.each<[string, ReturnType<typeof parseMoneyCents>]>([
    ['12abc', 'invalid'],
    ['1,2,3.4.5', 'invalid'],
    ['1,234.567', 'invalid'],
    ['1,23,456', 'invalid'],
    ['1,234,56', 'invalid'],
    ['12.345.67', 'invalid'],
    ['1 2', 'invalid'],
    ['12.', 'invalid'],
    ['$', 'invalid'],
    ['abc', 'invalid'],
    ['12 XYZ', 'invalid'],
    ['$$12', 'invalid'],
    ['12-34', 'invalid'],
    ['1e5', 'invalid'],
    ['-12', 'negative'],
    ['$-12', 'negative'],
    ['12.00-', 'negative'],
    ['(12.00)', 'negative'],
    ['(€1.234,56)', 'negative'],
    ['\u221212', 'negative'],
    ['99999999999999999999', 'too large'],
  ])('refuses %s (%s)', (raw, why) => {
    expect(parseMoneyCents(raw)).toBe(why);
  });
});

describe('parseDate', () => {
  it.each<[string, string]>([
    ['2026-11-01', '2026-11-01T00:00:00.000Z'],
    ['2026-11-01T14:30:00Z', '2026-11-01T14:30:00.000Z'],
    ['2026-11-01T14:30:00.123456Z', '2026-11-01T14:30:00.123Z'],
    ['2026-11-01T14:30', '2026-11-01T14:30:00.000Z'], // no zone: UTC
    ['2026-11-01T14:30:00+02:00', '2026-11-01T12:30:00.000Z'],
    ['2026-11-01T14:30:00-0500', '2026-11-01T19:30:00.000Z'],
    ['2026-11-01 14:30', '2026-11-01T14:30:00.000Z'],
    ['2026-11-01 14:30:59', '2026-11-01T14:30:59.000Z'],
    ['2026-11-01 14:30 UTC', '2026-11-01T14:30:00.000Z'],
    ['Nov 1, 2026', '2026-11-01T00:00:00.000Z'],
    ['November 1, 2026', '2026-11-01T00:00:00.000Z'],
    ['Sept 30, 2026', '2026-09-30T00:00:00.000Z'],
    ['nov. 1st 2026', '2026-11-01T00:00:00.000Z'],
    ['Nov 1, 2026 at 3:04 PM', '2026-11-01T15:04:00.000Z'],
    ['1 Nov 2026', '2026-11-01T00:00:00.000Z'],
    ['01 November 2026 12:00 am', '2026-11-01T00:00:00.000Z'],
    ['11/01/2026', '2026-11-01T00:00:00.000Z'], // US order: November 1st
    ['2/29/2028', '2028-02-29T00:00:00.000Z'],
    ['11/01/2026 14:30', '2026-11-01T14:30:00.000Z'],
    ['11/01/2026, 2:30 pm', '2026-11-01T14:30:00.000Z'],
  ])('reads %s', (raw, iso) => {
    expect(parseDate(raw)?.toISOString()).toBe(iso);
  });

  it.each([
    '2026-02-30',
    '2027-02-29',
    '2026-13-01',
    '2026-00-10',
    '2026-11-31',
    '2026-11-01T24:00',
    '2026-11-01T12:60',
    '2026-11-01T12:00:60',
    '2026-11-01T12:00+15:00',
    '13/01/2026', // not a month: we don't guess day-first
    '02/30/2026',
    'Feb 30, 2026',
    'Foo 1, 2026',
    '1 Nov',
    '2026/11/01',
    '26-11-01',
    '2026-1-1',
    '11/01/26',
    '13:00 pm',
    'Nov 1, 2026 13:00 PM',
    '1730419200', // epoch seconds: ambiguous, refused
    'yesterday',
    'now',
  ])('refuses %s', (raw) => {
    expect(parseDate(raw)).toBeNull();
  });
});
