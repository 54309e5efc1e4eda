/**
 * Orphan conversions (SIVT): a conversion whose decision is unknown, that happened before its decision or
 * before its first click, whose decision's clicks were all found invalid (it follows them), or — only when
 * `requireClick` is set, since email and send-time campaigns convert without clicks — that has no click at all.
 * Such conversions cannot have been caused by the ad; they are typical of attribution fraud and of broken
 * postbacks alike. Only these conversions are invalidated (eventIds), grouped per publisher.
 */
import type { ConversionLink } from "../links.ts";
import type { Finding, Window } from "../types.ts";

export const DETECTOR = "orphan_conversion";

export interface OrphanOptions {
  requireClick: boolean;
  /** Clock skew tolerated between the click/decision and the conversion, in seconds. */
  skewSeconds: number;
}

export const ORPHAN_DEFAULTS: OrphanOptions = { requireClick: false, skewSeconds: 1 };

export type OrphanReason = "no_decision" | "before_decision" | "invalid_click" | "no_click" | "before_click";

export function orphanReason(c: ConversionLink, opts: OrphanOptions = ORPHAN_DEFAULTS): OrphanReason | null {
  const skew = opts.skewSeconds * 1000;
  if (c.decisionAt === null) return "no_decision";
  if (c.occurredAt + skew < c.decisionAt) return "before_decision";
  if (c.firstClickAt === null) return c.hadClick ? "invalid_click" : opts.requireClick ? "no_click" : null;
  if (c.occurredAt + skew < c.firstClickAt) return "before_click";
  return null;
}

export function detectOrphanConversions(
  links: readonly ConversionLink[],
  window: Window,
  opts = ORPHAN_DEFAULTS,
): Finding[] {
  const groups = new Map<string, { ids: string[]; reasons: Record<string, number> }>();
  for (const c of links) {
    if (c.occurredAt < window.start || c.occurredAt >= window.end) continue;
    const reason = orphanReason(c, opts);
    if (!reason) continue;
    const key = c.publisher ?? "";
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ids: [], reasons: {} }));
    g.ids.push(c.id);
    g.reasons[reason] = (g.reasons[reason] ?? 0) + 1;
  }
  return [...groups].map(([publisher, g]) => ({
    detector: DETECTOR,
    entityType: publisher ? "publisher" : "campaign",
    entity: publisher || "*",
    category: "SIVT",
    statistic: g.ids.length,
    threshold: 1,
    windowStart: window.start,
    windowEnd: window.end,
    details: { reasons: g.reasons, requireClick: opts.requireClick },
    eventIds: g.ids,
  }));
}

/**
 * Whether an orphan finding only follows another finding: every conversion in it lost its clicks to an
 * invalidation (reason "invalid_click"). It flags no source of its own (measure.ts does not count it as one).
 */
export function followsInvalidClicks(f: Finding): boolean {
  if (f.detector !== DETECTOR) return false;
  const reasons = Object.keys((f.details.reasons ?? {}) as Record<string, number>);
  return reasons.length > 0 && reasons.every((r) => r === "invalid_click");
}
