/**
 * Campaigns, error paths: every invalid body answers 400 in the common error shape naming the field; unknown
 * ids 404; malformed JSON 400; oversize bodies 413. Never a 500 for anything a client sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCampaign,
  creativeCampaign,
  expectError,
  expectInvalid,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness();
  ws = await h.workspace("campaign-errors");
});
afterAll(async () => {
  await h?.close();
});

describe("POST /v1/campaigns — 400 naming the field", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["name missing", creativeCampaign({ name: undefined }), "name"],
    ["kind unknown", creativeCampaign({ kind: "banner" }), "kind"],
    ["objective unknown", creativeCampaign({ objective: "likes" }), "objective"],
    ["strategy missing", creativeCampaign({ strategy: undefined }), "strategy"],
    ["strategy type unknown", creativeCampaign({ strategy: { type: "oracle" } }), "strategy"],
    ["arms not a list", creativeCampaign({ arms: "a,b" }), "arms"],
    ["arms empty", creativeCampaign({ arms: [] }), "arms"],
    ["arm without key", creativeCampaign({ arms: [{ name: "nameless" }, { key: "b" }] }), "arms"],
    ["arm cost negative", creativeCampaign({ arms: [{ key: "a", cost: -1 }, { key: "b" }] }), "arms"],
    ["duplicate arm keys", creativeCampaign({ arms: [{ key: "a" }, { key: "a" }] }), "arms"],
    ["window not positive", creativeCampaign({ attributionWindowHours: -5 }), "attributionWindowHours"],
    ["floor above 1", creativeCampaign({ explorationFloor: 1.5 }), "explorationFloor"],
    ["floor negative", creativeCampaign({ explorationFloor: -0.1 }), "explorationFloor"],
    [
      "context feature type unknown",
      creativeCampaign({ strategy: { type: "linucb" }, contextFeatures: [{ name: "age", type: "vector" }] }),
      "contextFeatures",
    ],
    [
      "send_time arm key not an hour",
      { name: "s", kind: "send_time", objective: "conversions", strategy: { type: "thompson" }, arms: [{ key: "24" }] },
      "arms",
    ],
    [
      "send_time arm key not an hour of the week",
      {
        name: "s",
        kind: "send_time",
        objective: "conversions",
        strategy: { type: "thompson" },
        arms: [{ key: "fri-09" }, { key: "xyz-09" }],
      },
      "arms",
    ],
  ];
  for (const [label, body, field] of cases) {
    it(label, async () => {
      const clean = JSON.parse(JSON.stringify(body)); // drops undefined fields
      expectInvalid(await ws.post("/v1/campaigns", clean), field);
    });
  }

  it("contextual strategy without contextFeatures", async () => {
    const r = await ws.post("/v1/campaigns", creativeCampaign({ strategy: { type: "lin_ts" } }));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("invalid_request");
  });

  it("invalid strategy params name the strategy field", async () => {
    const r = await ws.post("/v1/campaigns", creativeCampaign({ strategy: { type: "epsilon_greedy", epsilon: 7 } }));
    expectInvalid(r, "strategy");
  });

  it("malformed JSON", async () => {
    const r = await ws.call("POST", "/v1/campaigns", { raw: '{"name": "broken",' });
    expectError(r, 400);
    expect(r.body.error.code).toBe("invalid_request");
  });

  it("a body that is not an object", async () => {
    const r = await ws.call("POST", "/v1/campaigns", { raw: "[1,2,3]" });
    expectError(r, 400);
  });
});

describe("413 oversize body", () => {
  it("rejects a 5 MB campaign body with 413 in the error shape", async () => {
    const huge = creativeCampaign({ name: "x".repeat(5 * 1024 * 1024) });
    const r = await ws.post("/v1/campaigns", huge);
    expectError(r, 413);
  });
});

describe("404 unknown ids", () => {
  const unknown = "00000000-0000-4000-8000-000000000000";
  it("GET an unknown campaign", async () => {
    expectError(await ws.get(`/v1/campaigns/${unknown}`), 404);
  });
  it("GET a campaign id that is not even a uuid: unknown, so 404", async () => {
    expectError(await ws.get("/v1/campaigns/not-an-id"), 404);
  });
  it("PATCH an unknown campaign", async () => {
    expectError(await ws.patch(`/v1/campaigns/${unknown}`, { name: "x" }), 404);
  });
  it("decisions on an unknown campaign", async () => {
    expectError(await ws.post(`/v1/campaigns/${unknown}/decisions`, {}), 404);
  });
  it("arms of an unknown campaign", async () => {
    expectError(await ws.get(`/v1/campaigns/${unknown}/arms`), 404);
    expectError(await ws.post(`/v1/campaigns/${unknown}/arms`, { key: "z" }), 404);
  });
});

describe("PATCH /v1/campaigns/{id} — 400", () => {
  it("unknown status", async () => {
    const id = await createCampaign(ws);
    expectInvalid(await ws.patch(`/v1/campaigns/${id}`, { status: "deleted" }), "status");
  });
  it("floor out of range", async () => {
    const id = await createCampaign(ws);
    expectInvalid(await ws.patch(`/v1/campaigns/${id}`, { explorationFloor: 2 }), "explorationFloor");
  });
  it("changing the strategy type is refused (its posterior would not carry over)", async () => {
    const id = await createCampaign(ws);
    const r = await ws.patch(`/v1/campaigns/${id}`, { strategy: { type: "ucb1" } });
    expect([400, 409]).toContain(r.status);
    expectError(r, r.status);
  });
});
