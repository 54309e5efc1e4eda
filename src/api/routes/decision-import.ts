/**
 * POST /v1/campaigns/{id}/decisions/import — historical decisions into the decision log (up to 1000 per
 * request), each with its own id, arm, propensity and time; idempotent by decision id, one result per
 * item (accepted, duplicate, or rejected with a reason). What importing does to the statistics:
 * src/engine/decision-import.ts. Needs an admin key (auth.ts `requiredRole`).
 */
import { createRoute } from "@hono/zod-openapi";
import { refreshRollups } from "../../reports/queries.ts";
import type { App, AppDeps } from "../env.ts";
import { body, DecisionImportIn, DecisionImportOut, errors, IdParam, json } from "../schemas.ts";

const HOUR = 3_600_000;

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
    async (c) => {
      const id = c.req.valid("param").id;
      const input = c.req.valid("json").decisions;
      const result = await deps.engine.importDecisions(c.get("workspaceId"), id, input);
      // Reports read past hours from the hourly rollups, which the rollup job rewrites only for hours that
      // received something recently (by decision time, or event arrival): decisions dated in the past are
      // rolled up here, before the answer, as the fraud review does for the hours it changes. Duplicates
      // too, so a rerun after a failure here (the decisions committed, the answer a 503) still rolls them up.
      // Only the hours that hold one (a sparse history over a year is not a year of rewrites), in runs.
      const hours = new Set<number>();
      result.results.forEach((r, i) => {
        if (r.status !== "rejected") hours.add(Math.floor(Date.parse(input[i].decidedAt) / HOUR));
      });
      const sorted = [...hours].sort((a, b) => a - b);
      for (let i = 0; i < sorted.length; ) {
        let j = i;
        while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
        await refreshRollups(deps.db, id, sorted[i] * HOUR, (sorted[j] + 1) * HOUR);
        i = j + 1;
      }
      return c.json(result, 200);
    },
  );
}
