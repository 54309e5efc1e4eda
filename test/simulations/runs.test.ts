/**
 * Stored simulation runs through the whole app: list, get, cancel, delete, scoped to the workspace; the
 * concurrency limit is per workspace (one tenant's runs never block another's); a run survives a restart of
 * the service; a run whose process stopped (stale heartbeat) reads as failed.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulationRunner } from "../../src/api/routes/simulations.ts";
import { type Harness, startHarness, type Workspace } from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
let other: Workspace;

beforeAll(async () => {
  h = await startHarness({ persistent: true });
  ws = await h.workspace("runs");
  other = await h.workspace("runs-other");
});
afterAll(async () => {
  await simulationRunner(h.service.deps).close();
  await simulationRunner(h.service.deps).idle();
  await h?.close();
});

const small = {
  name: "small",
  arms: [
    { key: "a", rate: 0.02 },
    { key: "b", rate: 0.05 },
  ],
  traffic: { rounds: 2000 },
  repetitions: 2,
  checkpoints: 5,
  strategies: [{ type: "thompson" }],
};
const long = { ...small, name: "long", traffic: { rounds: 2_000_000 }, repetitions: 20 };

async function until(w: Workspace, id: string, done: (s: string) => boolean) {
  let r = await w.get(`/v1/simulations/${id}`);
  for (let i = 0; i < 600 && !done(r.body.status); i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await w.get(`/v1/simulations/${id}`);
  }
  return r;
}

describe("stored simulation runs", () => {
  it("list, get with results, report; another workspace sees none of it", async () => {
    const r = await ws.post("/v1/simulations", small);
    expect(r.status).toBe(202);
    const done = await until(ws, r.body.id, (s) => s !== "running");
    expect(done.body.status).toBe("done");
    expect(done.body.results.strategies).toHaveLength(1);
    const list = (await ws.get("/v1/simulations")).body.simulations;
    expect(list.map((s: { id: string }) => s.id)).toContain(r.body.id);
    expect(list[0].results).toBeUndefined();
    expect((await ws.get(`/v1/simulations/${r.body.id}/report`)).text).toContain("<canvas");
    expect((await other.get("/v1/simulations")).body.simulations).toEqual([]);
    expect((await other.get(`/v1/simulations/${r.body.id}`)).status).toBe(404);
  });

  it("survives a restart of the service", async () => {
    const id = (await ws.get("/v1/simulations")).body.simulations[0].id;
    await h.restart();
    const r = await ws.get(`/v1/simulations/${id}`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("done");
  });

  it("cancel stops a running run; the report then answers 409; delete removes it", async () => {
    const r = await ws.post("/v1/simulations", long);
    expect(r.status).toBe(202);
    const c = await ws.post(`/v1/simulations/${r.body.id}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe("cancelled");
    await simulationRunner(h.service.deps).idle();
    expect((await ws.get(`/v1/simulations/${r.body.id}`)).body.status).toBe("cancelled");
    expect((await ws.get(`/v1/simulations/${r.body.id}/report`)).status).toBe(409);
    expect((await other.post(`/v1/simulations/${r.body.id}/cancel`)).status).toBe(404);
    expect((await other.call("DELETE", `/v1/simulations/${r.body.id}`)).status).toBe(404);
    expect((await ws.call("DELETE", `/v1/simulations/${r.body.id}`)).status).toBe(204);
    expect((await ws.get(`/v1/simulations/${r.body.id}`)).status).toBe(404);
    expect((await ws.get(`/v1/simulations/not-a-uuid`)).status).toBe(404);
  });

  it("the concurrency limit is per workspace", async () => {
    const runner = simulationRunner(h.service.deps);
    runner.limits.perWorkspace = 1;
    try {
      const a = await ws.post("/v1/simulations", long);
      expect(a.status).toBe(202);
      const again = await ws.post("/v1/simulations", long);
      expect(again.status).toBe(409);
      expect(again.body.error.message).toContain("this workspace");
      // Another tenant is not blocked.
      const b = await other.post("/v1/simulations", long);
      expect(b.status).toBe(202);
      await ws.post(`/v1/simulations/${a.body.id}/cancel`);
      await other.post(`/v1/simulations/${b.body.id}/cancel`);
      await runner.idle();
    } finally {
      runner.limits.perWorkspace = 2;
    }
  });

  it("a running run whose process stopped reads as failed", async () => {
    await h.service.deps.db.execute(
      sql`insert into simulation_runs (id, workspace_id, name, status, scenario, repetitions, owner, heartbeat_at)
          values ('00000000-0000-4000-8000-0000000000aa', ${ws.id}::uuid, 'ghost', 'running', '{}'::jsonb, 3, 'gone', now() - interval '10 minutes')`,
    );
    const r = await ws.get("/v1/simulations/00000000-0000-4000-8000-0000000000aa");
    expect(r.body.status).toBe("failed");
    expect(r.body.error).toContain("interrupted");
  });
});
