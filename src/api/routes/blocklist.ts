/**
 * The hand-kept blocklist: sources (ip, user agent, publisher, placement) whose events the ingest gate
 * marks invalid from now on ("blocklist:<type>"), workspace-wide, optionally until `expiresAt`. This
 * replica's gate cache is reloaded at once; other replicas pick the change up at their next gate refresh.
 * With `retroactive: {from, to?}` the block also applies to the source's stored events in that window
 * (src/fraud/blocklist.ts): they become invalid, show as findings in GET /v1/anomalies, and what they taught
 * is taken back (Engine.recompute per campaign, rollups rewritten).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { blockRetroactively } from "../../fraud/blocklist.ts";
import { BLOCKABLE, CachedFraudGate } from "../../fraud/gate.ts";
import { refreshRollups } from "../../reports/queries.ts";
import { rows } from "../../store/db.ts";
import { pseudonymiseEntity } from "../../privacy/pseudonym.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { errors, IdParam, json } from "../schemas.ts";

const MAX_RETRO_DAYS = 90;

export const BlockIn = z
  .strictObject({
    entityType: z.enum(BLOCKABLE),
    entity: z.string().min(1).max(1000),
    reason: z.string().max(2000).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    retroactive: z
      .object({
        from: z.iso.datetime({ offset: true }),
        to: z.iso.datetime({ offset: true }).optional().openapi({ description: "Default: now" }),
      })
      .optional()
      .openapi({
        description: `Also block the source's stored events in [from, to) (at most ${MAX_RETRO_DAYS} days): they become invalid and what they taught is taken back`,
      }),
  })
  .openapi("BlocklistEntryInput");

export const BlockOut = z
  .object({
    id: z.string(),
    entityType: z.enum(BLOCKABLE),
    entity: z.string(),
    reason: z.string().nullable(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    retroactive: z
      .object({
        from: z.string(),
        to: z.string(),
        invalidatedEvents: z.number(),
        campaigns: z.array(z.string()),
        anomalyIds: z.array(z.string()),
      })
      .optional(),
  })
  .openapi("BlocklistEntry");

type Row = {
  id: string;
  entity_type: (typeof BLOCKABLE)[number];
  entity: string;
  reason: string | null;
  created_at: Date | string;
  expires_at: Date | string | null;
};
const toOut = (r: Row): z.infer<typeof BlockOut> => ({
  id: r.id,
  entityType: r.entity_type,
  entity: r.entity,
  reason: r.reason,
  createdAt: new Date(r.created_at).toISOString(),
  expiresAt: r.expires_at === null ? null : new Date(r.expires_at).toISOString(),
});

async function refreshGate(deps: AppDeps): Promise<void> {
  const gate = deps.engine.fraudGate;
  if (gate instanceof CachedFraudGate) await gate.refresh(deps.db);
}

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/blocklist",
      tags: ["fraud"],
      summary: "Block a source (its future events are invalid); blocking it again updates reason and expiry",
      security,
      request: { body: { content: { "application/json": { schema: BlockIn } }, required: true } },
      responses: { 201: json(BlockOut, "Blocked"), 400: errors[400], 401: errors[401], 503: errors[503] },
    }),
    async (c) => {
      const input = c.req.valid("json");
      // An ip or user agent is blocked in its stored form (src/privacy: the /24 or /48, keyed-hashed), which
      // is what the gate and the retroactive block compare; a pseudonym from a finding is taken as it is.
      const ws = await deps.engine.privacy.require(c.get("workspaceId"));
      const b = { ...input, entity: pseudonymiseEntity(ws, input.entityType, input.entity) };
      let window: [number, number] | null = null;
      if (b.retroactive) {
        const from = Date.parse(b.retroactive.from);
        const to = b.retroactive.to ? Date.parse(b.retroactive.to) : Date.now();
        if (!(from < to))
          throw new ApiError("invalid_request", "retroactive.from must be before retroactive.to", [
            { path: "retroactive.from", message: "must be before retroactive.to" },
          ]);
        if (to - from > MAX_RETRO_DAYS * 86_400_000)
          throw new ApiError("invalid_request", `retroactive window longer than ${MAX_RETRO_DAYS} days`, [
            { path: "retroactive", message: `at most ${MAX_RETRO_DAYS} days` },
          ]);
        window = [from, to];
      }
      const [row] = await rows<Row>(
        deps.db,
        sql`insert into blocklist (workspace_id, entity_type, entity, reason, expires_at)
            values (${c.get("workspaceId")}::uuid, ${b.entityType}, ${b.entity}, ${b.reason ?? null}, ${b.expiresAt ?? null}::timestamptz)
            on conflict (workspace_id, entity_type, entity) do update set reason = excluded.reason, expires_at = excluded.expires_at
            returning id, entity_type, entity, reason, created_at, expires_at`,
      );
      await refreshGate(deps);
      if (!window) return c.json(toOut(row), 201);
      const workspaceId = c.get("workspaceId");
      const r = await blockRetroactively(deps.db, workspaceId, b.entityType, b.entity, window[0], window[1]);
      for (const camp of r.campaigns) {
        await deps.engine.recompute(camp.id);
        await refreshRollups(deps.db, camp.id, camp.touched[0], camp.touched[1] + 1);
      }
      return c.json(
        {
          ...toOut(row),
          retroactive: {
            from: new Date(window[0]).toISOString(),
            to: new Date(window[1]).toISOString(),
            invalidatedEvents: r.invalidated,
            campaigns: r.campaigns.map((x) => x.id),
            anomalyIds: r.anomalyIds,
          },
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/blocklist",
      tags: ["fraud"],
      summary: "The workspace's blocked sources",
      security,
      responses: {
        200: json(z.object({ entries: z.array(BlockOut) }), "Blocklist"),
        401: errors[401],
        503: errors[503],
      },
    }),
    async (c) => {
      const list = await rows<Row>(
        deps.db,
        sql`select id, entity_type, entity, reason, created_at, expires_at from blocklist where workspace_id = ${c.get("workspaceId")}::uuid order by created_at, id`,
      );
      return c.json({ entries: list.map(toOut) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/blocklist/{id}",
      tags: ["fraud"],
      summary: "Unblock a source",
      security,
      request: { params: IdParam },
      responses: { 204: { description: "Removed" }, 401: errors[401], 404: errors[404], 503: errors[503] },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      if (!/^[0-9a-f-]{36}$/i.test(id)) throw new ApiError("not_found", "blocklist entry not found");
      const gone = await rows<{ id: string }>(
        deps.db,
        sql`delete from blocklist where id = ${id}::uuid and workspace_id = ${c.get("workspaceId")}::uuid returning id`,
      );
      if (gone.length === 0) throw new ApiError("not_found", "blocklist entry not found");
      await refreshGate(deps);
      return c.body(null, 204) as never;
    },
  );
}
