/**
 * GET /v1/campaigns/{id}/report: the ROI report (src/reports) per arm and for the campaign, per hour or
 * day and in total, from the stored events; JSON, or CSV with `Accept: text/csv` (or `format=csv`).
 *
 * `source=auto` (default) reads whole hours older than two hours from the hourly rollups when they are
 * fresh (the rollup job has run since the campaign's last decision, event and fraud finding) and the range
 * is longer than two days; everything else is computed directly from the events, so the answer always
 * equals the direct computation.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { reportToCsv, segmentsToCsv } from "../../reports/csv.ts";
import { campaignReport, segmentReport, UnknownSegmentError } from "../../reports/queries.ts";
import { roundFigures } from "../../reports/round.ts";
import { rows, type Db } from "../../store/db.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { budgetReport } from "../../budget/report.ts";
import { BudgetReportOut, errors, IdParam, Precision } from "../schemas.ts";

const HOUR = 3_600_000;
const MAX_RANGE_DAYS = 366;

const Interval = z
  .object({ estimate: z.number().nullable(), lower: z.number().nullable(), upper: z.number().nullable() })
  .openapi("ReportEstimate");
const MetricsOut = z
  .object({
    decisions: z.number(),
    impressions: z.number(),
    clicks: z.number(),
    conversions: z.number(),
    revenue: z.number(),
    cost: z.number(),
    profit: z.number(),
    ctr: Interval,
    conversionRate: Interval.openapi({ description: "Conversions per click (null without clicks)" }),
    conversionsPerDecision: Interval.openapi({
      description: "Conversions per decision: the conversion rate of channels without clicks (email)",
    }),
    cpa: Interval,
    roas: Interval,
    roi: Interval,
  })
  .openapi("ReportMetrics");
const ArmRowOut = MetricsOut.extend({ armKey: z.string(), share: z.number().nullable() });
const InvalidOut = z.object({
  impressions: z.number(),
  clicks: z.number(),
  conversions: z.number(),
  revenue: z.number(),
  cost: z.number(),
});
export const ReportOut = z
  .object({
    campaignId: z.string(),
    from: z.string(),
    to: z.string(),
    granularity: z.enum(["hour", "day"]),
    objective: z.string(),
    level: z.number(),
    periods: z.array(z.object({ start: z.string(), arms: z.array(ArmRowOut), campaign: MetricsOut })),
    total: z.object({
      arms: z.array(ArmRowOut.extend({ probabilityBest: z.number().nullable(), expectedLoss: z.number().nullable() })),
      campaign: MetricsOut,
      ranking: z.object({
        byObjective: z.array(z.string()),
        byRoi: z.array(z.string()),
        note: z.string().nullable().openapi({ description: "Why ROI and the objective put different arms first" }),
      }),
    }),
    earned: z.object({
      method: z.literal("ips"),
      lift: z.object({
        decisions: z.number(),
        actualValue: z.number().nullable(),
        evenSplitValue: z.number().nullable(),
        liftPerDecision: Interval,
        liftTotal: Interval,
        relativeLift: z.number().nullable(),
        relativeLiftInterval: Interval,
      }),
      regret: Interval,
    }),
    invalid: z.object({ byReason: z.array(InvalidOut.extend({ reason: z.string() })), total: InvalidOut }),
    verdict: z.string().openapi({ description: "The report in one plain sentence" }),
    budget: BudgetReportOut.nullable().openapi({
      description: "Spend against budgets, pacing and the ROI guardrail today (src/budget/report.ts)",
    }),
    segments: z
      .object({
        feature: z.string(),
        type: z.enum(["categorical", "numeric"]),
        edges: z.array(z.number()).nullable(),
        segments: z.array(
          z.object({
            segment: z.string(),
            lower: z.number().nullable().optional(),
            upper: z.number().nullable().optional(),
            decisions: z.number(),
            share: z.number().nullable(),
            arms: z.array(
              ArmRowOut.extend({ probabilityBest: z.number().nullable(), expectedLoss: z.number().nullable() }),
            ),
            campaign: MetricsOut,
            bestArm: z.string().nullable(),
            probabilityBest: z.number().nullable(),
          }),
        ),
      })
      .optional()
      .openapi({ description: "With `segment`: the breakdown by that context feature" }),
  })
  .openapi("CampaignReport");

const ReportQuery = z.object({
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Start (inclusive, widened to the whole hour); default: 7 days before `to`" }),
  to: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "End (exclusive, widened to the whole hour); default: now" }),
  granularity: z.enum(["hour", "day"]).default("day"),
  format: z.enum(["json", "csv"]).optional().openapi({ description: "Overrides the Accept header" }),
  source: z.enum(["auto", "direct", "rollup"]).default("auto"),
  segment: z.string().min(1).max(100).optional().openapi({
    description:
      "A context feature: adds `segments` (categorical: one per level; numeric: quantile buckets); CSV then lists the segments",
  }),
  buckets: z.coerce
    .number()
    .int()
    .min(2)
    .max(20)
    .default(4)
    .openapi({ description: "Numeric segments: how many quantile buckets" }),
  precision: Precision,
});

/** True when the rollups have been rewritten since anything that could change this campaign's figures. */
async function rollupsFresh(db: Db, campaignId: string): Promise<boolean> {
  const [r] = await rows<{ rolled: Date | string | null; changed: Date | string | null }>(
    db,
    sql`select (select max(updated_at) from arm_hourly where campaign_id = ${campaignId}::uuid) as rolled,
          greatest((select max(created_at) from decisions where campaign_id = ${campaignId}::uuid),
                   (select max(occurred_at) from events where campaign_id = ${campaignId}::uuid),
                   (select max(updated_at) from anomalies where campaign_id = ${campaignId}::uuid)) as changed`,
  );
  if (!r?.rolled) return false;
  return r.changed === null || new Date(r.rolled) >= new Date(r.changed);
}

export function register(app: App, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/campaigns/{id}/report",
      tags: ["reports"],
      summary:
        "ROI report: per arm and campaign, per period and in total, with intervals, P(best), lift over an even split and invalid-traffic credits",
      security: [{ bearer: [] }],
      request: { params: IdParam, query: ReportQuery },
      responses: {
        200: {
          description: "The report (JSON), or CSV with Accept: text/csv",
          content: { "application/json": { schema: ReportOut }, "text/csv": { schema: z.string() } },
        },
        400: errors[400],
        401: errors[401],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const workspaceId = c.get("workspaceId");
      const { id } = c.req.valid("param");
      const q = c.req.valid("query");
      const now = Date.now();
      const to = q.to ? Date.parse(q.to) : now;
      const from = q.from ? Date.parse(q.from) : to - 7 * 24 * HOUR;
      if (from >= to)
        throw new ApiError("invalid_request", "from: must be before to", [
          { path: "from", message: "must be before to" },
        ]);
      if (to - from > MAX_RANGE_DAYS * 24 * HOUR)
        throw new ApiError("invalid_request", `to: at most ${MAX_RANGE_DAYS} days per report`, [
          { path: "to", message: `at most ${MAX_RANGE_DAYS} days per report` },
        ]);
      // Decisions still queued in memory are part of the campaign: write them before reading.
      await deps.engine.flush();
      let source: "direct" | "rollup" = q.source === "rollup" ? "rollup" : "direct";
      if (q.source === "auto" && to - from > 48 * HOUR && (await rollupsFresh(deps.db, id))) source = "rollup";
      const report = await campaignReport(deps.db, workspaceId, id, {
        from,
        to,
        granularity: q.granularity,
        source,
        rollupBefore: source === "rollup" ? now - 2 * HOUR : undefined,
      });
      if (!report) throw new ApiError("not_found", "campaign not found");
      let segments: Awaited<ReturnType<typeof segmentReport>> | undefined;
      if (q.segment !== undefined) {
        try {
          segments =
            (await segmentReport(deps.db, workspaceId, id, {
              from,
              to,
              granularity: q.granularity,
              feature: q.segment,
              buckets: q.buckets,
            })) ?? undefined;
        } catch (err) {
          if (err instanceof UnknownSegmentError)
            throw new ApiError("invalid_request", `segment: ${err.message}`, [
              { path: "segment", message: err.message },
            ]);
          throw err;
        }
      }
      const round = <T>(v: T): T => (q.precision === "full" ? v : roundFigures(v));
      const wantsCsv =
        q.format === "csv" || (q.format === undefined && (c.req.header("accept") ?? "").includes("text/csv"));
      if (wantsCsv) {
        c.header("content-type", "text/csv; charset=utf-8");
        return c.body(segments ? segmentsToCsv(round(segments)) : reportToCsv(round(report)), 200) as never;
      }
      const budget = await budgetReport(deps.db, await deps.engine.campaign(workspaceId, id));
      return c.json(round({ ...report, budget, ...(segments ? { segments } : {}) }), 200);
    },
  );
}
