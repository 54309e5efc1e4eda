/**
 * Simulations over HTTP: POST /v1/simulations runs a scenario (the same format as the simulate CLI,
 * simulations/README.md) in the background on a worker thread; GET /v1/simulations/{id} gives its status,
 * progress and, when done, its results; GET /v1/simulations/{id}/report the self-contained HTML report.
 * Runs live in memory per process, scoped to the workspace that started them, bounded in number (oldest
 * finished ones are forgotten first), in concurrency and in size (decisions simulated per run).
 */
import { randomUUID } from "node:crypto";
import { createRoute, z } from "@hono/zod-openapi";
import { reportHtml } from "../../../simulations/report/html.ts";
import { libraryResolve } from "../../../simulations/resolve.ts";
import { parseScenario, ScenarioError, type Scenario } from "../../../simulations/scenario.ts";
import { simulate, type SimulationResult } from "../../../simulations/simulate.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { body, errors, IdParam, json } from "../schemas.ts";

/** Limits of the in-memory run store. */
export const SIMULATION_LIMITS = {
  /** Runs kept (finished ones are evicted oldest first). */
  maxRuns: 50,
  /** Runs computing at once per process (each on its own worker thread). */
  maxActive: 2,
  /** rounds × repetitions × strategies of one run. */
  maxDecisions: 50_000_000,
};

type Status = "running" | "done" | "failed";
interface Run {
  id: string;
  workspaceId: string;
  status: Status;
  scenario: Scenario;
  done: number;
  total: number;
  createdAt: string;
  finishedAt?: string;
  error?: string;
  result?: SimulationResult;
}

const SimulationOut = z
  .object({
    id: z.string(),
    status: z.enum(["running", "done", "failed"]),
    scenario: z.string(),
    progress: z.object({ repetitionsDone: z.number().int(), repetitions: z.number().int(), fraction: z.number() }),
    createdAt: z.string(),
    finishedAt: z.string().optional(),
    error: z.string().optional(),
    results: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "SimulationResult (see simulations/README.md), when done" }),
    reportUrl: z.string().optional(),
  })
  .openapi("Simulation");

const ScenarioIn = z.record(z.string(), z.unknown()).openapi("Scenario", {
  description: "A simulation scenario, as the files in simulations/scenarios/ (validated; errors name the field)",
  example: {
    name: "creative",
    arms: [
      { key: "a", rate: 0.02 },
      { key: "b", rate: 0.03 },
    ],
    traffic: { rounds: 20000 },
    repetitions: 4,
    strategies: [{ type: "thompson" }],
  },
});

export function register(app: App, deps: AppDeps): void {
  const runs = new Map<string, Run>();
  const security = [{ bearer: [] }];
  let active = 0;

  const view = (r: Run) => ({
    id: r.id,
    status: r.status,
    scenario: r.scenario.name,
    progress: { repetitionsDone: r.done, repetitions: r.total, fraction: r.total ? r.done / r.total : 0 },
    createdAt: r.createdAt,
    ...(r.finishedAt && { finishedAt: r.finishedAt }),
    ...(r.error && { error: r.error }),
    ...(r.result && {
      results: r.result as unknown as Record<string, unknown>,
      reportUrl: `/v1/simulations/${r.id}/report`,
    }),
  });
  const find = (workspaceId: string, id: string) => {
    const r = runs.get(id);
    if (!r || r.workspaceId !== workspaceId) throw new ApiError("not_found", `simulation ${id} not found`);
    return r;
  };
  const evict = () => {
    for (const [id, r] of runs) {
      if (runs.size < SIMULATION_LIMITS.maxRuns) return;
      if (r.status !== "running") runs.delete(id);
    }
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/simulations",
      tags: ["simulations"],
      summary: "Run a simulation scenario in the background (worker thread)",
      security,
      request: body(ScenarioIn),
      responses: { 202: json(SimulationOut, "Started"), 400: errors[400], 401: errors[401], 409: errors[409] },
    }),
    async (c) => {
      let scenario: Scenario;
      try {
        scenario = parseScenario(c.req.valid("json"));
      } catch (e) {
        if (e instanceof ScenarioError)
          throw new ApiError(
            "invalid_request",
            e.issues[0] ? `${e.issues[0].path}: ${e.issues[0].message}` : "invalid scenario",
            e.issues,
          );
        throw e;
      }
      scenario.strategies.forEach((s, i) => {
        let stage: "type" | "params" = "type";
        try {
          const impl = libraryResolve(s.type);
          stage = "params";
          impl.parseParams(s.params);
        } catch (e) {
          // StrategyParamError names its field: "type" for an unknown strategy, the parameter otherwise.
          const field = (e as { field?: unknown }).field;
          const path =
            stage === "type"
              ? `strategies.${i}.type`
              : `strategies.${i}.params${typeof field === "string" && field ? `.${field}` : ""}`;
          const msg = (e as Error).message;
          throw new ApiError("invalid_request", `${path}: ${msg}`, [{ path, message: msg }]);
        }
      });
      const size = scenario.traffic.rounds * scenario.repetitions * scenario.strategies.length;
      if (size > SIMULATION_LIMITS.maxDecisions)
        throw new ApiError(
          "invalid_request",
          `traffic.rounds: rounds × repetitions × strategies = ${size} exceeds ${SIMULATION_LIMITS.maxDecisions}`,
          [
            {
              path: "traffic.rounds",
              message: `rounds × repetitions × strategies must not exceed ${SIMULATION_LIMITS.maxDecisions}`,
            },
          ],
        );
      if (active >= SIMULATION_LIMITS.maxActive)
        throw new ApiError("conflict", `${active} simulations are running; try again when one finishes`);
      evict();
      if (runs.size >= SIMULATION_LIMITS.maxRuns)
        throw new ApiError("conflict", "too many simulations running; try again later");
      const run: Run = {
        id: randomUUID(),
        workspaceId: c.get("workspaceId"),
        status: "running",
        scenario,
        done: 0,
        total: scenario.repetitions,
        createdAt: new Date().toISOString(),
      };
      runs.set(run.id, run);
      active++;
      simulate(scenario, { workers: 1, onProgress: (done) => (run.done = done) })
        .then((result) => {
          run.result = result;
          run.status = "done";
        })
        .catch((err: unknown) => {
          run.status = "failed";
          run.error = err instanceof Error ? err.message : String(err);
          deps.logger.warn({ err: run.error, simulation: run.id }, "simulation failed");
        })
        .finally(() => {
          active--;
          run.finishedAt = new Date().toISOString();
        });
      return c.json(view(run), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/simulations/{id}",
      tags: ["simulations"],
      summary: "Status, progress and (when done) results of a simulation",
      security,
      request: { params: IdParam },
      responses: { 200: json(SimulationOut, "Simulation"), 401: errors[401], 404: errors[404] },
    }),
    (c) => c.json(view(find(c.get("workspaceId"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/simulations/{id}/report",
      tags: ["simulations"],
      summary: "The simulation's self-contained HTML report (charts)",
      security,
      request: { params: IdParam },
      responses: {
        200: { description: "HTML report", content: { "text/html": { schema: z.string() } } },
        401: errors[401],
        404: errors[404],
        409: errors[409],
      },
    }),
    (c) => {
      const r = find(c.get("workspaceId"), c.req.valid("param").id);
      if (!r.result)
        throw new ApiError(
          "conflict",
          r.status === "failed" ? `simulation failed: ${r.error}` : "simulation still running",
        );
      return c.html(reportHtml(r.result), 200);
    },
  );
}
