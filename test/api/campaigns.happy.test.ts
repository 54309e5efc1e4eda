/**
 * Campaigns, happy paths: creation for every kind, objective and strategy type the contract lists, the
 * send_time default of 24 hourly arms, listing, reading and PATCHing name, status, params, floor and window.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  armsByKey,
  createCampaign,
  creativeCampaign,
  decide,
  listOf,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness();
  ws = await h.workspace("campaigns");
});
afterAll(async () => {
  await h?.close();
});

const contextFeatures = [
  { name: "age", type: "numeric" },
  { name: "device", type: "categorical" },
];

describe("POST /v1/campaigns", () => {
  it("creates a creative campaign and echoes what was asked", async () => {
    const r = await ws.post("/v1/campaigns", creativeCampaign({ attributionWindowHours: 48, explorationFloor: 0.01 }));
    expect(r.status).toBe(201);
    expect(typeof r.body.id).toBe("string");
    expect(r.body).toMatchObject({
      name: "spring sale",
      kind: "creative",
      objective: "conversions",
      attributionWindowHours: 48,
      explorationFloor: 0.01,
    });
    expect(r.body.strategy.type).toBe("thompson");
    expect(r.body.status).toBe("active");
  });

  it("defaults the attribution window to 168 hours", async () => {
    const r = await ws.post("/v1/campaigns", creativeCampaign());
    expect(r.status).toBe(201);
    expect(r.body.attributionWindowHours).toBe(168);
  });

  for (const objective of ["conversions", "revenue", "profit"]) {
    it(`accepts objective ${objective}`, async () => {
      const r = await ws.post(
        "/v1/campaigns",
        creativeCampaign({
          objective,
          arms: [
            { key: "x", cost: 0.2 },
            { key: "y", cost: 0.5 },
          ],
        }),
      );
      expect(r.status).toBe(201);
      expect(r.body.objective).toBe(objective);
    });
  }

  it("accepts kind channel with per-decision arm costs", async () => {
    const r = await ws.post("/v1/campaigns", {
      name: "reach",
      kind: "channel",
      objective: "profit",
      strategy: { type: "gaussian_thompson" },
      arms: [
        { key: "email", cost: 0.001 },
        { key: "sms", cost: 0.05 },
        { key: "push", cost: 0 },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body.kind).toBe("channel");
  });

  it("send_time without arms creates the 24 hours of the day", async () => {
    const id = await createCampaign(ws, {
      name: "newsletter",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
    });
    const arms = await armsByKey(ws, id);
    const expected = Array.from({ length: 24 }, (_, i) => String(i).padStart(2, "0"));
    expect(Object.keys(arms).sort()).toEqual(expected);
  });

  it("send_time accepts hours of the week", async () => {
    const r = await ws.post("/v1/campaigns", {
      name: "weekly",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "mon-09" }, { key: "sun-23" }, { key: "wed-00" }],
    });
    expect(r.status).toBe(201);
  });

  const strategies: Array<{ type: string; contextual: boolean }> = [
    { type: "thompson", contextual: false },
    { type: "gaussian_thompson", contextual: false },
    { type: "top_two_thompson", contextual: false },
    { type: "ucb1", contextual: false },
    { type: "epsilon_greedy", contextual: false },
    { type: "softmax", contextual: false },
    { type: "linucb", contextual: true },
    { type: "lin_ts", contextual: true },
    { type: "logistic_ts", contextual: true },
  ];
  for (const s of strategies) {
    it(`strategy ${s.type}: creates the campaign and decides with it`, async () => {
      const body = creativeCampaign({
        strategy: { type: s.type },
        ...(s.contextual ? { contextFeatures } : {}),
      });
      const id = await createCampaign(ws, body);
      const d = await decide(ws, id, s.contextual ? { context: { age: 31, device: "ios" } } : {});
      expect(d.status).toBe(201);
      expect(["a", "b", "c"]).toContain(d.body.arm.key);
      expect(d.body.propensity).toBeGreaterThan(0);
      expect(d.body.propensity).toBeLessThanOrEqual(1);
    });
  }
});

describe("GET /v1/campaigns and /v1/campaigns/{id}", () => {
  it("lists the workspace's campaigns and reads one", async () => {
    const own = await h.workspace("lister");
    const id1 = await createCampaign(own, creativeCampaign({ name: "first" }));
    const id2 = await createCampaign(own, creativeCampaign({ name: "second" }));
    const list = await own.get("/v1/campaigns");
    expect(list.status).toBe(200);
    const rows = listOf(list.body, "campaigns");
    expect(rows.map((c) => c.id).sort()).toEqual([id1, id2].sort());

    const one = await own.get(`/v1/campaigns/${id1}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: id1, name: "first", kind: "creative", objective: "conversions" });
  });
});

describe("PATCH /v1/campaigns/{id}", () => {
  it("renames, changes floor and window, and the change is read back", async () => {
    const id = await createCampaign(ws);
    const r = await ws.patch(`/v1/campaigns/${id}`, {
      name: "renamed",
      explorationFloor: 0.05,
      attributionWindowHours: 24,
    });
    expect(r.status).toBe(200);
    const g = await ws.get(`/v1/campaigns/${id}`);
    expect(g.body).toMatchObject({ name: "renamed", explorationFloor: 0.05, attributionWindowHours: 24 });
  });

  it("an exploration floor of 0.2 on 3 arms keeps every propensity ≥ 0.2", async () => {
    const id = await createCampaign(ws, creativeCampaign({ strategy: { type: "epsilon_greedy", epsilon: 0 } }));
    expect((await ws.patch(`/v1/campaigns/${id}`, { explorationFloor: 0.2 })).status).toBe(200);
    for (let i = 0; i < 30; i++) {
      const d = await decide(ws, id);
      expect(d.status).toBe(201);
      expect(d.body.propensity).toBeGreaterThanOrEqual(0.2 - 1e-9);
    }
  });

  it("changes strategy params without losing what was learned", async () => {
    const id = await createCampaign(ws, creativeCampaign({ strategy: { type: "epsilon_greedy", epsilon: 0.1 } }));
    for (let i = 0; i < 5; i++) expect((await decide(ws, id)).status).toBe(201);
    const before = await armsByKey(ws, id);
    const r = await ws.patch(`/v1/campaigns/${id}`, { strategy: { type: "epsilon_greedy", epsilon: 0.3 } });
    expect(r.status).toBe(200);
    const g = await ws.get(`/v1/campaigns/${id}`);
    expect(g.body.strategy).toMatchObject({ type: "epsilon_greedy", epsilon: 0.3 });
    const after = await armsByKey(ws, id);
    for (const k of Object.keys(before)) expect(after[k].decisions).toBe(before[k].decisions);
  });

  it("pauses and resumes a campaign; archived is accepted", async () => {
    const id = await createCampaign(ws);
    for (const status of ["paused", "active", "archived"]) {
      const r = await ws.patch(`/v1/campaigns/${id}`, { status });
      expect(r.status).toBe(200);
      expect((await ws.get(`/v1/campaigns/${id}`)).body.status).toBe(status);
    }
  });
});
