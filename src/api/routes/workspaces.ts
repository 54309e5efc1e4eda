/** POST /v1/workspaces — admin key only; the new workspace's API key is shown once. */
import { createRoute, z } from "@hono/zod-openapi";
import { isTimeZone } from "../../budget/day.ts";
import { createWorkspace } from "../../store/workspaces.ts";
import { requireAdmin } from "../auth.ts";
import type { App, AppDeps } from "../env.ts";
import { body, errors, json } from "../schemas.ts";

const WorkspaceIn = z
  .strictObject({
    name: z.string().min(1).max(200),
    timezone: z
      .string()
      .max(64)
      .refine(isTimeZone, "unknown IANA time zone")
      .optional()
      .openapi({ description: "IANA time zone of the budget day (default UTC)", example: "Europe/Paris" }),
  })
  .openapi("WorkspaceInput");
const WorkspaceOut = z
  .object({
    id: z.string(),
    name: z.string(),
    timezone: z.string(),
    apiKey: z.string().openapi({ description: "Shown once; stored hashed" }),
  })
  .openapi("Workspace");

export function register(app: App, deps: AppDeps): void {
  const route = createRoute({
    method: "post",
    path: "/v1/workspaces",
    tags: ["workspaces"],
    summary: "Create a workspace (admin key)",
    security: [{ bearer: [] }],
    middleware: [requireAdmin(deps)] as const,
    request: body(WorkspaceIn),
    responses: { 201: json(WorkspaceOut, "Created"), 400: errors[400], 401: errors[401], 503: errors[503] },
  });
  app.openapi(route, async (c) => {
    const { name, timezone } = c.req.valid("json");
    const ws = await createWorkspace(deps.db, name, timezone);
    return c.json({ id: ws.id, name: ws.name, timezone: ws.timezone, apiKey: ws.apiKey }, 201);
  });
}
