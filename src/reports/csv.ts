/**
 * CSV rendering of a CampaignReport (RFC 4180): one row per period × arm, a "*" row per period for the
 * campaign, "total" rows, and one "invalid:<reason>" row per invalid-traffic reason. Numbers are written
 * as they are (String(n)), so the CSV parses back to exactly the JSON figures (the route rounds both alike).
 */
import type { CampaignReport } from "./report.ts";
import type { SegmentReport } from "./segments.ts";
import type { Estimate, Metrics } from "./roi.ts";

/** The columns of one arm's (or the campaign's) figures, shared by both CSV layouts. */
const METRIC_COLUMNS = [
  "decisions",
  "share",
  "impressions",
  "clicks",
  "conversions",
  "revenue",
  "cost",
  "profit",
  ...(["ctr", "conversion_rate", "conversions_per_decision", "cpa", "roas", "roi"] as const).flatMap((m) => [
    m,
    `${m}_lower`,
    `${m}_upper`,
  ]),
  "probability_best",
] as const;

export const CSV_COLUMNS = ["period", "arm", ...METRIC_COLUMNS, "expected_loss"] as const;

const ESTIMATES = [
  ["ctr", "ctr"],
  ["conversion_rate", "conversionRate"],
  ["conversions_per_decision", "conversionsPerDecision"],
  ["cpa", "cpa"],
  ["roas", "roas"],
  ["roi", "roi"],
] as const;

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function metricCells(m: Metrics): Record<string, unknown> {
  const out: Record<string, unknown> = {
    decisions: m.decisions,
    impressions: m.impressions,
    clicks: m.clicks,
    conversions: m.conversions,
    revenue: m.revenue,
    cost: m.cost,
    profit: m.profit,
  };
  for (const [col, key] of ESTIMATES) {
    const e: Estimate = m[key];
    out[col] = e.estimate;
    out[`${col}_lower`] = e.lower;
    out[`${col}_upper`] = e.upper;
  }
  return out;
}

export function reportToCsv(r: CampaignReport): string {
  const lines: string[] = [CSV_COLUMNS.join(",")];
  const push = (row: Record<string, unknown>) => lines.push(CSV_COLUMNS.map((c) => cell(row[c])).join(","));
  for (const p of r.periods) {
    for (const a of p.arms) push({ period: p.start, arm: a.armKey, share: a.share, ...metricCells(a) });
    push({ period: p.start, arm: "*", ...metricCells(p.campaign) });
  }
  for (const a of r.total.arms) {
    push({
      period: "total",
      arm: a.armKey,
      share: a.share,
      probability_best: a.probabilityBest,
      expected_loss: a.expectedLoss,
      ...metricCells(a),
    });
  }
  push({ period: "total", arm: "*", ...metricCells(r.total.campaign) });
  for (const i of r.invalid.byReason) {
    push({ period: "total", arm: `invalid:${i.reason}`, ...i, profit: i.revenue - i.cost });
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** Parses the CSV this module writes (quoted fields included) into records keyed by column. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") row.push(field), (field = "");
    else if (ch === "\n") row.push(field), rows.push(row), (row = []), (field = "");
    else if (ch !== "\r") field += ch;
  }
  if (field !== "" || row.length > 0) row.push(field), rows.push(row);
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i] ?? ""])));
}

export const SEGMENT_CSV_COLUMNS = ["feature", "segment", "segment_share", "arm", ...METRIC_COLUMNS] as const;

/** The report by segment: one row per segment × arm and a "*" row per segment for the campaign. */
export function segmentsToCsv(r: SegmentReport): string {
  const lines: string[] = [SEGMENT_CSV_COLUMNS.join(",")];
  const push = (row: Record<string, unknown>) => lines.push(SEGMENT_CSV_COLUMNS.map((c) => cell(row[c])).join(","));
  for (const s of r.segments) {
    const base = { feature: r.feature, segment: s.segment, segment_share: s.share };
    for (const a of s.arms)
      push({ ...base, arm: a.armKey, share: a.share, probability_best: a.probabilityBest, ...metricCells(a) });
    push({ ...base, arm: "*", ...metricCells(s.campaign) });
  }
  return `${lines.join("\r\n")}\r\n`;
}
