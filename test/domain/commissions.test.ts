import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commissionOn, DEFAULT_TIERS, divideHalfEven, type Tier, tiersProblem } from '../../domain/commissions.js';

/** Valid tier lists: 1–6 tiers, increasing bounds, the last unbounded, any rates. */
const tierLists = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 1, max: 10_000_000 }), { maxLength: 5 }),
    fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 6, maxLength: 6 }),
  )
  .map(([bounds, rates]): Tier[] => {
    const sorted = [...bounds].sort((a, b) => a - b);
    return [...sorted.map((upToCents, i) => ({ upToCents, rateBps: rates[i]! })), { upToCents: null, rateBps: rates[sorted.length]! }];
  });
const gross = fc.integer({ min: 0, max: 1_000_000_000_00 });

describe('commission maths', () => {
  it('takes 30 % of the first $5,000, 25 % up to $20,000 and 20 % above, marginally', () => {
    const c = commissionOn(3_000_000);
    expect(c).toMatchObject({ grossCents: 3_000_000, commissionCents: 150_000 + 375_000 + 200_000, netCents: 3_000_000 - 725_000 });
    expect(c.parts.map((p) => [p.fromCents, p.upToCents, p.amountCents, p.commissionCents])).toEqual([
      [0, 500_000, 500_000, 150_000],
      [500_000, 2_000_000, 1_500_000, 375_000],
      [2_000_000, null, 1_000_000, 200_000],
    ]);
  });

  it('rounds half to even once, over the whole month', () => {
    expect(divideHalfEven(25n, 10n)).toBe(2n);
    expect(divideHalfEven(35n, 10n)).toBe(4n);
    expect(divideHalfEven(-25n, 10n)).toBe(-2n);
    expect(divideHalfEven(26n, 10n)).toBe(3n);
    // 5 cents at 30 % = 1.5 → 2; 15 cents = 4.5 → 4 (half to even), not 5.
    expect(commissionOn(5).commissionCents).toBe(2);
    expect(commissionOn(15).commissionCents).toBe(4);
    // Per-tier rounding would give 150,000.3 → 150,000 and 0.25 → 0; once: 150,000.55 → 150,001.
    const tiers: Tier[] = [
      { upToCents: 500_001, rateBps: 3000 },
      { upToCents: null, rateBps: 2500 },
    ];
    const c = commissionOn(500_002, tiers);
    expect(c.commissionCents).toBe(150_001);
    expect(c.parts.reduce((s, p) => s + p.commissionCents, 0)).toBe(c.commissionCents);
  });

  it('pays nothing on a month whose refunds passed its sales, and carries the negative net', () => {
    expect(commissionOn(-1_234)).toMatchObject({ commissionCents: 0, netCents: -1_234 });
  });

  it('refuses tier lists that cannot be meant', () => {
    expect(tiersProblem(DEFAULT_TIERS)).toBeNull();
    expect(tiersProblem([])).toMatch(/between 1 and 10/);
    expect(tiersProblem([{ upToCents: 100, rateBps: 1000 }])).toMatch(/unbounded/);
    expect(
      tiersProblem([
        { upToCents: null, rateBps: 1000 },
        { upToCents: null, rateBps: 1000 },
      ]),
    ).toMatch(/unbounded/);
    expect(
      tiersProblem([
        { upToCents: 100, rateBps: 1000 },
        { upToCents: 50, rateBps: 1000 },
        { upToCents: null, rateBps: 0 },
      ]),
    ).toMatch(/above/);
    expect(tiersProblem([{ upToCents: null, rateBps: 10_001 }])).toMatch(/between 0 and 1/);
  });

  describe('properties', () => {
    it('commission + net = gross, and the breakdown adds up to both', () => {
      fc.assert(
        fc.property(tierLists, gross, (tiers, g) => {
          const c = commissionOn(g, tiers);
          expect(c.commissionCents + c.netCents).toBe(g);
          expect(c.parts.reduce((s, p) => s + p.commissionCents, 0)).toBe(c.commissionCents);
          expect(c.parts.reduce((s, p) => s + p.amountCents, 0)).toBe(g);
        }),
      );
    });

    it('the effective rate stays within the lowest and highest tier rates (within the half cent of rounding)', () => {
      fc.assert(
        fc.property(tierLists, gross, (tiers, g) => {
          const c = commissionOn(g, tiers);
          const rates = tiers.map((t) => t.rateBps);
          // Scaled by 10,000 to stay in integers: commission × 10,000 against gross × rate, ± half a cent.
          expect(c.commissionCents * 10_000).toBeGreaterThanOrEqual(g * Math.min(...rates) - 5_000);
          expect(c.commissionCents * 10_000).toBeLessThanOrEqual(g * Math.max(...rates) + 5_000);
        }),
      );
    });

    it('is continuous at the tier boundaries: one more cent of gross costs at most one more cent', () => {
      fc.assert(
        fc.property(tierLists, fc.integer({ min: 0, max: 5 }), fc.integer({ min: -2, max: 2 }), (tiers, i, offset) => {
          const bound = tiers[Math.min(i, tiers.length - 1)]!.upToCents ?? 1_000_000;
          const g = Math.max(0, bound + offset);
          const step = commissionOn(g + 1, tiers).commissionCents - commissionOn(g, tiers).commissionCents;
          expect(step).toBeGreaterThanOrEqual(0);
          expect(step).toBeLessThanOrEqual(1);
        }),
      );
    });

    it('is monotonic in the gross', () => {
      fc.assert(
        fc.property(tierLists, gross, gross, (tiers, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(commissionOn(low, tiers).commissionCents).toBeLessThanOrEqual(commissionOn(high, tiers).commissionCents);
        }),
      );
    });
  });
});
