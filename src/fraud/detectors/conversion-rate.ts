/**
 * Conversion-rate outliers per publisher (SIVT), with robust.ts: conversions / clicks far below the others
 * (click spam: clicks that no person made) or far above (conversion fraud, fake leads/installs). Flags the
 * publisher: all its events in the window are invalid.
 */
import { rateOutliers, statisticOf, type RateOutlierOptions } from "../robust.ts";
import type { Finding, TrafficEvent, Window } from "../types.ts";

export const DETECTOR = "conversion_rate_outlier";

export const CVR_DEFAULTS: RateOutlierOptions = {
  alpha: 0.01,
  zThreshold: 3.5,
  minTrials: 100,
  minEntitiesForZ: 5,
  minScale: 0.25,
  maxRatio: 2.5,
  tails: "both",
};

export function detectConversionRateOutliers(
  events: readonly TrafficEvent[],
  window: Window,
  opts = CVR_DEFAULTS,
): Finding[] {
  const counts = new Map<string, { successes: number; trials: number }>();
  for (const e of events) {
    if (e.type === "impression" || e.publisher === null || e.occurredAt < window.start || e.occurredAt >= window.end)
      continue;
    let c = counts.get(e.publisher);
    if (!c) counts.set(e.publisher, (c = { successes: 0, trials: 0 }));
    if (e.type === "click") c.trials++;
    else c.successes++;
  }
  return rateOutliers(
    [...counts].map(([entity, c]) => ({ entity, ...c })),
    opts,
  ).map((f) => ({
    detector: DETECTOR,
    entityType: "publisher",
    entity: f.entity,
    category: "SIVT",
    ...statisticOf(f, opts),
    windowStart: window.start,
    windowEnd: window.end,
    details: {
      direction: f.direction,
      suspected: f.direction === "low" ? "click_spam" : "conversion_fraud",
      rule: f.rule,
      robustZ: f.z,
      ratio: f.ratio,
      conversionRate: f.rate,
      referenceRate: f.referenceRate,
      pValue: f.pValue,
      alphaAdjusted: f.alphaAdjusted,
      conversions: f.successes,
      clicks: f.trials,
    },
  }));
}
