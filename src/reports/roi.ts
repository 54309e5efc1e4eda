/**
 * ROI arithmetic over additive aggregates (no I/O).
 *
 * An `Aggregate` holds sums that add across arms and periods, so hourly rollups sum to days and totals
 * exactly. Rates of counts (CTR = clicks / impressions, CVR = conversions / clicks) get Beta intervals:
 * Jeffreys, Beta(k + ½, n − k + ½) quantiles with the end fixes of Brown, Cai & DasGupta (2001), or
 * Clopper–Pearson. Ratios of money (ROAS = revenue / cost, ROI = ROAS − 1, CPA = cost / conversions) are
 * ratio-of-means estimators over units (one unit = one decision's events in one period), with the
 * delta-method variance  V(Σx/Σy) ≈ n/(n−1) · Σ(xᵢ − r yᵢ)² / (Σy)²  (Cochran, Sampling Techniques, §6.4),
 * expanded as Σx² − 2rΣxy + r²Σy² so only sums are needed.
 */
import { betaQuantile, normalQuantile } from "./stats.ts";

/** Additive sums for one arm (or campaign) over one period. Second moments are over units. */
export interface Aggregate {
  decisions: number;
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
  /** Units with at least one valid event (a unit = one decision, or one orphan event, within a period). */
  units: number;
  sumRevenueSq: number;
  sumCostSq: number;
  sumRevenueCost: number;
  sumConversionsSq: number;
  sumCostConversions: number;
}

export interface Estimate {
  estimate: number | null;
  lower: number | null;
  upper: number | null;
}

export type RateMethod = "jeffreys" | "clopper-pearson";

export const AGGREGATE_FIELDS = [
  "decisions",
  "impressions",
  "clicks",
  "conversions",
  "revenue",
  "cost",
  "units",
  "sumRevenueSq",
  "sumCostSq",
  "sumRevenueCost",
  "sumConversionsSq",
  "sumCostConversions",
] as const satisfies readonly (keyof Aggregate)[];

export function emptyAggregate(): Aggregate {
  return {
    decisions: 0,
    impressions: 0,
    clicks: 0,
    conversions: 0,
    revenue: 0,
    cost: 0,
    units: 0,
    sumRevenueSq: 0,
    sumCostSq: 0,
    sumRevenueCost: 0,
    sumConversionsSq: 0,
    sumCostConversions: 0,
  };
}

export function addInto(target: Aggregate, a: Aggregate): Aggregate {
  for (const f of AGGREGATE_FIELDS) target[f] += a[f];
  return target;
}

export function sumAggregates(list: Iterable<Aggregate>): Aggregate {
  const out = emptyAggregate();
  for (const a of list) addInto(out, a);
  return out;
}

const NONE: Estimate = { estimate: null, lower: null, upper: null };

/** Interval for a binomial proportion k / n at the given level (default 95%). */
export function rateInterval(k: number, n: number, level = 0.95, method: RateMethod = "jeffreys"): Estimate {
  if (!(n > 0)) return NONE;
  // Several clicks per impression can happen in raw logs; a proportion cannot exceed 1.
  const s = Math.min(Math.max(k, 0), n);
  const alpha = 1 - level;
  if (method === "clopper-pearson") {
    return {
      estimate: s / n,
      lower: s === 0 ? 0 : betaQuantile(alpha / 2, s, n - s + 1),
      upper: s === n ? 1 : betaQuantile(1 - alpha / 2, s + 1, n - s),
    };
  }
  return {
    estimate: s / n,
    lower: s === 0 ? 0 : betaQuantile(alpha / 2, s + 0.5, n - s + 0.5),
    upper: s === n ? 1 : betaQuantile(1 - alpha / 2, s + 0.5, n - s + 0.5),
  };
}

/**
 * Delta-method interval for the ratio Σx / Σy over n units, given Σx², Σy², Σxy.
 * With fewer than 2 units the variance is unknown and only the point estimate is returned.
 * Both sums are of non-negative amounts (revenue, cost, conversions), so the ratio cannot be negative:
 * the symmetric normal interval is cut at 0 rather than reporting an impossible negative CPA or ROAS.
 */
export function ratioInterval(
  n: number,
  sx: number,
  sy: number,
  sxx: number,
  syy: number,
  sxy: number,
  level = 0.95,
): Estimate {
  if (sy === 0) return NONE;
  const r = sx / sy;
  if (n < 2) return { estimate: r, lower: null, upper: null };
  const ss = Math.max(0, sxx - 2 * r * sxy + r * r * syy);
  const se = Math.sqrt((n / (n - 1)) * ss) / Math.abs(sy);
  const z = normalQuantile(1 - (1 - level) / 2);
  return { estimate: r, lower: Math.max(0, r - z * se), upper: r + z * se };
}

export interface Metrics {
  decisions: number;
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
  profit: number;
  ctr: Estimate;
  /** Conversions per click (null without clicks). */
  conversionRate: Estimate;
  /** Conversions per decision: the rate for channels without clicks (email sends). */
  conversionsPerDecision: Estimate;
  cpa: Estimate;
  roas: Estimate;
  roi: Estimate;
}

export function metrics(a: Aggregate, level = 0.95, method: RateMethod = "jeffreys"): Metrics {
  const roas = ratioInterval(a.units, a.revenue, a.cost, a.sumRevenueSq, a.sumCostSq, a.sumRevenueCost, level);
  const shift = (e: Estimate): Estimate => ({
    estimate: e.estimate === null ? null : e.estimate - 1,
    lower: e.lower === null ? null : e.lower - 1,
    upper: e.upper === null ? null : e.upper - 1,
  });
  return {
    decisions: a.decisions,
    impressions: a.impressions,
    clicks: a.clicks,
    conversions: a.conversions,
    revenue: a.revenue,
    cost: a.cost,
    profit: a.revenue - a.cost,
    ctr: rateInterval(a.clicks, a.impressions, level, method),
    conversionRate: rateInterval(a.conversions, a.clicks, level, method),
    conversionsPerDecision: rateInterval(a.conversions, a.decisions, level, method),
    cpa: ratioInterval(a.units, a.cost, a.conversions, a.sumCostSq, a.sumConversionsSq, a.sumCostConversions, level),
    roas,
    roi: shift(roas),
  };
}

/** Per-unit record, the raw form of an Aggregate (used by tests and by in-memory computations). */
export interface Unit {
  decision: boolean;
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
}

/** Folds units into an Aggregate; `decision` says whether the unit's decision was made in this period. */
export function aggregateUnits(units: Iterable<Unit>): Aggregate {
  const a = emptyAggregate();
  for (const u of units) {
    if (u.decision) a.decisions += 1;
    const any = u.impressions + u.clicks + u.conversions > 0 || u.revenue !== 0 || u.cost !== 0;
    if (!any) continue;
    a.units += 1;
    a.impressions += u.impressions;
    a.clicks += u.clicks;
    a.conversions += u.conversions;
    a.revenue += u.revenue;
    a.cost += u.cost;
    a.sumRevenueSq += u.revenue * u.revenue;
    a.sumCostSq += u.cost * u.cost;
    a.sumRevenueCost += u.revenue * u.cost;
    a.sumConversionsSq += u.conversions * u.conversions;
    a.sumCostConversions += u.cost * u.conversions;
  }
  return a;
}
