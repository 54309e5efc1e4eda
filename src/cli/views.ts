/** Terminal views of a campaign and of the ROI report. */
import type { Campaign, CampaignReport } from "../client/index.ts";
import { cell, fields, table } from "./output.ts";

export function campaignView(c: Campaign): string {
  return (
    fields({
      id: c.id,
      name: c.name,
      kind: c.kind,
      objective: c.objective,
      strategy: JSON.stringify(c.strategy),
      status: c.status,
      attributionWindowHours: c.attributionWindowHours,
      explorationFloor: c.explorationFloor,
      version: c.version,
      created: c.createdAt,
      updated: c.updatedAt,
    }) +
    "\n" +
    table(
      ["arm", "name", "cost", "status"],
      c.arms.map((a) => [a.key, a.name, a.cost, a.status]),
    )
  );
}

type Estimate = { estimate: number | null; lower: number | null; upper: number | null };
const pct = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
const withInterval = (e: Estimate, f: (x: number | null) => string = (x) => cell(x)) =>
  e.estimate === null ? "–" : `${f(e.estimate)} [${f(e.lower)}, ${f(e.upper)}]`;

/** Totals per arm and for the campaign, then the lift over an even split and the invalid traffic. */
export function reportTables(r: CampaignReport): string {
  const head = [
    "arm",
    "decisions",
    "impr.",
    "clicks",
    "conv.",
    "revenue",
    "cost",
    "profit",
    "conv. rate",
    "ROI",
    "P(best)",
    "share",
  ];
  const row = (
    name: string,
    m: CampaignReport["total"]["campaign"],
    extra: { probabilityBest?: number | null; share?: number | null } = {},
  ) => [
    name,
    m.decisions,
    m.impressions,
    m.clicks,
    m.conversions,
    m.revenue,
    m.cost,
    m.profit,
    withInterval(m.conversionRate, pct),
    withInterval(m.roi, pct),
    extra.probabilityBest === undefined ? "" : pct(extra.probabilityBest),
    extra.share === undefined ? "" : pct(extra.share),
  ];
  const rows = [...r.total.arms.map((a) => row(a.armKey, a, a)), row("(campaign)", r.total.campaign)];
  const lift = r.earned.lift;
  const inv = r.invalid.total;
  return (
    `campaign ${r.campaignId} · ${r.objective} · ${r.from} → ${r.to} · ${Math.round(r.level * 100)}% intervals\n\n` +
    table(head, rows) +
    `\nlift over an even split (${r.earned.method}): ${withInterval(lift.liftTotal)} in total, ` +
    `${withInterval(lift.liftPerDecision)} per decision, relative ${pct(lift.relativeLift)}; regret ${withInterval(r.earned.regret)}\n` +
    `invalid traffic: ${cell(inv.impressions)} impressions, ${cell(inv.clicks)} clicks, ${cell(inv.conversions)} conversions, ` +
    `${cell(inv.revenue)} revenue not counted\n`
  );
}
