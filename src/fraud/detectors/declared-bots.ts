/**
 * Declared bots and non-browser user agents (GIVT): every impression or click whose user agent is on the
 * maintained list (user-agents.ts) is invalid. Conversions are left to the attribution checks, because
 * advertisers post them server-to-server with library user agents.
 */
import type { Finding, TrafficEvent, Window } from "../types.ts";
import { classifyUserAgent } from "../user-agents.ts";

export const DETECTOR = "declared_bot";

export function detectDeclaredBots(events: readonly TrafficEvent[], window: Window): Finding[] {
  const byUa = new Map<string, { ids: string[]; match: string; clicks: number; impressions: number }>();
  const verdicts = new Map<string, ReturnType<typeof classifyUserAgent>>();
  for (const e of events) {
    if (e.type === "conversion" || !e.userAgent || e.occurredAt < window.start || e.occurredAt >= window.end) continue;
    let v = verdicts.get(e.userAgent);
    if (!v) verdicts.set(e.userAgent, (v = classifyUserAgent(e.userAgent)));
    if (!v.bot) continue;
    let g = byUa.get(e.userAgent);
    if (!g) byUa.set(e.userAgent, (g = { ids: [], match: v.match!, clicks: 0, impressions: 0 }));
    g.ids.push(e.id);
    if (e.type === "click") g.clicks++;
    else g.impressions++;
  }
  return [...byUa].map(([ua, g]) => ({
    detector: DETECTOR,
    entityType: "user_agent",
    entity: ua,
    category: "GIVT",
    statistic: g.ids.length,
    threshold: 1,
    windowStart: window.start,
    windowEnd: window.end,
    details: { match: g.match, clicks: g.clicks, impressions: g.impressions },
    eventIds: g.ids,
  }));
}
