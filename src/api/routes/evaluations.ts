/**
 * POST /v1/evaluations: off-policy evaluation of a candidate policy on a campaign's own decision log —
 * read through the same paged query as the export endpoint (store/decision-export.ts), then the estimators
 * of simulations/ope (replay, IPS, SNIPS, cross-fitted DM, DR, SNDR, Switch-DR, DRos with seeded bootstrap
 * intervals, the logged policy's own value, the lift and the weight diagnostics), computed on a worker thread.
 * The action set is the campaign's arms; rewards are checked against the campaign's objective.
 * `?format=html` answers the self-contained HTML report instead of JSON.
 * Bounded: at most `EVALUATION_LIMITS.maxRows` decisions per request (narrow from/to), and at most
 * `EVALUATION_LIMITS.maxActivePerWorkspace` evaluations computing at once per workspace (409 otherwise).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { storedDecisionToLog, type LogRow } from "../../../simulations/ope/logs.ts";
import { parsePolicySpec, PolicySpecError } from "../../../simulations/ope/policy.ts";
import { evaluateLogsInWorker } from "../../../simulations/ope/pool.ts";
import { evaluationHtml } from "../../../simulations/ope/report.ts";
import { decisionPages } from "../../store/decision-export.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { body, errors } from "../schemas.ts";

export const EVALUATION_LIMITS = { maxRows: 200_000, maxBootstrap: 2000, maxActivePerWorkspace: 2 };

/** Evaluations computing now, per workspace. */
const active = new Map<string, number>();

const EvaluationIn = z
  .strictObject({
    campaignId: z.string().min(1),
    policy: z.union([z.string().min(1), z.looseObject({ type: z.string().min(1) })]).openapi({
      description: '"uniform", "logged", "arm:<key>", or a strategy spec {"type", "params"}',
      example: "uniform",
    }),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    bootstrap: z.number().int().min(10).max(EVALUATION_LIMITS.maxBootstrap).default(300),
    clip: z
      .number()
      .positive()
      .optional()
      .openapi({ description: "clip importance weights at this value (off by default)" }),
    replays: z.number().int().min(1).max(50).optional().openapi({
      description: "replays of a policy with its own randomness (default 10 for strategy specs, 1 otherwise)",
    }),
    folds: z.number().int().min(2).max(20).default(5),
    allowNegativeRewards: z.boolean().default(false),
    estimatePropensity: z.boolean().default(false),
  })
  .openapi("EvaluationRequest");

const Interval = z.object({
  value: z.number().nullable(),
  ciLow: z.number().nullable(),
  ciHigh: z.number().nullable(),
});
const Ref = z.object({
  line: z.number().int().nullable(),
  decisionId: z.string().optional(),
  index: z.number().optional(),
});
const EvaluationOut = z
  .object({
    campaignId: z.string(),
    policy: z.string(),
    objective: z.enum(["clicks", "conversions", "revenue", "profit"]),
    rows: z.number().int(),
    actions: z.array(z.string()),
    slots: z.number().int(),
    logged: Interval,
    estimates: z.array(
      Interval.extend({
        estimator: z.enum(["replay", "ips", "snips", "dm", "dr", "sndr", "switch_dr", "dros"]),
        lift: Interval,
        liftRelative: z.number().nullable(),
        rows: z.number().int(),
        replayRange: z.array(z.number().nullable()),
      }),
    ),
    ess: z.number(),
    essShare: z.number(),
    propensity: z.object({
      min: z.number().nullable(),
      max: z.number().nullable(),
      minRow: Ref.nullable(),
      maxRow: Ref.nullable(),
      missing: z.number().int(),
      tiny: z.number().int(),
      zero: z.number().int(),
    }),
    weights: z.object({
      mean: z.number().nullable(),
      max: z.number().nullable(),
      maxRow: Ref.nullable(),
      ess: z.number(),
      essShare: z.number(),
      zero: z.number().int(),
      histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number().int()) }),
    }),
    topRows: z.object({
      share: z.number(),
      rows: z.array(
        Ref.extend({
          action: z.string(),
          propensity: z.number(),
          weight: z.number(),
          reward: z.number(),
          share: z.number(),
        }),
      ),
    }),
    clip: z.object({ at: z.number(), rows: z.number().int() }).nullable(),
    model: z.object({
      folds: z.number().int(),
      ridge: z.number(),
      features: z.number().int(),
      switchTau: z.number().nullable().openapi({ description: "null = ∞ (no switch)" }),
      drosLambda: z.number().nullable().openapi({ description: "null = ∞ (no shrinkage)" }),
      tuned: z.boolean(),
    }),
    interval: z.object({
      method: z.string(),
      bootstrap: z.number().int(),
      groups: z.number().int(),
      replays: z.number().int(),
      seeds: z.array(z.number().int()),
    }),
    warnings: z.array(z.string()),
    seed: z.number().int(),
    bootstrap: z.number().int(),
    level: z.number(),
  })
  .openapi("Evaluation");

const FormatQuery = z.object({ format: z.enum(["json", "html"]).default("json") });

/** JSON has no ∞ or NaN: they become null. */
const jsonSafe = <T>(v: T): T =>
  JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "number" && !Number.isFinite(x) ? null : x)));

export function register(app: App, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/evaluations",
      tags: ["evaluations"],
      summary: "Estimate what a policy would have earned on a campaign's logged decisions (replay, IPS, SNIPS, DM, DR)",
      security: [{ bearer: [] }],
      request: { ...body(EvaluationIn), query: FormatQuery },
      responses: {
        200: {
          content: {
            "application/json": { schema: EvaluationOut },
            "text/html": { schema: z.string().openapi({ description: "the HTML report (?format=html)" }) },
          },
          description: "Estimates with bootstrap intervals, the logged value, the lift and the diagnostics",
        },
        400: errors[400],
        401: errors[401],
        404: errors[404],
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) => {
      const q = c.req.valid("json");
      const { format } = c.req.valid("query");
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
      const workspaceId = c.get("workspaceId");
      const running = active.get(workspaceId) ?? 0;
      if (running >= EVALUATION_LIMITS.maxActivePerWorkspace)
        throw new ApiError(
          "conflict",
          `${running} evaluations are already running for this workspace (at most ${EVALUATION_LIMITS.maxActivePerWorkspace} at once): retry when one finishes`,
        );
      active.set(workspaceId, running + 1);
      let r: Awaited<ReturnType<typeof evaluateLogsInWorker>>;
      try {
        // On a worker thread: the bootstrap over many rows must not stall the decisions this process serves.
        r = await evaluateLogsInWorker(rows, q.policy as string | { type: string }, {
          seed: q.seed,
          bootstrap: q.bootstrap,
          clip: q.clip ?? null,
          replays: q.replays,
          folds: q.folds,
          objective: camp.objective,
          allowNegativeRewards: q.allowNegativeRewards,
          estimatePropensity: q.estimatePropensity,
          actions: camp.arms.map((a) => a.key),
        });
      } catch (e) {
        const name = e instanceof Error ? e.name : "";
        const message = e instanceof Error ? e.message : String(e);
        if (name === "PolicySpecError") throw new ApiError("invalid_request", message, [{ path: "policy", message }]);
        if (name === "EvaluationError" || name === "LogFormatError")
          throw new ApiError("invalid_request", message, [{ path: "campaignId", message }]);
        if (name === "StrategyParamError")
          throw new ApiError("invalid_request", `policy.params: ${message}`, [{ path: "policy.params", message }]);
        throw e;
      } finally {
        const left = (active.get(workspaceId) ?? 1) - 1;
        if (left > 0) active.set(workspaceId, left);
        else active.delete(workspaceId);
      }
      if (format === "html")
        return c.html(evaluationHtml(r, `Off-policy evaluation of campaign ${camp.name ?? camp.id}`), 200);
      return c.json({ campaignId: camp.id, ...jsonSafe(r) }, 200);
    },
  );
}
