/**
 * Click-to-conversion time per publisher (SIVT), against the campaign's own distribution (all other
 * publishers, leave-one-out).
 *
 * - Click injection (a malicious app fires a click just before an organic install/purchase it saw coming):
 *   too many conversions within `injectionSeconds` of the click. k short delays out of n are tested with the
 *   binomial upper tail against the reference share (smoothed +½/+1), Bonferroni over publishers, and must
 *   be at least `minShare` of the publisher's conversions.
 * - Click flooding / spamming (masses of clicks so that some organic conversion lands on one): delays
 *   spread flat over days, i.e. stochastically longer than the reference. One-sided two-sample
 *   Kolmogorov–Smirnov D⁺ = sup_x (F_ref(x) − F_pub(x)), asymptotic p ≈ exp(−2 n_eff D²) with
 *   n_eff = n·m/(n+m) (Smirnov 1948); the threshold is the D with that p at the corrected level.
 * Flags the publisher: all its events in the window are invalid.
 */
import { binomialUpperTail } from "../../reports/stats.ts";
import type { ConversionLink } from "../links.ts";
import { bonferroni, type Finding, type Window } from "../types.ts";

export const DETECTOR_INJECTION = "click_injection";
export const DETECTOR_FLOODING = "click_flooding";

export interface ClickTimeOptions {
  alpha: number;
  injectionSeconds: number;
  minShare: number;
  minConversions: number;
  /** Minimum D⁺ as an effect size, on top of significance. */
  minD: number;
}

export const CLICK_TIME_DEFAULTS: ClickTimeOptions = {
  alpha: 0.01,
  injectionSeconds: 10,
  minShare: 0.2,
  minConversions: 10,
  minD: 0.25,
};

/** One-sided D⁺ = sup_x (F_ref(x) − F_sample(x)); both arrays sorted ascending. */
export function ksDPlus(sample: readonly number[], ref: readonly number[]): number {
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < sample.length || j < ref.length) {
    const x = Math.min(i < sample.length ? sample[i] : Infinity, j < ref.length ? ref[j] : Infinity);
    while (i < sample.length && sample[i] <= x) i++;
    while (j < ref.length && ref[j] <= x) j++;
    d = Math.max(d, j / ref.length - i / sample.length);
  }
  return d;
}

export function detectClickTimeAnomalies(
  links: readonly ConversionLink[],
  window: Window,
  opts = CLICK_TIME_DEFAULTS,
): Finding[] {
  const byPub = new Map<string, { delays: number[]; ids: string[] }>();
  for (const c of links) {
    if (c.occurredAt < window.start || c.occurredAt >= window.end) continue;
    if (c.publisher === null || c.firstClickAt === null || c.occurredAt < c.firstClickAt) continue;
    let g = byPub.get(c.publisher);
    if (!g) byPub.set(c.publisher, (g = { delays: [], ids: [] }));
    g.delays.push((c.occurredAt - c.firstClickAt) / 1000);
    g.ids.push(c.id);
  }
  const all: number[] = [];
  for (const g of byPub.values()) {
    g.delays.sort((a, b) => a - b);
    all.push(...g.delays);
  }
  all.sort((a, b) => a - b);
  const tested = [...byPub].filter(
    ([, g]) => g.delays.length >= opts.minConversions && all.length - g.delays.length >= opts.minConversions,
  );
  const level = bonferroni(opts.alpha, tested.length);
  const shortTotal = all.filter((d) => d < opts.injectionSeconds).length;
  const out: Finding[] = [];
  const base = {
    category: "SIVT" as const,
    entityType: "publisher" as const,
    windowStart: window.start,
    windowEnd: window.end,
  };
  for (const [pub, g] of tested) {
    const n = g.delays.length;
    const m = all.length - n;
    const k = g.delays.filter((d) => d < opts.injectionSeconds).length;
    const refShare = (shortTotal - k + 0.5) / (m + 1);
    const pInj = binomialUpperTail(k, n, refShare);
    if (pInj <= level && k / n >= opts.minShare) {
      let critical = Math.ceil(opts.minShare * n);
      while (critical <= n && binomialUpperTail(critical, n, refShare) > level) critical++;
      out.push({
        ...base,
        detector: DETECTOR_INJECTION,
        entity: pub,
        statistic: k,
        threshold: critical,
        details: {
          injectionSeconds: opts.injectionSeconds,
          share: k / n,
          referenceShare: refShare,
          pValue: pInj,
          alphaAdjusted: level,
          conversions: n,
        },
      });
    }
    // Reference without this publisher: remove its delays from the pooled sorted list.
    const ref = removeSorted(all, g.delays);
    const d = ksDPlus(g.delays, ref);
    const nEff = (n * m) / (n + m);
    const pFlood = Math.exp(-2 * nEff * d * d);
    const dCritical = Math.max(opts.minD, Math.sqrt(-Math.log(level) / (2 * nEff)));
    if (d >= dCritical) {
      out.push({
        ...base,
        detector: DETECTOR_FLOODING,
        entity: pub,
        statistic: d,
        threshold: dCritical,
        details: {
          statisticKind: "KS D+ (delays longer than reference)",
          pValue: pFlood,
          alphaAdjusted: level,
          medianDelaySeconds: g.delays[Math.floor(n / 2)],
          referenceMedianDelaySeconds: ref[Math.floor(ref.length / 2)],
          conversions: n,
        },
      });
    }
  }
  return out;
}

/** sorted(all) minus the multiset sorted(part); both ascending. */
function removeSorted(all: readonly number[], part: readonly number[]): number[] {
  const out: number[] = [];
  let j = 0;
  for (const x of all) {
    if (j < part.length && part[j] === x) j++;
    else out.push(x);
  }
  return out;
}
