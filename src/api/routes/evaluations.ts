/**
 * POST /v1/evaluations: off-policy evaluation of a candidate policy on a campaign's own decision log —
 * read through the same paged query as the export endpoint (store/decision-export.ts), then the estimators
 * of simulations/ope (replay, IPS, SNIPS, DM, DR with seeded bootstrap intervals, the logged policy's own
 * value and the lift), computed on a worker thread. Bounded: at most `EVALUATION_LIMITS.maxRows` decisions per request (narrow from/to).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { storedDecisionToLog, type LogRow } from "../../../simulations/ope/logs.ts";
import { parsePolicySpec, PolicySpecError } from "../../../simulations/ope/policy.ts";
import { evaluateLogsInWorker } from "../../../simulations/ope/pool.ts";
import { decisionPages } from "../../store/decision-export.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { body, errors, json } from "../schemas.ts";

export const EVALUATION_LIMITS = { maxRows: 200_000, maxBootstrap: 2000 };

const EvaluationIn = z
  .strictObject({
    campaignId: z.string().min(1),
    policy: z
      .union([z.string().min(1), z.looseObject({ type: z.string().min(1) })])
      .openapi({ description: '"uniform", "arm:<key>", or a strategy spec {"type", "params"}', example: "uniform" }),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    bootstrap: z.number().int().min(10).max(EVALUATION_LIMITS.maxBootstrap).default(300),
  })
  .openapi("EvaluationRequest");

const Interval = z.object({
  value: z.number().nullable(),
  ciLow: z.number().nullable(),
  ciHigh: z.number().nullable(),
});
const EvaluationOut = z
  .object({
    campaignId: z.string(),
    policy: z.string(),
    rows: z.number().int(),
    actions: z.array(z.string()),
    logged: Interval,
    estimates: z.array(
      Interval.extend({
        estimator: z.enum(["replay", "ips", "snips", "dm", "dr"]),
        lift: Interval,
        liftRelative: z.number().nullable(),
        rows: z.number().int(),
      }),
    ),
    ess: z.number(),
    essShare: z.number(),
    propensity: z.object({
      min: z.number(),
      max: z.number(),
      missing: z.number().int(),
      tiny: z.number().int(),
      zero: z.number().int(),
    }),
    warnings: z.array(z.string()),
    seed: z.number().int(),
    bootstrap: z.number().int(),
    level: z.number(),
  })
  .openapi("Evaluation");

const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);

export function register(app: App, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/evaluations",
      tags: ["evaluations"],
      summary: "Estimate what a policy would have earned on a campaign's logged decisions (replay, IPS, SNIPS, DM, DR)",
      security: [{ bearer: [] }],
      request: body(EvaluationIn),
      responses: {
        200: json(EvaluationOut, "Estimates with bootstrap intervals, the logged value and the lift"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const q = c.req.valid("json");
      try {
        parsePolicySpec(q.policy as string | { type: string });
      } catch (e) {
        if (e instanceof PolicySpecError)
          throw new ApiError("invalid_request", e.message, [
            { path: "policy", message: e.message.replace(/^policy: /, "") },
          ]);
        throw e;
      }
      const from = q.from ? new Date(q.from) : undefined;
      const to = q.to ? new Date(q.to) : undefined;
      if (from && to && from > to)
        throw new ApiError("invalid_request", "from: must not be after to", [
          { path: "from", message: "must not be after to" },
        ]);
      const camp = await deps.engine.campaign(c.get("workspaceId"), q.campaignId);
      await deps.engine.flush();
      const rows: LogRow[] = [];
      for await (const page of decisionPages(deps.db, camp.id, from, to)) {
        for (const r of page) rows.push(storedDecisionToLog(r));
        if (rows.length > EVALUATION_LIMITS.maxRows)
          throw new ApiError(
            "invalid_request",
            `the range holds more than ${EVALUATION_LIMITS.maxRows} decisions: narrow from/to`,
            [{ path: "from", message: `at most ${EVALUATION_LIMITS.maxRows} decisions per evaluation` }],
          );
      }
      if (rows.length === 0)
        throw new ApiError("invalid_request", "no logged decisions in this range", [
          { path: "campaignId", message: "no logged decisions in this range" },
        ]);
      let r: Awaited<ReturnType<typeof evaluateLogsInWorker>>;
      try {
        // On a worker thread: the bootstrap over many rows must not stall the decisions this process serves.
        r = await evaluateLogsInWorker(rows, q.policy as string | { type: string }, {
          seed: q.seed,
          bootstrap: q.bootstrap,
        });
      } catch (e) {
        const name = e instanceof Error ? e.name : "";
        const message = e instanceof Error ? e.message : String(e);
        if (name === "PolicySpecError" || name === "EvaluationError")
          throw new ApiError("invalid_request", message, [{ path: "policy", message }]);
        if (name === "StrategyParamError")
          throw new ApiError("invalid_request", `policy.params: ${message}`, [{ path: "policy.params", message }]);
        throw e;
      }
      const iv = (i: { value: number; ciLow: number; ciHigh: number }) => ({
        value: finiteOrNull(i.value),
        ciLow: finiteOrNull(i.ciLow),
        ciHigh: finiteOrNull(i.ciHigh),
      });
      return c.json(
        {
          campaignId: camp.id,
          ...r,
          logged: iv(r.logged),
          estimates: r.estimates.map((e) => ({
            ...e,
            ...iv(e),
            lift: iv(e.lift),
            liftRelative: e.liftRelative === null ? null : finiteOrNull(e.liftRelative),
          })),
          propensity: { ...r.propensity, min: finiteOrNull(r.propensity.min) ?? 0 },
        },
        200,
      );
    },
  );
}
