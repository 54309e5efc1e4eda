/**
 * Privacy: erase one unit (DELETE /v1/units/{unitId}), delete an archived campaign with its rows
 * (DELETE /v1/campaigns/{id}), and the workspace's privacy settings — raw storage of identifiers (off by
 * default) and retention periods (GET / PATCH /v1/workspace/settings). Every DELETE and PATCH needs an
 * admin key (auth.ts requiredRole).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { eraseUnit } from "../../privacy/erase.ts";
import { MAX_RETENTION_DAYS, MIN_RETENTION_DAYS } from "../../privacy/retention.ts";
import { workspaces } from "../../store/schema.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { body, errors, IdParam, json } from "../schemas.ts";

const UnitParam = z.object({
  unitId: z
    .string()
    .min(1)
    .max(256)
    .openapi({ param: { name: "unitId", in: "path" }, example: "user-42" }),
});

const UnitErasureOut = z
  .object({
    removed: z.object({
      decisions: z.number(),
      events: z.number(),
      anomalyEvents: z.number().openapi({ description: "Links from fraud findings to the erased events" }),
    }),
  })
  .openapi("UnitErasure");

const CampaignDeletionOut = z
  .object({
    removed: z.object({
      decisions: z.number(),
      events: z.number(),
      anomalies: z.number(),
      anomalyEvents: z.number(),
      arms: z.number(),
      rollupHours: z.number(),
    }),
  })
  .openapi("CampaignDeletion");

const Days = z.number().int().min(MIN_RETENTION_DAYS).max(MAX_RETENTION_DAYS);

const SettingsOut = z
  .object({
    rawIdentifiers: z.boolean().openapi({
      description:
        "Store unit ids, IPs and user agents raw. Off (the default): unit ids as HMAC-SHA-256 under the workspace's secret, IPs truncated (/24, /48) and keyed-hashed, user agents as bot class + keyed hash",
    }),
    retention: z.object({
      decisionsDays: z.number().openapi({ description: "Decisions older than this are deleted (default 90)" }),
      eventsDays: z.number().openapi({ description: "Events older than this are deleted (default 90)" }),
    }),
  })
  .openapi("WorkspaceSettings");

const SettingsPatch = z
  .strictObject({
    rawIdentifiers: z.boolean().optional(),
    retention: z.strictObject({ decisionsDays: Days.optional(), eventsDays: Days.optional() }).optional(),
  })
  .openapi("WorkspaceSettingsPatch");

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/units/{unitId}",
      tags: ["privacy"],
      summary:
        "Erase everything stored about one unit in this workspace (decisions, their events, links from findings); learned aggregates stay",
      security,
      request: { params: UnitParam },
      responses: {
        200: json(UnitErasureOut, "What was removed"),
        400: errors[400],
        401: errors[401],
        503: errors[503],
      },
    }),
    async (c) => {
      const ws = await deps.engine.privacy.require(c.get("workspaceId"));
      // Decisions still queued in the group commit are written first, so none escapes the erasure.
      await deps.engine.flush();
      const removed = await eraseUnit(deps.db, ws, c.req.valid("param").unitId, c.get("keyId") ?? null);
      c.get("logger")?.info({ removed }, "unit erased");
      return c.json({ removed }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/campaigns/{id}",
      tags: ["privacy"],
      summary: "Delete an archived campaign and all its rows (409 unless archived)",
      security,
      request: { params: IdParam },
      responses: {
        200: json(CampaignDeletionOut, "What was removed"),
        401: errors[401],
        404: errors[404],
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) => {
      const removed = await deps.engine.deleteCampaign(
        c.get("workspaceId"),
        c.req.valid("param").id,
        c.get("keyId") ?? null,
      );
      return c.json({ removed }, 200);
    },
  );

  const read = async (id: string) => {
    const [w] = await deps.db
      .select({
        rawIdentifiers: workspaces.rawIdentifiers,
        decisionsDays: workspaces.decisionRetentionDays,
        eventsDays: workspaces.eventRetentionDays,
      })
      .from(workspaces)
      .where(eq(workspaces.id, id));
    if (!w) throw new ApiError("not_found", "workspace not found");
    return {
      rawIdentifiers: w.rawIdentifiers,
      retention: { decisionsDays: w.decisionsDays, eventsDays: w.eventsDays },
    };
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/workspace/settings",
      tags: ["privacy"],
      summary: "The workspace's privacy settings: raw storage of identifiers, retention periods",
      security,
      responses: { 200: json(SettingsOut, "Settings"), 401: errors[401], 503: errors[503] },
    }),
    async (c) => c.json(await read(c.get("workspaceId")), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/workspace/settings",
      tags: ["privacy"],
      summary: "Change raw storage of identifiers or the retention periods (admin key)",
      security,
      request: body(SettingsPatch),
      responses: { 200: json(SettingsOut, "Settings"), 400: errors[400], 401: errors[401], 503: errors[503] },
    }),
    async (c) => {
      const p = c.req.valid("json");
      const id = c.get("workspaceId");
      const set: Partial<typeof workspaces.$inferInsert> = {};
      if (p.rawIdentifiers !== undefined) set.rawIdentifiers = p.rawIdentifiers;
      if (p.retention?.decisionsDays !== undefined) set.decisionRetentionDays = p.retention.decisionsDays;
      if (p.retention?.eventsDays !== undefined) set.eventRetentionDays = p.retention.eventsDays;
      if (Object.keys(set).length) await deps.db.update(workspaces).set(set).where(eq(workspaces.id, id));
      deps.engine.privacy.forget(id);
      return c.json(await read(id), 200);
    },
  );
}
