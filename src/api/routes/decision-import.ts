/**
 * POST /v1/campaigns/{id}/decisions/import — historical decisions into the decision log (up to 1000 per
 * request), each with its own id, arm, propensity and time; idempotent by decision id, one result per
 * item (accepted, duplicate, or rejected with a reason). What importing does to the statistics:
 * src/engine/decision-import.ts. Needs an admin key (auth.ts `requiredRole`).
 */
import { createRoute } from "@hono/zod-openapi";
import type { App, AppDeps } from "../env.ts";
import { body, DecisionImportIn, DecisionImportOut, errors, IdParam, json } from "../schemas.ts";

export function register(app: App, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/campaigns/{id}/decisions/import",
      tags: ["decisions"],
      summary:
        "Import historical decisions (up to 1000; admin key): logged with their own id, arm, propensity and time; a decision id counts once",
      description:
        "Each imported decision is a logged trial of its arm in its own hour, as a live decision would be (at reward 0 until its events arrive); " +
        "events sent or imported for it later attribute to it as to a live decision. To keep the gap between importing decisions and their events " +
        "from showing in live traffic, import into a paused campaign and resume it afterwards. An id already logged for this campaign with the same " +
        "arm, propensity and time is a duplicate; with anything else, rejected (conflict).",
      security: [{ bearer: [] }],
      request: { params: IdParam, ...body(DecisionImportIn) },
      responses: {
        200: json(DecisionImportOut, "Per-decision results, in request order"),
        400: errors[400],
        401: errors[401],
        403: errors[403],
        404: errors[404],
        413: errors[413],
        503: errors[503],
      },
    }),
    async (c) =>
      c.json(
        await deps.engine.importDecisions(c.get("workspaceId"), c.req.valid("param").id, c.req.valid("json").decisions),
        200,
      ),
  );
}
