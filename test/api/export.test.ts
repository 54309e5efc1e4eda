/**
 * GET /v1/campaigns/{id}/decisions/export: the decision log for off-policy evaluation, JSONL and CSV.
 * Each row carries the action, the logged propensity, the reward per the objective (attributed events
 * only: a conversion after the window earns nothing) and the context; `from`/`to` bound the time range.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCampaign,
  creativeCampaign,
  decide,
  eventId,
  expectInvalid,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
let campaign: string;
const made: Array<{ decisionId: string; arm: { key: string }; propensity: number }> = [];
beforeAll(async () => {
  h = await startHarness({ seed: 11, clockSkewToleranceMs: 201 * 3_600_000 }); // a conversion dated 200 h ahead
  ws = await h.workspace("export");
  campaign = await createCampaign(
    ws,
    creativeCampaign({
      objective: "revenue",
      strategy: { type: "lin_ts" },
      contextFeatures: [
        { name: "age", type: "numeric" },
        { name: "device", type: "categorical" },
      ],
    }),
  );
  for (let i = 0; i < 8; i++) {
    made.push(
      (await decide(ws, campaign, { unitId: `u${i}`, context: { age: 20 + i, device: i % 2 ? "ios" : "web" } })).body,
    );
  }
  const r = await ws.post("/v1/events", {
    events: [
      { id: eventId(), decisionId: made[0].decisionId, type: "conversion", value: 9.5 },
      { id: eventId(), decisionId: made[3].decisionId, type: "conversion", value: 4 },
      { id: eventId(), decisionId: made[3].decisionId, type: "conversion", value: 1 },
      // after the 168 h window: stored, but no reward in the log
      {
        id: eventId(),
        decisionId: made[1].decisionId,
        type: "conversion",
        value: 50,
        occurredAt: new Date(Date.now() + 200 * 3600_000).toISOString(),
      },
    ],
  });
  expect(r.body.accepted).toBe(4);
});
afterAll(async () => {
  await h?.close();
});

describe("decisions export", () => {
  it("JSONL: one row per decision with action, propensity, reward and context", async () => {
    const r = await ws.get(`/v1/campaigns/${campaign}/decisions/export?format=jsonl`);
    expect(r.status).toBe(200);
    const rows = r.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(8);
    const byId = new Map(rows.map((x) => [x.decisionId, x]));
    for (const [i, d] of made.entries()) {
      const row = byId.get(d.decisionId);
      expect(row).toBeDefined();
      expect(row.campaignId).toBe(campaign);
      expect(row.action).toBe(d.arm.key);
      expect(row.propensity).toBeCloseTo(d.propensity, 12);
      expect(Number.isNaN(Date.parse(row.timestamp))).toBe(false);
      expect(row.context).toEqual({ age: 20 + i, device: i % 2 ? "ios" : "web" });
      // Pseudonymised by default (src/privacy): the unit's keyed hash, never the raw id.
      expect(row.unitId).toBeUndefined();
      expect(row.unitHash).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(new Set(rows.map((x) => x.unitHash)).size).toBe(8);
    expect(r.text).not.toContain('"u0"');
    expect(byId.get(made[0].decisionId).reward).toBeCloseTo(9.5, 9);
    expect(byId.get(made[3].decisionId).reward).toBeCloseTo(5, 9);
    expect(byId.get(made[1].decisionId).reward).toBe(0);
  });

  it("CSV: the header the evaluator reads, one line per decision", async () => {
    const r = await ws.get(`/v1/campaigns/${campaign}/decisions/export?format=csv`);
    expect(r.status).toBe(200);
    const lines = r.text.trim().split(/\r?\n/);
    expect(lines[0]).toBe("decision_id,timestamp,action,propensity,reward,context_json");
    expect(lines).toHaveLength(9);
    expect(r.text).toContain(made[0].decisionId);
  });

  it("from/to bound the range", async () => {
    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 3600_000).toISOString();
    const none = await ws.get(
      `/v1/campaigns/${campaign}/decisions/export?format=jsonl&from=${encodeURIComponent(future)}`,
    );
    expect(none.status).toBe(200);
    expect(none.text.trim()).toBe("");
    const all = await ws.get(
      `/v1/campaigns/${campaign}/decisions/export?format=jsonl&from=${encodeURIComponent(past)}&to=${encodeURIComponent(future)}`,
    );
    expect(all.text.trim().split("\n")).toHaveLength(8);
  });

  it("an unknown format names the field", async () => {
    expectInvalid(await ws.get(`/v1/campaigns/${campaign}/decisions/export?format=xml`), "format");
  });
});
