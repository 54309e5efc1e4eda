/**
 * Arms: add mid-flight, pause/resume/archive, and the per-arm learning report. In the report, `spend` is the
 * total cost so far and `costPerDecision` the arm's send cost (the `cost` of the arm itself); `cost` is kept
 * as a deprecated alias of `spend`. `trafficShare` is the strategy's current probability for context-free
 * strategies, and the arm's real share of the last 7 days of decisions for contextual ones (a pmf at one
 * context says nothing of the traffic).
 */
const SHARE_WINDOW_MS = 7 * 24 * 3_600_000;
import { createRoute, z } from "@hono/zod-openapi";
import { posteriors, probabilityBest } from "../../engine/report.ts";
import { armEventTotals, decisionShares } from "../../reports/queries.ts";
import { roundFigure } from "../../reports/round.ts";
import type { App, AppDeps } from "../env.ts";
import { armView } from "../views.ts";
import { ArmIn, ArmOut, ArmParam, ArmPatchIn, ArmReport, body, errors, IdParam, json, Precision } from "../schemas.ts";

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/campaigns/{id}/arms",
      tags: ["arms"],
      summary: "Add an arm mid-flight (starts at the prior)",
      security,
      request: { params: IdParam, ...body(ArmIn) },
      responses: {
        201: json(ArmOut, "Created"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) =>
      c.json(
        armView(await deps.engine.addArm(c.get("workspaceId"), c.req.valid("param").id, c.req.valid("json"))),
        201,
      ),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/campaigns/{id}/arms/{key}",
      tags: ["arms"],
      summary: "Pause, resume or archive an arm (archived is final; keys are never reused)",
      security,
      request: { params: ArmParam, ...body(ArmPatchIn) },
      responses: {
        200: json(ArmOut, "Arm"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) => {
      const p = c.req.valid("param");
      return c.json(armView(await deps.engine.patchArm(c.get("workspaceId"), p.id, p.key, c.req.valid("json"))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/campaigns/{id}/arms",
      tags: ["arms"],
      summary: "Per arm: counts, posterior mean and 95% interval, P(best), traffic share",
      description:
        "Money and the posterior (mean and interval) are rounded like the reports' figures unless precision=full; " +
        "P(best) and the traffic share are probabilities and stay exact.",
      security,
      request: { params: IdParam, query: z.object({ precision: Precision }) },
      responses: {
        200: json(z.object({ arms: z.array(ArmReport) }), "Arms"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const engine = deps.engine;
      const round = c.req.valid("query").precision === "full" ? (x: number) => x : roundFigure;
      const camp = await engine.campaign(c.get("workspaceId"), c.req.valid("param").id);
      const byKey = await armEventTotals(deps.db, camp.id);
      // The posterior the strategy uses: the fold of the hour buckets (delay-aware trials, decay).
      const post = posteriors(
        camp.objective,
        camp.arms.map((a) => camp.timed.fold(a.index)),
      );
      const active = camp.arms.map((a) => a.status === "active");
      const pBest = probabilityBest(post, active, engine.statsRng(1));
      let share: ArrayLike<number>;
      try {
        if (camp.impl.contextual) {
          await engine.flush();
          const now = Date.now();
          const real = await decisionShares(deps.db, camp.id, now - SHARE_WINDOW_MS, now);
          share = camp.arms.map((a) => real.get(a.key) ?? 0);
        } else share = camp.impl.probabilities(camp.state, undefined, engine.statsRng(2));
      } catch {
        const total = camp.stats.reduce((s, x, i) => s + (active[i] ? x.n : 0), 0);
        share = camp.stats.map((x, i) => (active[i] ? (total ? x.n / total : 1 / active.filter(Boolean).length) : 0));
      }
      const arms = camp.arms.map((a) => {
        const s = camp.stats[a.index];
        const r = byKey.get(a.key);
        const decisions = Math.round(s.n);
        const spend = round(a.cost * decisions + (r?.eventCost ?? 0));
        return {
          ...armView(a),
          decisions,
          conversions: r?.conversions ?? 0,
          revenue: round(r?.revenue ?? 0),
          spend,
          costPerDecision: a.cost,
          cost: spend,
          // Money and the posterior are rounded like every figure of a report (reports/round.ts);
          // probabilities stay exact (clients compute with them, shares sum to 1).
          posteriorMean: round(post[a.index].mean),
          interval95: [round(post[a.index].low), round(post[a.index].high)] as [number, number],
          probabilityBest: pBest[a.index],
          trafficShare: Number(share[a.index] ?? 0),
        };
      });
      return c.json({ arms }, 200);
    },
  );
}
