/**
 * The simulation and evaluation routes, mounted on their own app over a real service's dependencies
 * (PGlite, or PostgreSQL with DATABASE_URL): a scenario runs in the background on a worker thread and its
 * report is served; an evaluation reads the campaign's own decision log through the export query.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/api/env.ts";
import { errorBody, invalid, onError } from "../../src/api/errors.ts";
import { register as evaluations } from "../../src/api/routes/evaluations.ts";
import { register as simulations } from "../../src/api/routes/simulations.ts";
import { closeEvaluationPool } from "../../simulations/ope/pool.ts";
import {
  createCampaign,
  creativeCampaign,
  decide,
  eventId,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
let other: Workspace;
let app: OpenAPIHono<AppEnv>;
let campaign: string;

const call = async (workspaceId: string, method: string, path: string, body?: unknown) => {
  const res = await app.request(path, {
    method,
    headers: { "content-type": "application/json", "x-test-workspace": workspaceId },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: a response body, whatever the server sent
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text, type: res.headers.get("content-type") ?? "" };
};

beforeAll(async () => {
  h = await startHarness({ seed: 5 });
  const deps = h.service.deps;
  app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const e = invalid(result.error.issues);
        return c.json(errorBody(e.code, e.message, e.details), 400);
      }
    },
  });
  // Authentication is the app's job (src/api/auth.ts); here the workspace comes from a test header.
  app.use("*", async (c, next) => {
    c.set("logger", deps.logger);
    c.set("workspaceId", c.req.header("x-test-workspace") ?? "");
    await next();
  });
  app.onError(onError);
  simulations(app, deps);
  evaluations(app, deps);

  ws = await h.workspace("sim");
  other = await h.workspace("other");
  campaign = await createCampaign(ws, creativeCampaign());
  const events: unknown[] = [];
  for (let i = 0; i < 60; i++) {
    const d = (await decide(ws, campaign, { unitId: `u${i}` })).body;
    if (d.arm.key === "b" || i % 7 === 0)
      events.push({ id: eventId(), decisionId: d.decisionId, type: "conversion", value: 1 });
  }
  const r = await ws.post("/v1/events", { events });
  expect(r.status).toBeLessThan(300);
});
afterAll(async () => {
  await closeEvaluationPool();
  await h?.close();
});

const scenario = {
  name: "api-test",
  arms: [
    { key: "a", rate: 0.02 },
    { key: "b", rate: 0.05 },
  ],
  traffic: { rounds: 3000 },
  repetitions: 2,
  checkpoints: 10,
  strategies: [{ type: "thompson" }, { type: "ucb1" }],
};

describe("POST /v1/simulations", () => {
  it("runs in the background, reports progress, then results and the HTML report", async () => {
    const r = await call(ws.id, "POST", "/v1/simulations", scenario);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: "running", scenario: "api-test", progress: { repetitions: 2 } });
    const id = r.body.id as string;
    let s = r;
    for (let i = 0; i < 300 && s.body.status === "running"; i++) {
      await new Promise((res) => setTimeout(res, 100));
      s = await call(ws.id, "GET", `/v1/simulations/${id}`);
    }
    expect(s.body.status).toBe("done");
    expect(s.body.progress).toEqual({ repetitionsDone: 2, repetitions: 2, fraction: 1 });
    expect(s.body.results.strategies.map((x: { label: string }) => x.label)).toEqual(["thompson", "ucb1"]);
    expect(s.body.reportUrl).toBe(`/v1/simulations/${id}/report`);
    const html = await call(ws.id, "GET", `/v1/simulations/${id}/report`);
    expect(html.status).toBe(200);
    expect(html.type).toMatch(/text\/html/);
    expect(html.text).toContain('<canvas id="regret">');
    // Another workspace cannot see it.
    expect((await call(other.id, "GET", `/v1/simulations/${id}`)).status).toBe(404);
  });

  it.each([
    [{ ...scenario, arms: [{ key: "a", rate: 2 }] }, "arms.0.rate"],
    [{ ...scenario, strategies: [{ type: "nope" }] }, "strategies.0.type"],
    [{ ...scenario, strategies: [{ type: "thompson", params: { alpha: -1 } }] }, "strategies.0.params.alpha"],
    [{ ...scenario, traffic: { rounds: 50_000_000 }, repetitions: 10 }, "traffic.rounds"],
  ])("rejects an invalid scenario naming the field (%#)", async (body, path) => {
    const r = await call(ws.id, "POST", "/v1/simulations", body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("invalid_request");
    expect(r.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  it("404 for an unknown simulation", async () => {
    expect((await call(ws.id, "GET", "/v1/simulations/nope")).status).toBe(404);
  });
});

describe("POST /v1/evaluations", () => {
  it("evaluates a policy on the campaign's own logs, with the logged value and the lift", async () => {
    const r = await call(ws.id, "POST", "/v1/evaluations", { campaignId: campaign, policy: "arm:b", bootstrap: 50 });
    expect(r.status).toBe(200);
    expect(r.body.rows).toBe(60);
    expect(r.body.actions).toEqual(["a", "b", "c"]);
    expect(r.body.estimates.map((e: { estimator: string }) => e.estimator)).toEqual([
      "replay",
      "ips",
      "snips",
      "dm",
      "dr",
      "sndr",
      "switch_dr",
      "dros",
    ]);
    const snips = r.body.estimates.find((e: { estimator: string }) => e.estimator === "snips");
    // Every logged "b" converted, so always-b is worth 1 by (self-normalised) importance weighting.
    expect(snips.value).toBeCloseTo(1, 9);
    expect(snips.lift.value).toBeCloseTo(1 - r.body.logged.value, 9);
    const same = await call(ws.id, "POST", "/v1/evaluations", { campaignId: campaign, policy: "arm:b", bootstrap: 50 });
    expect(same.body).toEqual(r.body);
  });

  it("evaluates a strategy spec", async () => {
    const r = await call(ws.id, "POST", "/v1/evaluations", {
      campaignId: campaign,
      policy: { type: "thompson" },
      bootstrap: 20,
    });
    expect(r.status).toBe(200);
    expect(r.body.policy).toBe('{"type":"thompson","params":{}}');
  });

  it.each([
    [{ campaignId: "x", policy: "best" }, 400, "policy"],
    [{ campaignId: "00000000-0000-4000-8000-000000000000", policy: "uniform" }, 404, null],
    [{ policy: "uniform" }, 400, "campaignId"],
    [{ campaignId: "x", policy: "uniform", bootstrap: 5 }, 400, "bootstrap"],
  ] as const)("errors (%#)", async (body, status, path) => {
    const r = await call(ws.id, "POST", "/v1/evaluations", body);
    expect(r.status).toBe(status);
    if (path) expect(r.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  it("a policy on an arm that was never logged names the field", async () => {
    const r = await call(ws.id, "POST", "/v1/evaluations", { campaignId: campaign, policy: "arm:zz" });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('policy: arm "zz" is not in the action set (actions: a, b, c)');
  });

  it("another workspace's campaign is not found", async () => {
    expect((await call(other.id, "POST", "/v1/evaluations", { campaignId: campaign, policy: "uniform" })).status).toBe(
      404,
    );
  });

  it("states the diagnostics, the interval method and clipping (off by default, explicit when asked)", async () => {
    const r = await call(ws.id, "POST", "/v1/evaluations", { campaignId: campaign, policy: "arm:b", bootstrap: 20 });
    expect(r.body.clip).toBeNull();
    expect(r.body.objective).toBe("conversions");
    expect(r.body.weights).toMatchObject({ zero: expect.any(Number), histogram: { edges: expect.any(Array) } });
    expect(r.body.weights.max).toBeGreaterThan(1);
    expect(r.body.topRows.rows[0]).toMatchObject({ line: null, decisionId: expect.any(String) });
    expect(r.body.interval.method).toMatch(/^percentile bootstrap over rows; reward model refitted/);
    const clipped = await call(ws.id, "POST", "/v1/evaluations", {
      campaignId: campaign,
      policy: "arm:b",
      bootstrap: 20,
      clip: 2,
    });
    expect(clipped.body.clip).toEqual({ at: 2, rows: expect.any(Number) });
    expect(clipped.body.warnings.join("\n")).toMatch(/importance weights clipped at 2/);
  });

  it("answers the HTML report with ?format=html", async () => {
    const r = await call(ws.id, "POST", "/v1/evaluations?format=html", {
      campaignId: campaign,
      policy: "uniform",
      bootstrap: 20,
    });
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/text\/html/);
    expect(r.text).toContain('<svg id="forest"');
    expect(r.text).toContain('<svg id="weights"');
    for (const name of ["ips", "snips", "dr", "dros"]) expect(r.text).toContain(`<th>${name}</th>`);
  });

  it("runs at most 2 evaluations at once per workspace (409 for a third)", async () => {
    const body = { campaignId: campaign, policy: { type: "thompson" }, bootstrap: 2000, replays: 20 };
    // Three at once: the evaluation pool has one thread, so the first two are still computing when the third asks.
    const answers = await Promise.all([1, 2, 3].map(() => call(ws.id, "POST", "/v1/evaluations", body)));
    expect(answers.map((x) => x.status).sort()).toEqual([200, 200, 409]);
    expect(answers.find((x) => x.status === 409)!.body.error.message).toBe(
      "2 evaluations are already running for this workspace (at most 2 at once): retry when one finishes",
    );
  });
});
