/**
 * Shared shapes of the fraud detectors: the traffic they read and the findings they return.
 *
 * Categories follow the MRC Invalid Traffic Detection and Filtration Guidelines (2015/2020): GIVT is
 * general invalid traffic found by routine lists and rules (declared bots, non-browser clients, duplicate
 * clicks); SIVT is sophisticated invalid traffic that needs analysis (bursts, outliers, attribution fraud).
 */
export type EntityType = "ip" | "user_agent" | "publisher" | "placement" | "campaign";
export type Category = "GIVT" | "SIVT";
export type EventType = "impression" | "click" | "conversion";

export interface Finding {
  /** Stored name of the detector, e.g. "click_burst" (never rename once shipped). */
  detector: string;
  entityType: EntityType;
  entity: string;
  category: Category;
  /** The test statistic; the entity is flagged because statistic ≥ threshold (|statistic| for two-sided z). */
  statistic: number;
  threshold: number;
  /**
   * The anomalous window, epoch ms, [windowStart, windowEnd): the burst's minutes, the outlier's hours, the
   * bot's hours — never more than the evidence window.
   */
  windowStart: number;
  windowEnd: number;
  /** The window the test looked at (its evidence), epoch ms; defaults to the anomalous window. */
  evidenceStart?: number;
  evidenceEnd?: number;
  details: Record<string, unknown>;
  /**
   * What this finding invalidates, one of:
   *   - `eventIds`: exactly these events (duplicate clicks, orphan conversions);
   *   - `intervals`: the entity's events (of `eventTypes`, default all) inside these disjoint, sorted
   *     intervals within the window (a burst's minutes, an outlier's hours, a bot's hours);
   *   - neither: every event of the entity in [windowStart, windowEnd).
   */
  eventIds?: string[];
  intervals?: Interval[];
  eventTypes?: EventType[];
}

/** Epoch ms, [start, end). */
export type Interval = [number, number];

/** Sorted, merged union of intervals (touching ones join). */
export function mergeIntervals(xs: readonly Interval[]): Interval[] {
  const s = [...xs].sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** One stored event, as the detectors see it (times in epoch ms). */
export interface TrafficEvent {
  id: string;
  decisionId: string | null;
  type: EventType;
  occurredAt: number;
  value: number;
  cost: number;
  ip: string | null;
  userAgent: string | null;
  publisher: string | null;
  placement: string | null;
}

/** The decision an event claims, for attribution checks. */
export interface DecisionRef {
  id: string;
  createdAt: number;
}

export interface Window {
  start: number;
  end: number;
}

/** Bonferroni-adjusted level for m tests (m ≥ 1). */
export function bonferroni(alpha: number, m: number): number {
  return alpha / Math.max(1, m);
}
