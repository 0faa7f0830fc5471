// The platform's commission on a creator's month (SPEC §7): marginal tiers by the month's gross,
// like income tax brackets (30 % of the first $5,000, 25 % of the part up to $20,000, 20 % above by
// default). Integer arithmetic only: rates are basis points, the exact commission is a sum of
// cents × basis points, and it is rounded half to even once, so commission + net = gross exactly.
// Pure: the API, the statements and the property tests all call these.

/** A tier: its rate applies to the part of the gross up to `upToCents` (null: no upper bound). */
export interface Tier {
  upToCents: number | null;
  /** Basis points: 3000 = 30 %. */
  rateBps: number;
}

export const DEFAULT_TIERS: Tier[] = [
  { upToCents: 500_000, rateBps: 3000 },
  { upToCents: 2_000_000, rateBps: 2500 },
  { upToCents: null, rateBps: 2000 },
];

const BPS = 10_000n;

/** Why a tier list cannot be used, or null: bounds strictly increasing, the last unbounded, rates 0–100 %. */
export function tiersProblem(tiers: Tier[]): string | null {
  if (tiers.length === 0 || tiers.length > 10) return 'between 1 and 10 tiers';
  for (const [i, t] of tiers.entries()) {
    if (!Number.isInteger(t.rateBps) || t.rateBps < 0 || t.rateBps > 10_000) return `tier ${i + 1}: the rate must be between 0 and 1`;
    const last = i === tiers.length - 1;
    if (last !== (t.upToCents === null)) return 'only the last tier is unbounded (upToCents: null)';
    if (t.upToCents !== null && (!Number.isSafeInteger(t.upToCents) || t.upToCents <= (i === 0 ? 0 : tiers[i - 1]!.upToCents!)))
      return `tier ${i + 1}: upToCents must be a whole number above the previous tier's`;
  }
  return null;
}

/** Half to even on n / d (d > 0): the banker's rounding of an exact quotient. */
export function divideHalfEven(n: bigint, d: bigint): bigint {
  const negative = n < 0n;
  const a = negative ? -n : n;
  let q = a / d;
  const twice = (a % d) * 2n;
  if (twice > d || (twice === d && q % 2n === 1n)) q += 1n;
  return negative ? -q : q;
}

export interface CommissionPart {
  fromCents: number;
  upToCents: number | null;
  rateBps: number;
  /** The gross inside this tier. */
  amountCents: number;
  /** This tier's share of the (once-rounded) commission; the parts add up to it. */
  commissionCents: number;
}

export interface Commission {
  grossCents: number;
  commissionCents: number;
  netCents: number;
  parts: CommissionPart[];
}

/**
 * The commission on a month's gross (a negative gross, refunds above sales, pays none). The
 * breakdown's per-tier commissions are the exact ones floored, with the cents the single rounding
 * adds given to the tiers with the largest remainders (ties to the lower tier), so they add up.
 */
export function commissionOn(grossCents: number, tiers: Tier[] = DEFAULT_TIERS): Commission {
  if (!Number.isSafeInteger(grossCents)) throw new RangeError('grossCents must be a safe integer');
  const gross = BigInt(Math.max(0, grossCents));
  let from = 0n;
  const exact: { part: Omit<CommissionPart, 'commissionCents'>; numerator: bigint }[] = [];
  for (const t of tiers) {
    const upTo = t.upToCents === null ? null : BigInt(t.upToCents);
    const amount = (upTo === null || gross < upTo ? gross : upTo) - from;
    const inside = amount > 0n ? amount : 0n;
    exact.push({
      part: { fromCents: Number(from), upToCents: t.upToCents, rateBps: t.rateBps, amountCents: Number(inside) },
      numerator: inside * BigInt(t.rateBps),
    });
    if (upTo === null) break;
    from = upTo;
  }
  const total = exact.reduce((sum, e) => sum + e.numerator, 0n);
  const commission = divideHalfEven(total, BPS);
  const floors = exact.map((e) => e.numerator / BPS);
  let left = commission - floors.reduce((a, b) => a + b, 0n);
  const byRemainder = exact
    .map((e, i) => ({ i, rest: e.numerator % BPS }))
    .sort((a, b) => (b.rest > a.rest ? 1 : b.rest < a.rest ? -1 : a.i - b.i));
  const extra = new Map<number, bigint>();
  for (const { i } of byRemainder) {
    if (left <= 0n) break;
    extra.set(i, 1n);
    left -= 1n;
  }
  const parts = exact.map((e, i) => ({ ...e.part, commissionCents: Number(floors[i]! + (extra.get(i) ?? 0n)) }));
  return { grossCents, commissionCents: Number(commission), netCents: grossCents - Number(commission), parts };
}

/** Commission over gross, for display (0 for a month without gross). */
export const effectiveRate = (c: Commission) => (c.grossCents > 0 ? c.commissionCents / c.grossCents : 0);
