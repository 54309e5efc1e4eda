/**
 * Conversion-rate outliers per publisher (SIVT), with robust.ts: conversions / clicks far below the others
 * (click spam: clicks that no person made) or far above (conversion fraud, fake leads/installs). The flagged
 * publisher's events are invalid in its anomalous hours.
 */
import type { HourCell, RatePrior } from "../aggregates.ts";
import { anomalousHours, rateOutliers, statisticOf, type RateOutlierOptions } from "../robust.ts";
import type { Finding, Window } from "../types.ts";
import { cellsByEntity, hoursWindow } from "./ctr-outlier.ts";

export const DETECTOR = "conversion_rate_outlier";

export const CVR_DEFAULTS: RateOutlierOptions = {
  alpha: 0.01,
  minTrials: 100,
  minEntities: 3,
  tau0: 0.3,
  tauDf: 20,
  robustFrom: 8,
  minRatio: 2,
  tails: "both",
};

export function detectConversionRateOutliers(
  cells: readonly HourCell[],
  window: Window,
  opts = CVR_DEFAULTS,
  prior?: RatePrior,
): Finding[] {
  const by = cellsByEntity(cells, "publisher", window);
  const obs = [...by].map(([entity, l]) => ({
    entity,
    successes: l.reduce((a, c) => a + c.conversions, 0),
    trials: l.reduce((a, c) => a + c.clicks, 0),
  }));
  return rateOutliers(obs, opts, prior).map((f) => {
    const hours = anomalousHours(
      by.get(f.entity)!.map((c) => ({ hour: c.hour, successes: c.conversions, trials: c.clicks })),
      f,
      opts.alpha,
      opts.minRatio,
    );
    return {
      detector: DETECTOR,
      entityType: "publisher" as const,
      entity: f.entity,
      category: "SIVT" as const,
      ...statisticOf(f, opts),
      ...hoursWindow(hours, window),
      details: {
        direction: f.direction,
        suspected: f.direction === "low" ? "click_spam" : "conversion_fraud",
        statisticKind: "t on the logit conversion rate vs the other publishers (leave-one-out)",
        ratio: f.ratio,
        conversionRate: f.rate,
        referenceRate: f.referenceRate,
        tau: f.tau,
        df: f.df,
        step: f.step,
        pValue: f.pValue,
        alphaAdjusted: f.alphaAdjusted,
        conversions: f.successes,
        clicks: f.trials,
        anomalousHours: hours.length,
      },
    };
  });
}
