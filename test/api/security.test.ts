/**
 * Authentication and workspace isolation across every /v1 endpoint: no key, a malformed header or an
 * unknown key answer 401; another workspace's ids answer 404 exactly like ids that never existed, and
 * nothing of theirs shows up in lists or can be changed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  armsByKey,
  createCampaign,
  decide,
  eventId,
  expectError,
  listOf,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let alice: Workspace;
let bob: Workspace;
let bobCampaign: string;
let bobDecision: { decisionId: string; arm: { key: string } };
beforeAll(async () => {
  h = await startHarness();
  alice = await h.workspace("alice");
  bob = await h.workspace("bob");
  bobCampaign = await createCampaign(bob);
  bobDecision = (await decide(bob, bobCampaign)).body;
});
afterAll(async () => {
  await h?.close();
});

const endpoints = (campaignId: string): Array<[string, string, unknown]> => [
  ["GET", "/v1/campaigns", undefined],
  [
    "POST",
    "/v1/campaigns",
    { name: "x", kind: "creative", objective: "conversions", strategy: { type: "thompson" }, arms: [{ key: "a" }] },
  ],
  ["GET", `/v1/campaigns/${campaignId}`, undefined],
  ["PATCH", `/v1/campaigns/${campaignId}`, { name: "stolen" }],
  ["GET", `/v1/campaigns/${campaignId}/arms`, undefined],
  ["POST", `/v1/campaigns/${campaignId}/arms`, { key: "intruder" }],
  ["PATCH", `/v1/campaigns/${campaignId}/arms/a`, { status: "paused" }],
  ["POST", `/v1/campaigns/${campaignId}/decisions`, {}],
  ["GET", `/v1/campaigns/${campaignId}/decisions/export?format=jsonl`, undefined],
  ["POST", "/v1/decisions/batch", { requests: [{ campaignId }] }],
  ["POST", "/v1/events", { events: [{ id: "e1", decisionId: "00000000-0000-4000-8000-000000000000", type: "click" }] }],
];

describe("401 on every /v1 endpoint", () => {
  for (const [method, path, body] of endpoints("00000000-0000-4000-8000-000000000000")) {
    it(`${method} ${path.replace(/[0-9a-f-]{36}/, "{id}")}: no key, malformed header, unknown key`, async () => {
      expectError(await h.call(method, path, { body }), 401);
      expectError(await h.call(method, path, { body, headers: { authorization: "Basic Zm9vOmJhcg==" } }), 401);
      expectError(await h.call(method, path, { body, headers: { authorization: "Bearer" } }), 401);
      expectError(await h.call(method, path, { body, key: `${alice.apiKey}tampered` }), 401);
      expectError(await h.call(method, path, { body, key: "ak_totally_made_up_key_1234567890" }), 401);
    });
  }
});

describe("404 for another workspace's ids", () => {
  const idRoutes = (id: string) => endpoints(id).filter(([, path]) => path.includes(id));
  for (const [method, path, body] of idRoutes("{foreign}")) {
    it(`${method} ${path}`, async () => {
      const foreignPath = path.replace("{foreign}", bobCampaign);
      const unknownPath = path.replace("{foreign}", "00000000-0000-4000-8000-000000000000");
      const f = await alice.call(method, foreignPath, { body });
      const u = await alice.call(method, unknownPath, { body });
      expectError(f, 404);
      expectError(u, 404);
      // indistinguishable from a missing id
      expect(f.body.error.code).toBe(u.body.error.code);
    });
  }

  it("batch decisions on a foreign campaign fail per item, like an unknown campaign", async () => {
    const r = await alice.post("/v1/decisions/batch", { requests: [{ campaignId: bobCampaign }] });
    expect(r.status).toBe(200);
    expect(r.body.decisions[0].error).toBeDefined();
    expect(r.body.decisions[0].decisionId).toBeUndefined();
  });

  it("events on a foreign decision are rejected and teach the owner nothing", async () => {
    const r = await alice.post("/v1/events", {
      events: [{ id: eventId(), decisionId: bobDecision.decisionId, type: "conversion", value: 100 }],
    });
    expect(r.status).toBe(200);
    expect(r.body.rejected).toBe(1);
    const arms = await armsByKey(bob, bobCampaign);
    expect(arms[bobDecision.arm.key].conversions).toBe(0);
  });

  it("lists show only the caller's campaigns, and the owner's campaign is untouched", async () => {
    const aliceOwn = await createCampaign(alice);
    const rows = listOf((await alice.get("/v1/campaigns")).body, "campaigns");
    expect(rows.map((c) => c.id)).toContain(aliceOwn);
    expect(rows.map((c) => c.id)).not.toContain(bobCampaign);
    const g = await bob.get(`/v1/campaigns/${bobCampaign}`);
    expect(g.body.name).not.toBe("stolen");
    const arms = await armsByKey(bob, bobCampaign);
    expect(arms.intruder).toBeUndefined();
    expect(arms.a.status).toBe("active");
  });
});
