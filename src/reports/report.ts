/**
 * The campaign ROI report as a pure function of stored aggregates: per arm and for the campaign, per period
 * (hour or day, UTC) and in total; P(best), expected loss and regret (bandit.ts); IPS lift over an even
 * split; invalid-traffic credits by reason, shown beside the clean figures.
 *
 * Input cells are additive (roi.ts), so cells from the hourly rollup table or from a direct query over the
 * events give the same report. Posteriors for P(best) follow the campaign objective: conversions per
 * decision (Beta), or revenue / profit per decision (normal, from the per-unit second moments).
 */
import { Mulberry32 } from "../../strategies/rng.ts";
import {
  bestArmAnalysis,
  betaPosterior,
  ipsLift,
  normalPosterior,
  type ArmPosterior,
  type IpsSums,
  type Lift,
} from "./bandit.ts";
import {
  addInto,
  emptyAggregate,
  metrics,
  type Aggregate,
  type Estimate,
  type Metrics,
  type RateMethod,
} from "./roi.ts";

export type Granularity = "hour" | "day";
export type Objective = "conversions" | "revenue" | "profit";

export interface ReportCell extends Aggregate {
  armKey: string;
  /** Start of the cell's period in epoch ms (an hour; re-bucketed to days when asked). */
  periodStart: number;
}

export interface InvalidCell {
  reason: string;
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
}

export interface ReportInput {
  campaignId: string;
  from: number;
  to: number;
  granularity: Granularity;
  objective: Objective;
  armKeys: readonly string[];
  cells: readonly ReportCell[];
  invalid: readonly InvalidCell[];
  /** IPS sums over the decisions in [from, to) with the objective's reward; null when not available. */
  ips: IpsSums | null;
  level?: number;
  rateMethod?: RateMethod;
  /** Seed of the Monte Carlo for P(best): the same data gives the same report. */
  seed?: number;
  draws?: number;
}

export interface ArmRow extends Metrics {
  armKey: string;
  /** Share of the period's decisions that went to this arm. */
  share: number | null;
}

export interface ArmTotalRow extends ArmRow {
  /** Null for arms without enough decisions to have a posterior (they are left out of the comparison). */
  probabilityBest: number | null;
  expectedLoss: number | null;
}

export interface PeriodReport {
  start: string;
  arms: ArmRow[];
  campaign: Metrics;
}

/** How the objective's P(best) and ROI order the arms, and why they may disagree. */
export interface Ranking {
  /** Arm keys by P(best) under the campaign objective, best first (arms without a posterior left out). */
  byObjective: string[];
  /** Arm keys by ROI = profit / cost, best first (arms without cost left out). */
  byRoi: string[];
  /** Set when the two put a different arm first: the reason, in words. */
  note: string | null;
}

const OBJECTIVE_WORDS: Record<Objective, string> = {
  conversions: "conversions per decision",
  revenue: "revenue per decision",
  profit: "profit per decision",
};

export function ranking(objective: Objective, arms: readonly ArmTotalRow[]): Ranking {
  const byObjective = arms
    .filter((a) => a.probabilityBest !== null)
    .sort((a, b) => b.probabilityBest! - a.probabilityBest!)
    .map((a) => a.armKey);
  const byRoi = arms
    .filter((a) => a.roi.estimate !== null)
    .sort((a, b) => b.roi.estimate! - a.roi.estimate!)
    .map((a) => a.armKey);
  let note: string | null = null;
  // Only when both orders rank the objective's favourite: an arm without cost has no ROI to compare.
  if (byObjective.length > 0 && byRoi.includes(byObjective[0]) && byObjective[0] !== byRoi[0]) {
    note =
      `ROI ranks "${byRoi[0]}" first but the campaign objective (${OBJECTIVE_WORDS[objective]}) ranks "${byObjective[0]}" first. ` +
      "ROI is profit per unit of cost, so it favours cheap arms even when each decision earns less; " +
      `the bandit is set to maximise ${OBJECTIVE_WORDS[objective]}, so it sends traffic to "${byObjective[0]}".`;
  }
  return { byObjective, byRoi, note };
}

export interface CampaignReport {
  campaignId: string;
  from: string;
  to: string;
  granularity: Granularity;
  objective: Objective;
  level: number;
  periods: PeriodReport[];
  total: { arms: ArmTotalRow[]; campaign: Metrics; ranking: Ranking };
  earned: { method: "ips"; lift: Lift; regret: Estimate };
  invalid: { byReason: InvalidCell[]; total: Omit<InvalidCell, "reason"> };
  /** The figures above in one plain sentence (verdict()). */
  verdict: string;
}

/** Signed percent: one decimal below 10 %, whole percents above. */
const pct = (x: number) => {
  const v = Math.abs(x) < 0.1 ? Math.round(x * 1000) / 10 : Math.round(x * 100);
  return `${v > 0 ? "+" : v < 0 ? "−" : ""}${Math.abs(v)} %`;
};
const pctPlain = (x: number) => `${Math.round(x * 100)} %`;

/**
 * One plain-language sentence from the report: the arm most likely best and that probability, what the
 * allocation earned over an even split (relative, with its interval), and how much traffic was removed as
 * invalid. Words only; every number comes from the report itself.
 */
export function verdict(r: Omit<CampaignReport, "verdict">): string {
  const parts: string[] = [];
  const ranked = r.total.arms.filter((a) => a.probabilityBest !== null);
  if (r.total.campaign.decisions === 0) return "No decisions in this period yet.";
  const c = r.total.campaign;
  if (c.conversions === 0 && c.revenue === 0 && r.objective !== "profit") {
    // Without a single outcome, P(best) only reflects how little each arm has been tried.
    parts.push("no conversions yet: too early to name a best arm");
  } else if (ranked.length === 1) {
    parts.push(`only "${ranked[0].armKey}" has decisions so far: too early to compare arms`);
  } else if (ranked.length > 1) {
    const best = ranked.reduce((b, a) => (a.probabilityBest! > b.probabilityBest! ? a : b));
    const p = best.probabilityBest!;
    parts.push(
      p >= 0.95
        ? `"${best.armKey}" is best with ${pctPlain(p)} probability`
        : `"${best.armKey}" leads with ${pctPlain(p)} probability of being best — not settled yet`,
    );
  }
  const rel = r.earned.lift.relativeLiftInterval;
  if (rel.estimate !== null) {
    const range = rel.lower !== null && rel.upper !== null ? ` [${pct(rel.lower)}, ${pct(rel.upper)}]` : "";
    parts.push(`the bandit earned ${pct(rel.estimate)}${range} over an even split`);
  }
  const inv = r.invalid.total;
  const basis: [number, number, string][] = [
    [inv.clicks, r.total.campaign.clicks, "clicks"],
    [inv.conversions, r.total.campaign.conversions, "conversions"],
    [inv.impressions, r.total.campaign.impressions, "impressions"],
  ];
  const [bad, good, what] = basis.find(([b, g]) => b + g > 0) ?? [0, 0, "events"];
  parts.push(
    bad > 0
      ? `${pctPlain(bad / (bad + good)) === "0 %" ? "under 1 %" : pctPlain(bad / (bad + good))} of ${what} were removed as invalid`
      : `no ${what} were removed as invalid`,
  );
  const s = parts.join("; ");
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

export function periodStart(ms: number, granularity: Granularity): number {
  const size = granularity === "hour" ? HOUR : DAY;
  return Math.floor(ms / size) * size;
}

/** The arm's posterior for the objective; null without decisions (a prior alone would win P(best) by spread). */
export function posteriorFor(objective: Objective, a: Aggregate): ArmPosterior | null {
  if (a.decisions === 0) return null;
  if (objective === "conversions") return betaPosterior(a.conversions, a.decisions);
  if (objective === "revenue") return normalPosterior(a.decisions, a.revenue, a.sumRevenueSq);
  const sumSq = a.sumRevenueSq - 2 * a.sumRevenueCost + a.sumCostSq;
  return normalPosterior(a.decisions, a.revenue - a.cost, sumSq);
}

export function buildReport(input: ReportInput): CampaignReport {
  const level = input.level ?? 0.95;
  const method = input.rateMethod ?? "jeffreys";
  const armKeys = [...input.armKeys];
  for (const c of input.cells) if (!armKeys.includes(c.armKey)) armKeys.push(c.armKey);

  const byPeriod = new Map<number, Map<string, Aggregate>>();
  const armTotals = new Map<string, Aggregate>(armKeys.map((k) => [k, emptyAggregate()]));
  for (const c of input.cells) {
    const p = periodStart(c.periodStart, input.granularity);
    let arms = byPeriod.get(p);
    if (!arms) byPeriod.set(p, (arms = new Map()));
    let agg = arms.get(c.armKey);
    if (!agg) arms.set(c.armKey, (agg = emptyAggregate()));
    addInto(agg, c);
    addInto(armTotals.get(c.armKey)!, c);
  }

  const rows = (arms: Map<string, Aggregate>): { arms: ArmRow[]; campaign: Metrics } => {
    const campaign = emptyAggregate();
    for (const a of arms.values()) addInto(campaign, a);
    return {
      arms: armKeys.map((key) => {
        const a = arms.get(key) ?? emptyAggregate();
        return {
          armKey: key,
          share: campaign.decisions > 0 ? a.decisions / campaign.decisions : null,
          ...metrics(a, level, method),
        };
      }),
      campaign: metrics(campaign, level, method),
    };
  };

  const periods = [...byPeriod.keys()]
    .sort((x, y) => x - y)
    .map((p) => ({ start: new Date(p).toISOString(), ...rows(byPeriod.get(p)!) }));

  const total = rows(armTotals);
  const posteriors = armKeys.map((k) => posteriorFor(input.objective, armTotals.get(k)!));
  const compared = armKeys.map((_, i) => i).filter((i) => posteriors[i] !== null);
  const best = bestArmAnalysis(
    compared.map((i) => posteriors[i]!),
    compared.map((i) => armTotals.get(armKeys[i])!.decisions),
    new Mulberry32(input.seed ?? 0x5eed),
    input.draws ?? 10_000,
  );
  const slot = new Map(compared.map((i, j) => [i, j]));

  const byReason = new Map<string, InvalidCell>();
  const invalidTotal = { impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0 };
  for (const c of input.invalid) {
    let r = byReason.get(c.reason);
    if (!r)
      byReason.set(
        c.reason,
        (r = { reason: c.reason, impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0 }),
      );
    for (const f of ["impressions", "clicks", "conversions", "revenue", "cost"] as const) {
      r[f] += c[f];
      invalidTotal[f] += c[f];
    }
  }

  const totalArms: ArmTotalRow[] = total.arms.map((r, i) => {
    const j = slot.get(i);
    return {
      ...r,
      probabilityBest: j === undefined ? null : best.probabilityBest[j],
      expectedLoss: j === undefined ? null : best.expectedLoss[j],
    };
  });

  const report: Omit<CampaignReport, "verdict"> = {
    campaignId: input.campaignId,
    from: new Date(input.from).toISOString(),
    to: new Date(input.to).toISOString(),
    granularity: input.granularity,
    objective: input.objective,
    level,
    periods,
    total: { arms: totalArms, campaign: total.campaign, ranking: ranking(input.objective, totalArms) },
    earned: {
      method: "ips",
      lift: ipsLift(input.ips ?? { n: 0, sumReward: 0, sumEven: 0, sumDiffSq: 0 }, level),
      regret: best.regret,
    },
    invalid: { byReason: [...byReason.values()].sort((a, b) => a.reason.localeCompare(b.reason)), total: invalidTotal },
  };
  return { ...report, verdict: verdict(report) };
}
