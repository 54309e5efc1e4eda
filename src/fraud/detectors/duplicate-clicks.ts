/**
 * Duplicate clicks (GIVT): the same source (ip + user agent) clicking the same decision again within
 * `seconds` of the click that counted is a duplicate; it counts once (IAB/MRC click measurement
 * guidelines: "double clicks" within a short interval are filtered). A click after the interval counts
 * again and opens a new interval. Clicks that name no source (no ip, no user agent) are left alone: nothing
 * says they came from the same source.
 */
import type { Finding, TrafficEvent, Window } from "../types.ts";

export const DETECTOR = "duplicate_click";

export interface DuplicateClickOptions {
  seconds: number;
}

export const DUPLICATE_DEFAULTS: DuplicateClickOptions = { seconds: 30 };

export function detectDuplicateClicks(
  events: readonly TrafficEvent[],
  window: Window,
  opts: DuplicateClickOptions = DUPLICATE_DEFAULTS,
): Finding[] {
  const groups = new Map<string, TrafficEvent[]>();
  for (const e of events) {
    if (e.type !== "click" || !e.decisionId || e.occurredAt >= window.end || (!e.ip && !e.userAgent)) continue;
    // Clicks before the window still open an interval, so a duplicate right after the window start is caught.
    const key = `${e.decisionId}\u0000${e.ip ?? ""}\u0000${e.userAgent ?? ""}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(e);
  }
  const byIp = new Map<string, { ids: string[]; decisions: Set<string> }>();
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    g.sort((a, b) => a.occurredAt - b.occurredAt || a.id.localeCompare(b.id));
    let counted = g[0].occurredAt;
    for (let i = 1; i < g.length; i++) {
      const e = g[i];
      if (e.occurredAt - counted < opts.seconds * 1000) {
        if (e.occurredAt < window.start) continue;
        const ip = e.ip ?? "";
        let s = byIp.get(ip);
        if (!s) byIp.set(ip, (s = { ids: [], decisions: new Set() }));
        s.ids.push(e.id);
        s.decisions.add(e.decisionId!);
      } else counted = e.occurredAt;
    }
  }
  return [...byIp].map(([ip, s]) => ({
    detector: DETECTOR,
    entityType: "ip",
    entity: ip,
    category: "GIVT",
    statistic: s.ids.length,
    threshold: 1,
    windowStart: window.start,
    windowEnd: window.end,
    details: { seconds: opts.seconds, decisions: s.decisions.size },
    eventIds: s.ids,
  }));
}
