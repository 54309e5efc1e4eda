/** Decisions: one, a batch (per-item errors), and the decision log export (JSONL / CSV, streamed). */
import { createRoute, z } from "@hono/zod-openapi";
import { stream } from "hono/streaming";
import { decisionPages, type ExportRow } from "../../store/decision-export.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { BatchIn, BatchOut, body, DecisionIn, DecisionOut, errors, IdParam, json } from "../schemas.ts";

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/campaigns/{id}/decisions",
      tags: ["decisions"],
      summary: "Choose an arm; the decision is logged (with its propensity) before the answer",
      security,
      request: { params: IdParam, ...body(DecisionIn) },
      responses: {
        200: json(
          DecisionOut,
          "Not served (`arm: null`, `reason`: budget_exhausted, paced, roi_guardrail): logged, a no-bid",
        ),
        201: json(DecisionOut, "Decision"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) => {
      const d = await deps.engine.decide(c.get("workspaceId"), c.req.valid("param").id, c.req.valid("json"));
      return d.arm === null ? c.json(d, 200) : c.json(d, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/decisions/batch",
      tags: ["decisions"],
      summary: "Up to 1000 decisions; a failing request gets an `error` in its place",
      security,
      request: body(BatchIn),
      responses: {
        200: json(BatchOut, "Decisions in request order"),
        400: errors[400],
        401: errors[401],
        413: errors[413],
        503: errors[503],
      },
    }),
    async (c) =>
      c.json({ decisions: await deps.engine.decideBatch(c.get("workspaceId"), c.req.valid("json").requests) }, 200),
  );

  const ExportQuery = z.object({
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    format: z.enum(["jsonl", "csv"]).default("jsonl"),
    served: z.enum(["true", "all"]).default("true").openapi({
      description:
        "`true`: served decisions only; `all`: also those answered without an arm (budget_exhausted, paced, roi_guardrail), with `served` and `reason` columns and `action` null — their propensities complete each request's distribution, so an off-policy evaluation can account for the throttle",
    }),
  });
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/campaigns/{id}/decisions/export",
      tags: ["decisions"],
      summary: "The decision log with propensities and rewards, for off-policy evaluation",
      security,
      request: { params: IdParam, query: ExportQuery },
      responses: {
        200: {
          description:
            "JSONL rows {decisionId, timestamp, campaignId, action, propensity, reward, context, unitId? (raw storage only), unitHash? (the unit's keyed hash), timezone? (send-time decisions), position?, served and reason (with served=all)}, or CSV (served and reason as the last columns with served=all)",
          content: { "application/x-ndjson": { schema: z.string() }, "text/csv": { schema: z.string() } },
        },
        400: errors[400],
        401: errors[401],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const camp = await deps.engine.campaign(c.get("workspaceId"), c.req.valid("param").id);
      const q = c.req.valid("query");
      const from = q.from ? new Date(q.from) : undefined;
      const to = q.to ? new Date(q.to) : undefined;
      if (from && to && from > to)
        throw new ApiError("invalid_request", "from: must not be after to", [
          { path: "from", message: "must not be after to" },
        ]);
      await deps.engine.flush();
      const all = q.served === "all";
      const pages = decisionPages(deps.db, camp.id, from, to, undefined, all);
      // Read the first page before answering, so a database error is still a proper error response.
      const first = await pages.next();
      const csv = q.format === "csv";
      c.header("content-type", csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8");
      return stream(c, async (s) => {
        if (csv)
          await s.write(`decision_id,timestamp,action,propensity,reward,context_json${all ? ",served,reason" : ""}\n`);
        const write = async (page: ExportRow[]) => {
          let out = "";
          for (const r of page) out += csv ? csvLine(r, all) : jsonLine(camp.id, r, all);
          await s.write(out);
        };
        if (!first.done) await write(first.value);
        for await (const page of pages) await write(page);
      }) as never;
    },
  );
}

function iso(t: Date | string): string {
  return (t instanceof Date ? t : new Date(t)).toISOString();
}

function jsonLine(campaignId: string, r: ExportRow, all: boolean): string {
  const row: Record<string, unknown> = {
    decisionId: r.id,
    timestamp: iso(r.created_at),
    campaignId,
    action: r.arm_key,
    propensity: Number(r.propensity),
    reward: Number(r.reward),
    context: r.context ?? {},
  };
  // The raw id only where the workspace stores raw identifiers; else its keyed hash (groups a unit's rows).
  if (r.unit_id !== null) row.unitId = r.unit_id;
  else if (r.unit_hash !== null) row.unitHash = r.unit_hash;
  if (r.timezone !== null) row.timezone = r.timezone;
  if (r.position !== null) row.position = r.position;
  if (all) {
    row.served = r.served;
    row.reason = r.reason;
  }
  return `${JSON.stringify(row)}\n`;
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvLine(r: ExportRow, all: boolean): string {
  const f = [
    r.id,
    iso(r.created_at),
    csvField(r.arm_key ?? ""),
    String(Number(r.propensity)),
    String(Number(r.reward)),
    csvField(JSON.stringify(r.context ?? {})),
  ];
  if (all) f.push(String(r.served), r.reason ?? "");
  return `${f.join(",")}\n`;
}
