/**
 * CTR outliers per publisher / placement (SIVT): clicks / impressions tested with robust.ts (binomial test
 * against the leave-one-out pooled CTR + robust z on the logit). Too high suggests click fraud (bots,
 * incentivised clicks); too low suggests impression fraud (stacked or hidden ads, pixel stuffing).
 * Flags the entity: all its events in the window are invalid.
 */
import { rateOutliers, statisticOf, type RateOutlierOptions } from "../robust.ts";
import type { Finding, TrafficEvent, Window } from "../types.ts";

export const DETECTOR = "ctr_outlier";

export const CTR_DEFAULTS: RateOutlierOptions & { entityTypes: readonly ("publisher" | "placement")[] } = {
  alpha: 0.01,
  zThreshold: 3.5,
  minTrials: 500,
  minEntitiesForZ: 5,
  minScale: 0.25,
  maxRatio: 3,
  tails: "both",
  entityTypes: ["publisher", "placement"],
};

export function detectCtrOutliers(events: readonly TrafficEvent[], window: Window, opts = CTR_DEFAULTS): Finding[] {
  const out: Finding[] = [];
  for (const type of opts.entityTypes) {
    const counts = new Map<string, { successes: number; trials: number }>();
    for (const e of events) {
      if (e.type === "conversion" || e.occurredAt < window.start || e.occurredAt >= window.end) continue;
      const k = type === "publisher" ? e.publisher : e.placement;
      if (k === null) continue;
      let c = counts.get(k);
      if (!c) counts.set(k, (c = { successes: 0, trials: 0 }));
      if (e.type === "click") c.successes++;
      else c.trials++;
    }
    const found = rateOutliers(
      [...counts].map(([entity, c]) => ({ entity, ...c })),
      opts,
    );
    for (const f of found) {
      out.push({
        detector: DETECTOR,
        entityType: type,
        entity: f.entity,
        category: "SIVT",
        ...statisticOf(f, opts),
        windowStart: window.start,
        windowEnd: window.end,
        details: {
          direction: f.direction,
          suspected: f.direction === "high" ? "click_fraud" : "impression_fraud",
          rule: f.rule,
          robustZ: f.z,
          ratio: f.ratio,
          ctr: f.rate,
          referenceCtr: f.referenceRate,
          pValue: f.pValue,
          alphaAdjusted: f.alphaAdjusted,
          clicks: f.successes,
          impressions: f.trials,
        },
      });
    }
  }
  return out;
}
