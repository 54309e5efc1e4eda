/**
 * Runs every detector over one scan's aggregates: short windows (minutes) for per-event rules and bursts, a
 * long window (hours) for the rate and timing tests that need volume. Pure: the scan (scan.ts) loads the
 * aggregates in SQL, `aggregateTraffic` builds the same from events; this decides. Each detector can be
 * switched off or tuned. Two phases: "events" (bots, duplicates, bursts: findings on single events and
 * minutes) and "rates" (rates, values, timing, orphans); the scan records the first phase before it
 * aggregates again for the second, so a burst's clicks never make its publisher — or, with three
 * publishers, the honest ones — look like rate outliers.
 */
import { CLICK_BURST_DEFAULTS, detectClickBursts, type ClickBurstOptions } from "./detectors/click-burst.ts";
import {
  CLICK_TIME_DEFAULTS,
  detectClickTimeAnomalies,
  type ClickTimeOptions,
} from "./detectors/click-to-conversion.ts";
import { CVR_DEFAULTS, detectConversionRateOutliers } from "./detectors/conversion-rate.ts";
import { CTR_DEFAULTS, type CtrOptions, detectCtrOutliers } from "./detectors/ctr-outlier.ts";
import { detectDeclaredBots } from "./detectors/declared-bots.ts";
import { DUPLICATE_DEFAULTS, detectDuplicateClicks, type DuplicateClickOptions } from "./detectors/duplicate-clicks.ts";
import { ORPHAN_DEFAULTS, detectOrphanConversions, type OrphanOptions } from "./detectors/orphan-conversions.ts";
import { REVENUE_DEFAULTS, detectRevenueOutliers, type RevenueOptions } from "./detectors/revenue-outlier.ts";
import {
  aggregateTraffic,
  scanWindows,
  type ScanWindows,
  type TrafficAggregates,
  type WorkspacePrior,
} from "./aggregates.ts";
import type { ConversionLink } from "./links.ts";
import type { RateOutlierOptions } from "./robust.ts";
import type { Finding, TrafficEvent } from "./types.ts";

export interface DetectionConfig {
  /** Window of the per-event rules and of the burst test, in minutes. */
  shortWindowMinutes: number;
  /** Window of the rate, value and timing tests, in minutes. */
  longWindowMinutes: number;
  declaredBots: boolean;
  duplicateClicks: DuplicateClickOptions | false;
  clickBursts: ClickBurstOptions | false;
  ctr: CtrOptions | false;
  conversionRate: RateOutlierOptions | false;
  revenue: RevenueOptions | false;
  clickTime: ClickTimeOptions | false;
  orphans: OrphanOptions | false;
}

export const DETECTION_DEFAULTS: DetectionConfig = {
  shortWindowMinutes: 60,
  longWindowMinutes: 24 * 60,
  declaredBots: true,
  duplicateClicks: DUPLICATE_DEFAULTS,
  clickBursts: CLICK_BURST_DEFAULTS,
  ctr: CTR_DEFAULTS,
  conversionRate: CVR_DEFAULTS,
  revenue: REVENUE_DEFAULTS,
  clickTime: CLICK_TIME_DEFAULTS,
  orphans: ORPHAN_DEFAULTS,
};

/** How far back the events given to `detectAll` must reach, in minutes before `now`. */
export function lookbackMinutes(c: DetectionConfig): number {
  const burst = c.clickBursts ? c.shortWindowMinutes + c.clickBursts.baselineMinutes : 0;
  return Math.max(c.longWindowMinutes, burst, c.shortWindowMinutes + 10);
}

/** The windows of one scan ending at `now`. */
export function windowsOf(now: number, c: DetectionConfig): ScanWindows {
  return scanWindows(now, {
    shortWindowMinutes: c.shortWindowMinutes,
    longWindowMinutes: c.longWindowMinutes,
    baselineMinutes: c.clickBursts ? c.clickBursts.baselineMinutes : 0,
  });
}

export type Phase = "events" | "rates";

export function detectPhase(
  agg: TrafficAggregates,
  phase: Phase,
  config: DetectionConfig = DETECTION_DEFAULTS,
): Finding[] {
  const out: Finding[] = [];
  if (phase === "events") {
    if (config.declaredBots) out.push(...detectDeclaredBots(agg.userAgents, agg.short));
    if (config.duplicateClicks) out.push(...detectDuplicateClicks(agg.repeatClicks, agg.short, config.duplicateClicks));
    if (config.clickBursts) out.push(...detectClickBursts(agg, config.clickBursts, agg.prior));
    return out;
  }
  if (config.ctr) out.push(...detectCtrOutliers(agg.hours, agg.long, config.ctr, agg.prior?.ctr));
  if (config.conversionRate)
    out.push(...detectConversionRateOutliers(agg.hours, agg.long, config.conversionRate, agg.prior?.cvr));
  if (config.revenue) out.push(...detectRevenueOutliers(agg.links, agg.long, config.revenue));
  if (config.clickTime) out.push(...detectClickTimeAnomalies(agg.links, agg.long, config.clickTime));
  if (config.orphans) out.push(...detectOrphanConversions(agg.links, agg.long, config.orphans));
  return out;
}

/**
 * In memory, both phases as the scan runs them: the events the first phase invalidates are left out of the
 * second (like the scan, which records them before it aggregates again). For tests and measure.ts.
 */
export function detectAll(
  events: readonly TrafficEvent[],
  links: readonly ConversionLink[],
  now: number,
  config: DetectionConfig = DETECTION_DEFAULTS,
  prior?: WorkspacePrior,
): Finding[] {
  const w = windowsOf(now, config);
  const first = detectPhase(aggregateTraffic(events, links, w, prior), "events", config);
  const invalid = coveredEvents(events, first);
  const rest = invalid.size ? events.filter((e) => !invalid.has(e.id)) : events;
  const restLinks = invalid.size ? linksWithout(links, events, invalid) : links;
  return [...first, ...detectPhase(aggregateTraffic(rest, restLinks, w, prior), "rates", config)];
}

/** Ids of the events the findings invalidate (what the scan's UPDATE marks), for in-memory runs. */
export function coveredEvents(events: readonly TrafficEvent[], findings: readonly Finding[]): Set<string> {
  const out = new Set<string>();
  for (const f of findings) {
    if (f.eventIds) {
      for (const id of f.eventIds) out.add(id);
      continue;
    }
    if (f.entityType === "campaign") continue;
    const intervals = f.intervals ?? [[f.windowStart, f.windowEnd]];
    for (const e of events) {
      const v =
        f.entityType === "ip"
          ? e.ip
          : f.entityType === "user_agent"
            ? e.userAgent
            : f.entityType === "publisher"
              ? e.publisher
              : e.placement;
      if (v !== f.entity || (f.eventTypes && !f.eventTypes.includes(e.type))) continue;
      if (intervals.some(([a, b]) => e.occurredAt >= a && e.occurredAt < b)) out.add(e.id);
    }
  }
  return out;
}

/** Links of the remaining conversions, with first clicks recomputed without the invalid clicks. */
function linksWithout(
  links: readonly ConversionLink[],
  events: readonly TrafficEvent[],
  invalid: ReadonlySet<string>,
): ConversionLink[] {
  const firstClick = new Map<string, number>();
  for (const e of events) {
    if (e.type !== "click" || !e.decisionId || invalid.has(e.id)) continue;
    const t = firstClick.get(e.decisionId);
    if (t === undefined || e.occurredAt < t) firstClick.set(e.decisionId, e.occurredAt);
  }
  return links
    .filter((l) => !invalid.has(l.id))
    .map((l) => ({ ...l, firstClickAt: l.decisionId ? (firstClick.get(l.decisionId) ?? null) : null }));
}
