/**
 * The report by segment of a context feature, as a pure function of segmented cells: for a categorical
 * feature one segment per level, for a numeric one quantile buckets (edges computed from the decisions of the
 * period, see queries.ts); decisions whose context lacks the feature form the "(missing)" segment. Each
 * segment gets the per-arm totals of the campaign report (buildReport over the segment's own cells: rates
 * with intervals, revenue, profit, share of the segment's traffic, P(best) under the objective) and its
 * share of the campaign's decisions.
 */
import { roundFigure } from "./round.ts";
import { buildReport, type ArmTotalRow, type Objective, type ReportCell } from "./report.ts";
import type { Metrics } from "./roi.ts";

export const MISSING = "(missing)";

export interface SegmentCell extends ReportCell {
  /** Categorical: the level; numeric: the bucket index as text (width_bucket over `edges`); or MISSING. */
  segment: string;
}

export interface SegmentSpec {
  feature: string;
  type: "categorical" | "numeric";
  /** Numeric: sorted, distinct bucket edges; bucket i holds edges[i−1] ≤ x < edges[i]. */
  edges?: number[];
}

export interface SegmentRow {
  /** The level, or the bucket's range in words ("< 10", "[10, 20)", "≥ 20"), or "(missing)". */
  segment: string;
  /** Numeric buckets: the range [lower, upper) (null at the open ends). */
  lower?: number | null;
  upper?: number | null;
  decisions: number;
  /** Share of the campaign's decisions in the period that fell in this segment. */
  share: number | null;
  arms: ArmTotalRow[];
  campaign: Metrics;
  /** The arm most likely best in this segment under the objective, and that probability. */
  bestArm: string | null;
  probabilityBest: number | null;
}

export interface SegmentReport {
  feature: string;
  type: "categorical" | "numeric";
  edges: number[] | null;
  segments: SegmentRow[];
}

/** The bucket a numeric value falls in, as width_bucket numbers it (0 … edges.length). */
export function bucketLabel(
  i: number,
  edges: readonly number[],
): { segment: string; lower: number | null; upper: number | null } {
  const f = (x: number) => String(roundFigure(x));
  if (edges.length === 0) return { segment: "all", lower: null, upper: null };
  if (i <= 0) return { segment: `< ${f(edges[0])}`, lower: null, upper: edges[0] };
  if (i >= edges.length)
    return { segment: `≥ ${f(edges[edges.length - 1])}`, lower: edges[edges.length - 1], upper: null };
  return { segment: `[${f(edges[i - 1])}, ${f(edges[i])})`, lower: edges[i - 1], upper: edges[i] };
}

/** Quantile positions for `buckets` equal-count buckets: 1/b, 2/b, … (b − 1 of them). */
export function quantilePositions(buckets: number): number[] {
  return Array.from({ length: Math.max(0, buckets - 1) }, (_, k) => (k + 1) / buckets);
}

export function buildSegments(input: {
  campaignId: string;
  from: number;
  to: number;
  objective: Objective;
  armKeys: readonly string[];
  spec: SegmentSpec;
  cells: readonly SegmentCell[];
  level?: number;
  seed?: number;
}): SegmentReport {
  const bySegment = new Map<string, SegmentCell[]>();
  for (const c of input.cells) {
    let list = bySegment.get(c.segment);
    if (!list) bySegment.set(c.segment, (list = []));
    list.push(c);
  }
  const all = input.cells.reduce((s, c) => s + c.decisions, 0);
  const edges = input.spec.edges ?? [];
  const order = [...bySegment.keys()].sort((a, b) => {
    if (a === MISSING) return 1;
    if (b === MISSING) return -1;
    return input.spec.type === "numeric" ? Number(a) - Number(b) : a.localeCompare(b);
  });
  const segments = order.map((key): SegmentRow => {
    const r = buildReport({
      campaignId: input.campaignId,
      from: input.from,
      to: input.to,
      granularity: "day",
      objective: input.objective,
      armKeys: input.armKeys,
      cells: bySegment.get(key)!,
      invalid: [],
      ips: null,
      level: input.level,
      seed: input.seed,
    });
    let best: ArmTotalRow | null = null;
    for (const a of r.total.arms)
      if (a.probabilityBest !== null && (best === null || a.probabilityBest > best.probabilityBest!)) best = a;
    const label =
      key === MISSING || input.spec.type === "categorical" ? { segment: key } : bucketLabel(Number(key), edges);
    return {
      ...label,
      decisions: r.total.campaign.decisions,
      share: all > 0 ? r.total.campaign.decisions / all : null,
      arms: r.total.arms,
      campaign: r.total.campaign,
      bestArm: best?.armKey ?? null,
      probabilityBest: best?.probabilityBest ?? null,
    };
  });
  return {
    feature: input.spec.feature,
    type: input.spec.type,
    edges: input.spec.type === "numeric" ? edges : null,
    segments,
  };
}
