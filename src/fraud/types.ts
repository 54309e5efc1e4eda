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
  /** Epoch ms, [windowStart, windowEnd). */
  windowStart: number;
  windowEnd: number;
  details: Record<string, unknown>;
  /**
   * The events this finding invalidates. Absent: every event of the entity in the window is invalid
   * (a flagged source); present: only these (duplicate clicks, orphan conversions, a burst's minutes).
   */
  eventIds?: string[];
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
