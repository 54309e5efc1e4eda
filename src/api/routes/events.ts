/** POST /v1/events — feedback; idempotent per event id; answers after the accepted events are committed. */
import { createRoute } from "@hono/zod-openapi";
import type { App, AppDeps } from "../env.ts";
import { body, errors, EventsIn, EventsOut, json } from "../schemas.ts";

export function register(app: App, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/events",
      tags: ["events"],
      summary: "Impressions, clicks and conversions (up to 1000); an event id counts once",
      security: [{ bearer: [] }],
      request: body(EventsIn),
      responses: {
        200: json(EventsOut, "Per-event results"),
        400: errors[400],
        401: errors[401],
        413: errors[413],
        503: errors[503],
      },
    }),
    async (c) => c.json(await deps.engine.ingest(c.get("workspaceId"), c.req.valid("json").events), 200),
  );
}
