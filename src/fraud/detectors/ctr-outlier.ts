/**
 * CTR outliers per publisher / placement (SIVT): clicks / impressions over the long window, per entity,
 * tested with robust.ts (leave-one-out t on the logit, shrunk toward a prior, sequential, Bonferroni). Too
 * high suggests click fraud (bots, incentivised clicks); too low suggests impression fraud (stacked or hidden
 * ads, pixel stuffing). The flagged entity's events are invalid in the hours where it was anomalous
 * (`anomalousHours`), not the whole window.
 */
import type { HourCell, RateEntityType, RatePrior } from "../aggregates.ts";
import { HOUR } from "../aggregates.ts";
import { anomalousHours, rateOutliers, statisticOf, type RateOutlierOptions } from "../robust.ts";
import type { Finding, Window } from "../types.ts";

export const DETECTOR = "ctr_outlier";

export type CtrOptions = RateOutlierOptions & { entityTypes: readonly RateEntityType[] };

export const CTR_DEFAULTS: CtrOptions = {
  alpha: 0.01,
  minTrials: 500,
  minEntities: 3,
  tau0: 0.3,
  tauDf: 20,
  robustFrom: 8,
  minRatio: 2,
  tails: "both",
  entityTypes: ["publisher", "placement"],
};

/** Hour cells of one entity type grouped per entity, within the window. */
export function cellsByEntity(
  cells: readonly HourCell[],
  type: RateEntityType,
  window: Window,
): Map<string, HourCell[]> {
  const by = new Map<string, HourCell[]>();
  for (const c of cells) {
    if (c.entityType !== type || c.hour + HOUR <= window.start || c.hour >= window.end) continue;
    let l = by.get(c.entity);
    if (!l) by.set(c.entity, (l = []));
    l.push(c);
  }
  return by;
}

/** The finding's window and intervals from the anomalous hours, clipped to the evidence window. */
export function hoursWindow(
  hours: readonly number[],
  window: Window,
): Pick<Finding, "windowStart" | "windowEnd" | "intervals" | "evidenceStart" | "evidenceEnd"> {
  const intervals: [number, number][] = [];
  for (const h of hours) {
    const a = Math.max(h, window.start);
    const b = Math.min(h + HOUR, window.end);
    const last = intervals[intervals.length - 1];
    if (last && a <= last[1]) last[1] = b;
    else intervals.push([a, b]);
  }
  return {
    windowStart: intervals[0][0],
    windowEnd: intervals[intervals.length - 1][1],
    intervals,
    evidenceStart: window.start,
    evidenceEnd: window.end,
  };
}

export function detectCtrOutliers(
  cells: readonly HourCell[],
  window: Window,
  opts: CtrOptions = CTR_DEFAULTS,
  prior?: Partial<Record<RateEntityType, RatePrior>>,
): Finding[] {
  const out: Finding[] = [];
  for (const type of opts.entityTypes) {
    const by = cellsByEntity(cells, type, window);
    const obs = [...by].map(([entity, l]) => ({
      entity,
      successes: l.reduce((a, c) => a + c.clicks, 0),
      trials: l.reduce((a, c) => a + c.impressions, 0),
    }));
    for (const f of rateOutliers(obs, opts, prior?.[type])) {
      const hours = anomalousHours(
        by.get(f.entity)!.map((c) => ({ hour: c.hour, successes: c.clicks, trials: c.impressions })),
        f,
        opts.alpha,
        opts.minRatio,
      );
      out.push({
        detector: DETECTOR,
        entityType: type,
        entity: f.entity,
        category: "SIVT",
        ...statisticOf(f, opts),
        ...hoursWindow(hours, window),
        details: {
          direction: f.direction,
          suspected: f.direction === "high" ? "click_fraud" : "impression_fraud",
          statisticKind: "t on the logit CTR vs the other entities (leave-one-out)",
          ratio: f.ratio,
          ctr: f.rate,
          referenceCtr: f.referenceRate,
          tau: f.tau,
          df: f.df,
          step: f.step,
          pValue: f.pValue,
          alphaAdjusted: f.alphaAdjusted,
          clicks: f.successes,
          impressions: f.trials,
          anomalousHours: hours.length,
        },
      });
    }
  }
  return out;
}
