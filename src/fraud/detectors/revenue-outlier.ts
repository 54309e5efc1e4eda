/**
 * Revenue-per-conversion outliers per publisher (SIVT): the mean log value of a publisher's conversions
 * against all other publishers' (leave-one-out), by a Welch z = (m − m_ref) / √(s²/n + s_ref²/n_ref) with a
 * two-sided normal p at the Bonferroni level, a robust z of the publisher means across publishers
 * (median/MAD, when there are enough) — or, as for the rates, a factor beyond `maxFactor`, which a MAD from a
 * handful of publishers can hide — and an effect size (a factor of at least `minFactor`).
 * Logs because order values are right-skewed (roughly log-normal). Flags the publisher.
 */
import { normalQuantile, normalUpperTail } from "../../reports/stats.ts";
import type { ConversionLink } from "../links.ts";
import { robustZ } from "../robust.ts";
import { bonferroni, type Finding, type Window } from "../types.ts";

export const DETECTOR = "revenue_outlier";

export interface RevenueOptions {
  alpha: number;
  minConversions: number;
  minFactor: number;
  /** A factor this large flags even when the robust z does not (still only when the Welch test rejects). */
  maxFactor: number;
  zThreshold: number;
  minEntitiesForZ: number;
  minScale: number;
}

export const REVENUE_DEFAULTS: RevenueOptions = {
  alpha: 0.01,
  minConversions: 10,
  minFactor: 2,
  maxFactor: 3,
  zThreshold: 3.5,
  minEntitiesForZ: 5,
  minScale: 0.1,
};

export function detectRevenueOutliers(
  links: readonly ConversionLink[],
  window: Window,
  opts = REVENUE_DEFAULTS,
): Finding[] {
  const byPub = new Map<string, { n: number; s: number; ss: number }>();
  let N = 0;
  let S = 0;
  let SS = 0;
  for (const c of links) {
    if (c.publisher === null || !(c.value > 0) || c.occurredAt < window.start || c.occurredAt >= window.end) continue;
    const l = Math.log(c.value);
    let g = byPub.get(c.publisher);
    if (!g) byPub.set(c.publisher, (g = { n: 0, s: 0, ss: 0 }));
    g.n++, (g.s += l), (g.ss += l * l);
    N++, (S += l), (SS += l * l);
  }
  const tested = [...byPub].filter(([, g]) => g.n >= opts.minConversions && N - g.n >= opts.minConversions);
  if (tested.length < 2) return [];
  const level = bonferroni(opts.alpha, tested.length);
  const means = tested.map(([, g]) => g.s / g.n);
  const ses = tested.map(([, g], i) => Math.sqrt(Math.max(0, (g.ss - g.n * means[i] * means[i]) / (g.n - 1)) / g.n));
  const zs = tested.length >= opts.minEntitiesForZ ? robustZ(means, ses, opts.minScale) : null;
  const out: Finding[] = [];
  tested.forEach(([pub, g], i) => {
    const m = g.s / g.n;
    const v = Math.max(0, (g.ss - g.n * m * m) / (g.n - 1));
    const nr = N - g.n;
    const mr = (S - g.s) / nr;
    const vr = Math.max(0, (SS - g.ss - nr * mr * mr) / (nr - 1));
    const se = Math.sqrt(v / g.n + vr / nr);
    const z = se > 0 ? (m - mr) / se : 0;
    const p = Math.min(1, 2 * normalUpperTail(Math.abs(z)));
    if (p > level || Math.abs(m - mr) < Math.log(opts.minFactor)) return;
    if (zs && Math.abs(zs[i]) < opts.zThreshold && Math.abs(m - mr) < Math.log(opts.maxFactor)) return;
    out.push({
      detector: DETECTOR,
      entityType: "publisher",
      entity: pub,
      category: "SIVT",
      statistic: Math.abs(z),
      threshold: normalQuantile(1 - level / 2),
      windowStart: window.start,
      windowEnd: window.end,
      details: {
        statisticKind: "|Welch z| on log value",
        direction: m > mr ? "high" : "low",
        geometricMeanValue: Math.exp(m),
        referenceGeometricMeanValue: Math.exp(mr),
        robustZ: zs ? zs[i] : null,
        pValue: p,
        alphaAdjusted: level,
        conversions: g.n,
      },
    });
  });
  return out;
}
