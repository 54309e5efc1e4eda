/**
 * Click bursts per ip / publisher / placement (SIVT): clicks per minute in the scan window against the
 * entity's own baseline rate.
 *
 * The baseline λ is a gamma–Poisson posterior mean, λ = (c + a₀) / (m + b₀): the entity's baseline clicks c
 * over m baseline minutes, shrunk towards the pooled per-entity rate with b₀ pseudo-minutes, so a brand-new
 * source still has a rate. A minute with x clicks is tested by the Poisson upper tail P(X ≥ x | λ) at the
 * Bonferroni level α / (entities × window minutes). The flag also needs an effect size (x ≥ minRatio · λ
 * and x ≥ minCount), because real traffic is overdispersed relative to Poisson (diurnal swings, campaigns).
 * The statistic is the peak minute's count and the threshold the smallest count that would have been
 * flagged (the critical value), so a person reads "62 clicks in a minute, flagged from 9".
 * Cold start: the baseline is only as long as the traffic seen (a campaign that started 20 minutes ago has
 * 20 minutes of it). With less than `minBaselineMinutes`, the entity's own minutes in the window count as
 * baseline too, without its `trimMinutes` busiest minutes (a burst cannot raise its own baseline), shrunk
 * with `coldPriorMinutes` pseudo-minutes toward the workspace's other campaigns' clicks per entity-minute
 * (WorkspacePrior) or, without other campaigns, toward the same trimmed rate pooled over the campaign's
 * entities. Nothing is tested before `minColdMinutes` of traffic unless the workspace gives a prior.
 * Reads per-minute click counts (aggregates.ts); the finding invalidates the entity's clicks in the burst's
 * minutes only.
 */
import { poissonUpperTail } from "../../reports/stats.ts";
import { MINUTE, type BurstEntityType, type TrafficAggregates, type WorkspacePrior } from "../aggregates.ts";
import { bonferroni, mergeIntervals, type Finding, type Interval } from "../types.ts";

export const DETECTOR = "click_burst";

export interface ClickBurstOptions {
  /** Minutes before the window that form the baseline. */
  baselineMinutes: number;
  alpha: number;
  minCount: number;
  minRatio: number;
  /** Pseudo-minutes of the pooled prior. */
  priorMinutes: number;
  /** Less baseline than this (traffic started recently): cold start. */
  minBaselineMinutes: number;
  /** Cold start: the busiest minutes of an entity left out of its own in-window baseline. */
  trimMinutes: number;
  /** Cold start: pseudo-minutes of the prior (workspace or pooled). */
  coldPriorMinutes: number;
  /** Cold start without a workspace prior: minutes of traffic before anything is tested. */
  minColdMinutes: number;
  entityTypes: readonly BurstEntityType[];
}

export const CLICK_BURST_DEFAULTS: ClickBurstOptions = {
  baselineMinutes: 300,
  alpha: 0.01,
  minCount: 8,
  minRatio: 4,
  priorMinutes: 60,
  minBaselineMinutes: 30,
  trimMinutes: 3,
  coldPriorMinutes: 10,
  minColdMinutes: 10,
  entityTypes: ["ip", "publisher", "placement"],
};

/** Smallest x with P(X ≥ x | λ) ≤ level (binary search; the tail decreases in x). */
export function poissonCriticalCount(lambda: number, level: number): number {
  let lo = Math.max(1, Math.floor(lambda));
  let hi = lo;
  while (poissonUpperTail(hi, lambda) > level) hi *= 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (poissonUpperTail(mid, lambda) <= level) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function detectClickBursts(
  agg: Pick<TrafficAggregates, "short" | "minutes" | "baseline" | "baselineTotals" | "baselineStart" | "firstEventAt">,
  opts: ClickBurstOptions = CLICK_BURST_DEFAULTS,
  prior?: WorkspacePrior,
): Finding[] {
  const window = agg.short;
  if (agg.firstEventAt === null) return [];
  const baselineMinutes = Math.max(0, (window.start - agg.baselineStart) / MINUTE);
  const activeStart = Math.max(window.start, Math.floor(agg.firstEventAt / MINUTE) * MINUTE);
  const windowMinutes = Math.max(1, Math.ceil((window.end - activeStart) / MINUTE));
  const cold = baselineMinutes < opts.minBaselineMinutes;
  const out: Finding[] = [];
  for (const type of opts.entityTypes) {
    const minutes = new Map<string, Map<number, number>>();
    for (const c of agg.minutes) {
      if (c.entityType !== type || c.minute < window.start || c.minute >= window.end) continue;
      let m = minutes.get(c.entity);
      if (!m) minutes.set(c.entity, (m = new Map()));
      m.set(c.minute, (m.get(c.minute) ?? 0) + c.clicks);
    }
    if (minutes.size === 0) continue;
    const baseline = new Map<string, number>();
    for (const b of agg.baseline) if (b.entityType === type) baseline.set(b.entity, b.clicks);
    const totals = agg.baselineTotals[type];
    let newEntities = 0;
    for (const k of minutes.keys()) if (!baseline.has(k)) newEntities++;
    const entities = totals.entities + newEntities;
    const workspaceRate = prior?.clicksPerEntityMinute[type];
    // Per entity: clicks and minutes of its own baseline (cold: plus its trimmed window minutes).
    const own = new Map<string, { clicks: number; minutes: number }>();
    const trim = Math.min(opts.trimMinutes, windowMinutes - 1);
    let pooledClicks = totals.clicks;
    for (const [k, m] of minutes) {
      let clicks = baseline.get(k) ?? 0;
      let mins = baselineMinutes;
      if (cold) {
        const counts = [...m.values()].sort((a, b) => b - a);
        const trimmed = counts.slice(trim).reduce((a, b) => a + b, 0);
        clicks += trimmed;
        mins += windowMinutes - trim;
        pooledClicks += trimmed;
      }
      own.set(k, { clicks, minutes: mins });
    }
    const ownMinutes = cold ? baselineMinutes + windowMinutes - trim : baselineMinutes;
    let rate0: number;
    let priorMinutes: number;
    let source: string;
    if (cold) {
      if (workspaceRate !== undefined) (rate0 = workspaceRate), (source = "workspace");
      else if (baselineMinutes + windowMinutes >= opts.minColdMinutes)
        (rate0 = pooledClicks / Math.max(1, entities * ownMinutes)), (source = "pooled_trimmed");
      else continue;
      priorMinutes = opts.coldPriorMinutes;
    } else {
      if (totals.clicks === 0 && workspaceRate === undefined) continue;
      rate0 = totals.clicks > 0 ? totals.clicks / Math.max(1, entities * baselineMinutes) : workspaceRate!;
      priorMinutes = opts.priorMinutes;
      source = totals.clicks > 0 ? "history" : "workspace";
    }
    const level = bonferroni(opts.alpha, entities * windowMinutes);
    for (const [k, m] of minutes) {
      const o = own.get(k)!;
      const lambda = (o.clicks + rate0 * priorMinutes) / (o.minutes + priorMinutes);
      const critical = Math.max(
        opts.minCount,
        Math.ceil(opts.minRatio * lambda),
        lambda > 0 ? poissonCriticalCount(lambda, level) : 1,
      );
      let peak = 0;
      let peakMinute = 0;
      const flaggedMinutes: number[] = [];
      for (const [minute, count] of m) {
        if (count > peak || (count === peak && minute < peakMinute)) (peak = count), (peakMinute = minute);
        if (count >= critical) flaggedMinutes.push(minute);
      }
      if (flaggedMinutes.length === 0) continue;
      // A burst rarely respects minute boundaries: a neighbouring minute of a flagged one is part of the
      // burst when it is itself unusual at the uncorrected level (α, not α/m) and holds at least 2 clicks.
      const burst = new Set(flaggedMinutes);
      for (const minute of flaggedMinutes)
        for (const nb of [minute - MINUTE, minute + MINUTE]) {
          const c = m.get(nb) ?? 0;
          if (c >= 2 && !burst.has(nb) && poissonUpperTail(c, lambda) <= opts.alpha) burst.add(nb);
        }
      const intervals = mergeIntervals([...burst].map((t): Interval => [t, t + MINUTE]));
      let clicks = 0;
      for (const t of burst) clicks += m.get(t)!;
      out.push({
        detector: DETECTOR,
        entityType: type,
        entity: k,
        category: "SIVT",
        statistic: peak,
        threshold: critical,
        windowStart: intervals[0][0],
        windowEnd: intervals[intervals.length - 1][1],
        evidenceStart: window.start,
        evidenceEnd: window.end,
        details: {
          baselineRatePerMinute: lambda,
          baseline: cold ? "cold_start" : "history",
          prior: source,
          baselineMinutes: o.minutes,
          pValue: poissonUpperTail(peak, lambda),
          alphaAdjusted: level,
          peakMinuteStart: new Date(peakMinute).toISOString(),
          flaggedMinutes: flaggedMinutes.length,
          burstMinutes: burst.size,
          clicks,
        },
        intervals,
        eventTypes: ["click"],
      });
    }
  }
  return out;
}
