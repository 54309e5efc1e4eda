/**
 * Each conversion linked to its decision and to the first click on that decision: the input of the
 * attribution checks (click-to-conversion time, orphan conversions). Built here from in-memory events; the
 * scan builds the same records in SQL (a join on decision id), so the detectors do not care which.
 * In memory every given click counts as valid (give only valid events, as the scan loads them).
 */
import type { DecisionRef, TrafficEvent } from "./types.ts";

export interface ConversionLink {
  id: string;
  publisher: string | null;
  occurredAt: number;
  value: number;
  decisionId: string | null;
  /** Null when the decision is unknown. */
  decisionAt: number | null;
  /** Earliest valid click on the decision (any time), null when there is none. */
  firstClickAt: number | null;
  /** Whether the decision has any click at all, valid or not (a conversion whose clicks are all invalid follows them). */
  hadClick: boolean;
}

export function conversionLinks(events: readonly TrafficEvent[], decisions: readonly DecisionRef[]): ConversionLink[] {
  const decisionAt = new Map(decisions.map((d) => [d.id, d.createdAt]));
  const firstClick = new Map<string, number>();
  for (const e of events) {
    if (e.type !== "click" || !e.decisionId) continue;
    const t = firstClick.get(e.decisionId);
    if (t === undefined || e.occurredAt < t) firstClick.set(e.decisionId, e.occurredAt);
  }
  return events
    .filter((e) => e.type === "conversion")
    .map((e) => ({
      id: e.id,
      publisher: e.publisher,
      occurredAt: e.occurredAt,
      value: e.value,
      decisionId: e.decisionId,
      decisionAt: e.decisionId ? (decisionAt.get(e.decisionId) ?? null) : null,
      firstClickAt: e.decisionId ? (firstClick.get(e.decisionId) ?? null) : null,
      hadClick: e.decisionId ? firstClick.has(e.decisionId) : false,
    }));
}
