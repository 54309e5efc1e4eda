/**
 * Runs every detector over one scan: short windows (minutes) for per-event rules and bursts, a long window
 * (hours) for the rate and timing tests that need volume. Pure: the scan (scan.ts) loads the events and
 * links, this decides. Each detector can be switched off or tuned.
 */
import { CLICK_BURST_DEFAULTS, detectClickBursts, type ClickBurstOptions } from "./detectors/click-burst.ts";
import {
  CLICK_TIME_DEFAULTS,
  detectClickTimeAnomalies,
  type ClickTimeOptions,
} from "./detectors/click-to-conversion.ts";
import { CVR_DEFAULTS, detectConversionRateOutliers } from "./detectors/conversion-rate.ts";
import { CTR_DEFAULTS, detectCtrOutliers } from "./detectors/ctr-outlier.ts";
import { detectDeclaredBots } from "./detectors/declared-bots.ts";
import { DUPLICATE_DEFAULTS, detectDuplicateClicks, type DuplicateClickOptions } from "./detectors/duplicate-clicks.ts";
import { ORPHAN_DEFAULTS, detectOrphanConversions, type OrphanOptions } from "./detectors/orphan-conversions.ts";
import { REVENUE_DEFAULTS, detectRevenueOutliers, type RevenueOptions } from "./detectors/revenue-outlier.ts";
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
  ctr: typeof CTR_DEFAULTS | false;
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
  return Math.max(c.longWindowMinutes, burst, c.shortWindowMinutes);
}

export function detectAll(
  events: readonly TrafficEvent[],
  links: readonly ConversionLink[],
  now: number,
  config: DetectionConfig = DETECTION_DEFAULTS,
): Finding[] {
  const short = { start: now - config.shortWindowMinutes * 60_000, end: now };
  const long = { start: now - config.longWindowMinutes * 60_000, end: now };
  const out: Finding[] = [];
  if (config.declaredBots) out.push(...detectDeclaredBots(events, short));
  if (config.duplicateClicks) out.push(...detectDuplicateClicks(events, short, config.duplicateClicks));
  if (config.clickBursts) out.push(...detectClickBursts(events, short, config.clickBursts));
  if (config.ctr) out.push(...detectCtrOutliers(events, long, config.ctr));
  if (config.conversionRate) out.push(...detectConversionRateOutliers(events, long, config.conversionRate));
  if (config.revenue) out.push(...detectRevenueOutliers(links, long, config.revenue));
  if (config.clickTime) out.push(...detectClickTimeAnomalies(links, long, config.clickTime));
  if (config.orphans) out.push(...detectOrphanConversions(links, long, config.orphans));
  return out;
}
