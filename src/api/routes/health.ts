/** Operational endpoints: /healthz (database reachable), /metrics (Prometheus text). */
import { createRoute, z } from "@hono/zod-openapi";
import type { App, AppDeps } from "../env.ts";
import { errors, json } from "../schemas.ts";

export function register(app: App, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      tags: ["operations"],
      summary: "Database reachable (200), or not (503: every /v1 call answers 503 until it is)",
      responses: {
        200: json(z.object({ status: z.literal("ok"), database: z.string() }), "Healthy"),
        503: errors[503],
      },
    }),
    async (c) => {
      if (!deps.ready() || !(await deps.database.ping(800))) {
        c.header("retry-after", "1");
        return c.json({ error: { code: "unavailable" as const, message: "database unreachable" } }, 503);
      }
      return c.json({ status: "ok" as const, database: deps.database.driver }, 200);
    },
  );

  app.get("/metrics", async (c) => {
    c.header("content-type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });
}
