/**
 * Declared bots and non-browser user agents (GIVT): every impression or click whose user agent is on the
 * maintained list (user-agents.ts) is invalid. Conversions are left to the attribution checks, because
 * advertisers post them server-to-server with library user agents. Reads per-hour counts per user agent;
 * the finding covers the user agent's hours in the window. (The ingest gate already marks these; this
 * catches what arrived while the gate's check was off or before a user agent was listed.)
 */
import { HOUR, type UserAgentCell } from "../aggregates.ts";
import { mergeIntervals, type Finding, type Interval, type Window } from "../types.ts";
import { classifyUserAgent } from "../user-agents.ts";

export const DETECTOR = "declared_bot";

export function detectDeclaredBots(cells: readonly UserAgentCell[], window: Window): Finding[] {
  const byUa = new Map<string, { match: string; clicks: number; impressions: number; hours: Interval[] }>();
  const verdicts = new Map<string, ReturnType<typeof classifyUserAgent>>();
  for (const c of cells) {
    if (c.hour + HOUR <= window.start || c.hour >= window.end) continue;
    let v = verdicts.get(c.userAgent);
    if (!v) verdicts.set(c.userAgent, (v = classifyUserAgent(c.userAgent)));
    if (!v.bot) continue;
    let g = byUa.get(c.userAgent);
    if (!g) byUa.set(c.userAgent, (g = { match: v.match!, clicks: 0, impressions: 0, hours: [] }));
    g.clicks += c.clicks;
    g.impressions += c.impressions;
    g.hours.push([Math.max(c.hour, window.start), Math.min(c.hour + HOUR, window.end)]);
  }
  return [...byUa].map(([ua, g]) => {
    const intervals = mergeIntervals(g.hours);
    return {
      detector: DETECTOR,
      entityType: "user_agent" as const,
      entity: ua,
      category: "GIVT" as const,
      statistic: g.clicks + g.impressions,
      threshold: 1,
      windowStart: intervals[0][0],
      windowEnd: intervals[intervals.length - 1][1],
      evidenceStart: window.start,
      evidenceEnd: window.end,
      details: { match: g.match, clicks: g.clicks, impressions: g.impressions },
      intervals,
      eventTypes: ["impression", "click"],
    };
  });
}
