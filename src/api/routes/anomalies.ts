/**
 * Fraud findings: GET /v1/anomalies lists them (filters: campaign, time window, status), the ingest gate's
 * declared bots and blocklisted sources included (per source and hour); POST /v1/anomalies/scan runs the
 * detectors now over one campaign or the whole workspace and answers with the findings it recorded or
 * extended; PATCH /v1/anomalies/{id} records a person's verdict. Dismissing a finding makes the events it
 * invalidated valid again, and confirming a dismissed one invalidates them again; a scan or review that
 * changes events has the campaign's statistics rebuilt at once (Engine.recompute) and the affected hours'
 * rollups rewritten.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { anomalyRows, reviewAnomaly, scanNow } from "../../fraud/scan.ts";
import { refreshRollups } from "../../reports/queries.ts";
import { rows } from "../../store/db.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { errors, IdParam, json } from "../schemas.ts";

export const AnomalyOut = z
  .object({
    id: z.string(),
    campaignId: z.string(),
    detector: z.string(),
    entityType: z.string(),
    entity: z.string(),
    category: z.enum(["GIVT", "SIVT"]),
    statistic: z.number(),
    threshold: z.number(),
    windowStart: z.string(),
    windowEnd: z.string(),
    intervals: z
      .array(z.tuple([z.string(), z.string()]))
      .nullable()
      .openapi({
        description:
          "The anomalous intervals [start, end) inside the window whose events of the entity the finding invalidated (a burst's minutes, an outlier's hours); null: the whole window, or exactly the listed events (duplicates, orphans)",
      }),
    evidenceStart: z.string().nullable().openapi({ description: "Start of the window the test looked at" }),
    evidenceEnd: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    status: z.enum(["open", "confirmed", "dismissed"]),
    invalidatedEvents: z.number(),
    createdAt: z.string(),
    reviewedAt: z.string().nullable(),
    reviewNote: z.string().nullable(),
  })
  .openapi("Anomaly");

const ListQuery = z.object({
  campaignId: z.uuid().optional(),
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Findings whose window ends after this time" }),
  to: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Findings whose window starts before this time" }),
  status: z.enum(["open", "confirmed", "dismissed"]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const ScanIn = z
  .object({
    campaignId: z
      .uuid()
      .optional()
      .openapi({ description: "Scan this campaign only; default: every active campaign of the workspace" }),
  })
  .openapi("AnomalyScanRequest");

const ScanOut = z
  .object({
    campaigns: z.number().openapi({ description: "Campaigns scanned" }),
    invalidatedEvents: z.number().openapi({ description: "Events this scan marked invalid" }),
    anomalies: z.array(AnomalyOut).openapi({ description: "Findings this scan recorded or extended" }),
  })
  .openapi("AnomalyScan");

const ReviewIn = z
  .object({ status: z.enum(["confirmed", "dismissed"]), note: z.string().max(2000).optional() })
  .openapi("AnomalyReview");

type Row = {
  id: string;
  campaign_id: string;
  detector: string;
  entity_type: string;
  entity: string;
  category: "GIVT" | "SIVT";
  statistic: number;
  threshold: number;
  window_start: Date | string;
  window_end: Date | string;
  intervals: [string, string][] | string | null;
  evidence_start: Date | string | null;
  evidence_end: Date | string | null;
  details: Record<string, unknown> | string;
  status: "open" | "confirmed" | "dismissed";
  invalidated_events: number | string;
  created_at: Date | string;
  reviewed_at: Date | string | null;
  review_note: string | null;
};

const iso = (t: Date | string) => new Date(t).toISOString();
function toOut(r: Row): z.infer<typeof AnomalyOut> {
  return {
    id: r.id,
    campaignId: r.campaign_id,
    detector: r.detector,
    entityType: r.entity_type,
    entity: r.entity,
    category: r.category,
    statistic: Number(r.statistic),
    threshold: Number(r.threshold),
    windowStart: iso(r.window_start),
    windowEnd: iso(r.window_end),
    intervals:
      (typeof r.intervals === "string" ? JSON.parse(r.intervals) : r.intervals)?.map(
        ([a, b]: [string, string]) => [iso(a), iso(b)] as [string, string],
      ) ?? null,
    evidenceStart: r.evidence_start === null ? null : iso(r.evidence_start),
    evidenceEnd: r.evidence_end === null ? null : iso(r.evidence_end),
    details: typeof r.details === "string" ? JSON.parse(r.details) : r.details,
    status: r.status,
    invalidatedEvents: Number(r.invalidated_events),
    createdAt: iso(r.created_at),
    reviewedAt: r.reviewed_at === null ? null : iso(r.reviewed_at),
    reviewNote: r.review_note,
  };
}

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/anomalies",
      tags: ["fraud"],
      summary: "Fraud findings, newest first",
      security,
      request: { query: ListQuery },
      responses: {
        200: json(z.object({ anomalies: z.array(AnomalyOut) }), "Findings"),
        400: errors[400],
        401: errors[401],
        503: errors[503],
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const conds = [sql`workspace_id = ${c.get("workspaceId")}::uuid`];
      if (q.campaignId) conds.push(sql`campaign_id = ${q.campaignId}::uuid`);
      if (q.from) conds.push(sql`window_end > ${q.from}::timestamptz`);
      if (q.to) conds.push(sql`window_start < ${q.to}::timestamptz`);
      if (q.status) conds.push(sql`status = ${q.status}`);
      const list = await rows<Row>(
        deps.db,
        sql`select * from anomalies where ${sql.join(conds, sql` and `)} order by window_end desc, id limit ${q.limit}`,
      );
      return c.json({ anomalies: list.map(toOut) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/anomalies/scan",
      tags: ["fraud"],
      summary: "Run the fraud detectors now (one campaign or the workspace) and answer with the findings",
      security,
      request: { body: { content: { "application/json": { schema: ScanIn } }, required: false } },
      responses: {
        200: json(ScanOut, "What the scan found"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const workspaceId = c.get("workspaceId");
      const { campaignId } = (c.req.valid("json") ?? {}) as z.infer<typeof ScanIn>;
      const results = await scanNow(deps.db, workspaceId, campaignId, new Date(), {
        recompute: (id) => deps.engine.recompute(id),
      });
      if (!results) throw new ApiError("not_found", "campaign not found");
      const ids: string[] = [];
      let invalidated = 0;
      for (const r of results) {
        invalidated += r.invalidated;
        ids.push(...r.anomalyIds);
        if (r.touched) await refreshRollups(deps.db, r.campaignId, r.touched[0], r.touched[1] + 1);
      }
      const list = await anomalyRows<Row>(deps.db, workspaceId, ids);
      return c.json({ campaigns: results.length, invalidatedEvents: invalidated, anomalies: list.map(toOut) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/anomalies/{id}",
      tags: ["fraud"],
      summary: "Confirm or dismiss a finding (dismissing restores the events it invalidated)",
      security,
      request: { params: IdParam, body: { content: { "application/json": { schema: ReviewIn } }, required: true } },
      responses: {
        200: json(AnomalyOut, "The finding"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const workspaceId = c.get("workspaceId");
      const { id } = c.req.valid("param");
      const { status, note } = c.req.valid("json");
      if (!/^[0-9a-f-]{36}$/i.test(id)) throw new ApiError("not_found", "anomaly not found");
      const r = await reviewAnomaly(deps.db, workspaceId, id, status, note);
      if (!r) throw new ApiError("not_found", "anomaly not found");
      if (r.changed > 0) {
        await deps.engine.recompute(r.campaignId);
        if (r.touched) await refreshRollups(deps.db, r.campaignId, r.touched[0], r.touched[1] + 1);
      }
      const [row] = await rows<Row>(deps.db, sql`select * from anomalies where id = ${id}::uuid`);
      return c.json(toOut(row), 200);
    },
  );
}
