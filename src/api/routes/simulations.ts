/**
 * Simulations over HTTP: POST /v1/simulations runs a scenario (the same format as the simulate CLI,
 * simulations/README.md) in the background on a worker thread; GET /v1/simulations/{id} gives its status,
 * progress and, when done, its results; GET /v1/simulations/{id}/report the self-contained HTML report.
 * GET /v1/simulations lists the workspace's runs, POST …/{id}/cancel stops one, DELETE removes it. Runs are
 * stored in the database per workspace (src/runs/simulations.ts runs them), so they survive restarts and every
 * replica sees them; concurrency is bounded per workspace (one tenant never waits for another's runs) and
 * per process, and size per run (decisions simulated). The helpers exported here are shared with the
 * dashboard (src/web), which opens the same report in its session.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { reportHtml } from "../../../simulations/report/html.ts";
import { libraryResolve } from "../../../simulations/resolve.ts";
import { parseScenario, ScenarioError, type Scenario } from "../../../simulations/scenario.ts";
import type { SimulationResult } from "../../../simulations/simulate.ts";
import { SimulationLimitError, SimulationRunner } from "../../runs/simulations.ts";
import {
  deleteRun,
  getRun,
  listRuns,
  reapStale,
  type SimulationRunRow,
  type SimulationRunSummary,
} from "../../store/simulation-runs.ts";
import type { App, AppDeps } from "../env.ts";
import { ApiError } from "../errors.ts";
import { body, errors, IdParam, json } from "../schemas.ts";

const SimulationOut = z
  .object({
    id: z.string(),
    status: z.enum(["running", "done", "failed", "cancelled"]),
    scenario: z.string(),
    progress: z.object({ repetitionsDone: z.number().int(), repetitions: z.number().int(), fraction: z.number() }),
    createdAt: z.string(),
    finishedAt: z.string().optional(),
    error: z.string().optional(),
    results: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "SimulationResult (see simulations/README.md), when done (GET of one run only)" }),
    reportUrl: z.string().optional(),
  })
  .openapi("Simulation");

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The API view of a stored run (results only when asked for, i.e. GET of one run). */
export function simulationView(r: SimulationRunSummary & { result?: Record<string, unknown> | null }) {
  return {
    id: r.id,
    status: r.status,
    scenario: r.name,
    progress: {
      repetitionsDone: r.repetitionsDone,
      repetitions: r.repetitions,
      fraction: r.repetitions ? r.repetitionsDone / r.repetitions : 0,
    },
    createdAt: r.createdAt.toISOString(),
    ...(r.finishedAt && { finishedAt: r.finishedAt.toISOString() }),
    ...(r.error && { error: r.error }),
    ...(r.status === "done" && { reportUrl: `/v1/simulations/${r.id}/report` }),
    ...(r.result && { results: r.result }),
  };
}

/** Parses and checks a scenario (the API's and the dashboard's), as an ApiError naming the field. */
export function checkScenario(input: unknown): Scenario {
  let scenario: Scenario;
  try {
    scenario = parseScenario(input);
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
  return scenario;
}

/** Starts a checked scenario, mapping the runner's limits to 400 (too large) or 409 (busy). */
export async function startSimulation(deps: AppDeps, workspaceId: string, scenario: Scenario) {
  try {
    return await simulationRunner(deps).start(workspaceId, scenario);
  } catch (e) {
    if (e instanceof SimulationLimitError) {
      if (e.kind === "too_large")
        throw new ApiError("invalid_request", `traffic.rounds: ${e.message}`, [
          { path: "traffic.rounds", message: e.message },
        ]);
      throw new ApiError("conflict", e.message);
    }
    throw e;
  }
}

/** A run of the workspace, or a 404. */
export async function findSimulation(deps: AppDeps, workspaceId: string, id: string): Promise<SimulationRunRow> {
  const r = UUID.test(id) ? await getRun(deps.db, workspaceId, id) : null;
  if (!r) throw new ApiError("not_found", `simulation ${id} not found`);
  return r;
}

/** The HTML report of a finished run, or a 409 saying why there is none. */
export function simulationReportHtml(r: SimulationRunRow): string {
  if (r.status !== "done" || !r.result)
    throw new ApiError(
      "conflict",
      r.status === "running" ? "simulation still running" : `simulation ${r.status}: ${r.error ?? ""}`.trim(),
    );
  return reportHtml(r.result as unknown as SimulationResult);
}

const runners = new WeakMap<AppDeps, SimulationRunner>();
/** The one runner of a service (shared by the API routes and the dashboard). */
export function simulationRunner(deps: AppDeps): SimulationRunner {
  let r = runners.get(deps);
  if (!r) runners.set(deps, (r = new SimulationRunner(() => deps.db, deps.logger)));
  return r;
}

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
  const security = [{ bearer: [] }];

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/simulations",
      tags: ["simulations"],
      summary: "Run a simulation scenario in the background (worker thread); stored per workspace",
      security,
      request: body(ScenarioIn),
      responses: { 202: json(SimulationOut, "Started"), 400: errors[400], 401: errors[401], 409: errors[409] },
    }),
    async (c) => {
      const run = await startSimulation(deps, c.get("workspaceId"), checkScenario(c.req.valid("json")));
      return c.json(simulationView(run), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/simulations",
      tags: ["simulations"],
      summary: "The workspace's simulation runs, newest first (without results)",
      security,
      responses: { 200: json(z.object({ simulations: z.array(SimulationOut) }), "Runs"), 401: errors[401] },
    }),
    async (c) => {
      const workspaceId = c.get("workspaceId");
      await reapStale(deps.db, workspaceId);
      return c.json({ simulations: (await listRuns(deps.db, workspaceId)).map(simulationView) }, 200);
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
    async (c) => {
      const workspaceId = c.get("workspaceId");
      await reapStale(deps.db, workspaceId);
      return c.json(simulationView(await findSimulation(deps, workspaceId, c.req.valid("param").id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/simulations/{id}/cancel",
      tags: ["simulations"],
      summary: "Cancel a running simulation (a finished one is left as it is)",
      security,
      request: { params: IdParam },
      responses: { 200: json(SimulationOut, "Simulation"), 401: errors[401], 404: errors[404] },
    }),
    async (c) => {
      const workspaceId = c.get("workspaceId");
      const { id } = c.req.valid("param");
      await findSimulation(deps, workspaceId, id);
      const r = await simulationRunner(deps).cancel(workspaceId, id);
      if (!r) throw new ApiError("not_found", `simulation ${id} not found`);
      return c.json(simulationView(r), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/simulations/{id}",
      tags: ["simulations"],
      summary: "Delete a simulation run (a running one is cancelled first)",
      security,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, 401: errors[401], 404: errors[404] },
    }),
    async (c) => {
      const workspaceId = c.get("workspaceId");
      const { id } = c.req.valid("param");
      const r = await findSimulation(deps, workspaceId, id);
      if (r.status === "running") await simulationRunner(deps).cancel(workspaceId, id);
      await deleteRun(deps.db, workspaceId, id);
      return c.body(null, 204);
    },
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
    async (c) => {
      const r = await findSimulation(deps, c.get("workspaceId"), c.req.valid("param").id);
      return c.html(simulationReportHtml(r), 200);
    },
  );
}
