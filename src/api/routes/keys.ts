/**
 * API keys of the caller's workspace (admin key only): create one with a role (the secret is shown
 * once), list them (prefixes, never secrets), revoke one. A revoked key answers 401 at once on this
 * replica and within the key cache's lifetime (the refresh interval) on the others.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createKey, KEY_ROLES, listKeys, revokeKey, type KeyInfo } from "../../store/workspaces.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { body, errors, IdParam, json } from "../schemas.ts";

const Role = z.enum(KEY_ROLES as [string, ...string[]]).openapi({
  description: "reader: GET only; writer: decisions and events, plus GET; admin: everything in the workspace",
});
const KeyIn = z.strictObject({ name: z.string().min(1).max(200).optional(), role: Role }).openapi("ApiKeyInput");
const KeyOut = z
  .object({
    id: z.string(),
    prefix: z.string(),
    name: z.string().nullable(),
    role: Role,
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");
const CreatedKeyOut = KeyOut.omit({ revokedAt: true })
  .extend({ key: z.string().openapi({ description: "The secret: shown once, stored hashed" }) })
  .openapi("CreatedApiKey");

const out = (k: KeyInfo) => ({
  id: k.id,
  prefix: k.prefix,
  name: k.name,
  role: k.role,
  createdAt: k.createdAt.toISOString(),
  revokedAt: k.revokedAt ? k.revokedAt.toISOString() : null,
});

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];
  const denied = { 401: errors[401], 403: errors[403], 503: errors[503] };
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/keys",
      tags: ["keys"],
      summary: "Create an API key of this workspace with a role (admin key)",
      security,
      request: body(KeyIn),
      responses: { 201: json(CreatedKeyOut, "Created; `key` is shown this once"), 400: errors[400], ...denied },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const k = await createKey(deps.db, c.get("workspaceId"), b.role as KeyInfo["role"], b.name ?? null);
      const { revokedAt: _, ...created } = out(k);
      return c.json({ ...created, key: k.key }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/keys",
      tags: ["keys"],
      summary: "List this workspace's API keys (admin key)",
      security,
      responses: { 200: json(z.object({ keys: z.array(KeyOut) }), "Keys, oldest first"), ...denied },
    }),
    async (c) => c.json({ keys: (await listKeys(deps.db, c.get("workspaceId"))).map(out) }, 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/keys/{id}",
      tags: ["keys"],
      summary: "Revoke an API key (admin key); revoking twice keeps the first time",
      security,
      request: { params: IdParam },
      responses: {
        200: json(z.object({ id: z.string(), revokedAt: z.string() }), "Revoked"),
        404: errors[404],
        ...denied,
      },
    }),
    async (c) => {
      const k = await revokeKey(deps.db, c.get("workspaceId"), c.req.valid("param").id);
      if (!k?.revokedAt) throw new ApiError("not_found", "no such API key in this workspace");
      deps.forgetKey(k.id);
      return c.json({ id: k.id, revokedAt: k.revokedAt.toISOString() }, 200);
    },
  );
}
