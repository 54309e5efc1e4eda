/**
 * Input isolation: what one request carries never fails another. The poison cases that used to fail the
 * shared group commit (U+0000, a lone surrogate, a 10,000-deep context, a value whose square overflows)
 * answer 400 naming the field, while a victim workspace's concurrent decisions all succeed; unknown
 * fields are a 400 naming them, on every write route.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCampaign,
  creativeCampaign,
  decide,
  expectInvalid,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let attacker: Workspace;
let victim: Workspace;
let attackerCampaign: string;
let linucb: string;
let victimCampaign: string;
let decisionId: string;
beforeAll(async () => {
  h = await startHarness({ seed: 99 });
  attacker = await h.workspace("attacker");
  victim = await h.workspace("victim");
  attackerCampaign = await createCampaign(attacker);
  linucb = await createCampaign(
    attacker,
    creativeCampaign({ strategy: { type: "linucb" }, contextFeatures: [{ name: "age", type: "numeric" }] }),
  );
  victimCampaign = await createCampaign(victim);
  decisionId = (await decide(attacker, attackerCampaign)).body.decisionId;
});
afterAll(async () => {
  await h?.close();
});

const deep = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { x: v };
  return v;
};
/** A decision body whose context is `n` levels deep, as raw JSON (JSON.stringify would overflow the stack). */
const deepBody = (n: number) => `{"context":${'{"x":'.repeat(n)}1${"}".repeat(n)}}`;

describe("poison requests answer 400 naming the field", () => {
  const cases = (): Array<[string, string, string, unknown, string]> => [
    [
      "U+0000 in a context string",
      "POST",
      `/v1/campaigns/${attackerCampaign}/decisions`,
      { context: { a: "x\u0000y" } },
      "context.a",
    ],
    [
      "a lone surrogate in unitId",
      "POST",
      `/v1/campaigns/${attackerCampaign}/decisions`,
      { unitId: "\ud800" },
      "unitId",
    ],
    [
      "a lone surrogate in a context key",
      "POST",
      `/v1/campaigns/${attackerCampaign}/decisions`,
      { context: { "k\udc00": 1 } },
      "context",
    ],
    [
      "a 5-deep context (bound 4)",
      "POST",
      `/v1/campaigns/${attackerCampaign}/decisions`,
      { context: deep(5) },
      "context",
    ],
    [
      "a context over 8 KiB",
      "POST",
      `/v1/campaigns/${attackerCampaign}/decisions`,
      { context: { s: "x".repeat(9000) } },
      "context",
    ],
    ["age 1e200 on linucb", "POST", `/v1/campaigns/${linucb}/decisions`, { context: { age: 1e200 } }, "context.age"],
    [
      "U+0000 in a batch request",
      "POST",
      "/v1/decisions/batch",
      { requests: [{ campaignId: attackerCampaign, unitId: "\u0000" }] },
      "requests.0.unitId",
    ],
    [
      "event value 1e200",
      "POST",
      "/v1/events",
      { events: [{ id: "p1", decisionId, type: "conversion", value: 1e200 }] },
      "events.0.value",
    ],
    [
      "event cost 1e10",
      "POST",
      "/v1/events",
      { events: [{ id: "p2", decisionId, type: "conversion", cost: 1e10 }] },
      "events.0.cost",
    ],
    [
      "U+0000 in an event source",
      "POST",
      "/v1/events",
      { events: [{ id: "p3", decisionId, type: "click", source: { userAgent: "a\u0000" } }] },
      "events.0.source.userAgent",
    ],
    ["a lone surrogate in a campaign name", "POST", "/v1/campaigns", creativeCampaign({ name: "\udfff" }), "name"],
    [
      "U+0000 in arm metadata",
      "POST",
      `/v1/campaigns/${attackerCampaign}/arms`,
      { key: "z", metadata: { u: "\u0000" } },
      "metadata.u",
    ],
    [
      "a 9-deep arm metadata (bound 8)",
      "PATCH",
      `/v1/campaigns/${attackerCampaign}/arms/a`,
      { metadata: deep(9) },
      "metadata",
    ],
    ["U+0000 in a workspace name", "POST", "/v1/workspaces", { name: "\u0000" }, "name"],
  ];
  for (const [label, , , , field] of cases())
    it(label, async () => {
      const [, method, path, body] = cases().find((c) => c[0] === label) as [string, string, string, unknown, string];
      const key = path === "/v1/workspaces" ? "test-admin-key-0123456789" : attacker.apiKey;
      expectInvalid(await attacker.call(method, path, { body, key }), field);
    });

  it("a 10,000-deep context", async () => {
    const r = await attacker.call("POST", `/v1/campaigns/${attackerCampaign}/decisions`, { raw: deepBody(10_000) });
    expectInvalid(r, "context");
  });

  it("a number that parses to Infinity (1e400) in any body", async () => {
    const r = await attacker.call("POST", `/v1/campaigns/${attackerCampaign}/decisions`, {
      raw: '{"context":{"a":1e400}}',
    });
    expectInvalid(r, "context.a");
  });

  it("a body nested deeper than 32 levels anywhere", async () => {
    const r = await attacker.call("POST", "/v1/events", { raw: `{"events":${"[".repeat(40)}${"]".repeat(40)}}` });
    expectInvalid(r, "events");
  });
});

describe("unknown fields are a 400 naming them", () => {
  const cases = (): Array<[string, string, unknown, string]> => [
    ["POST", "/v1/campaigns", creativeCampaign({ dailyBudgt: 100 }), "dailyBudgt"],
    ["POST", "/v1/campaigns", creativeCampaign({ arms: [{ key: "a", colour: "red" }] }), "arms.0.colour"],
    ["PATCH", `/v1/campaigns/${attackerCampaign}`, { nmae: "typo" }, "nmae"],
    ["POST", `/v1/campaigns/${attackerCampaign}/arms`, { key: "q", weight: 2 }, "weight"],
    ["PATCH", `/v1/campaigns/${attackerCampaign}/arms/a`, { staus: "paused" }, "staus"],
    ["POST", `/v1/campaigns/${attackerCampaign}/decisions`, { contxt: {} }, "contxt"],
    ["POST", "/v1/decisions/batch", { requests: [{ campaignId: attackerCampaign, unit: "u" }] }, "requests.0.unit"],
    ["POST", "/v1/events", { events: [{ id: "u1", decisionId, type: "click", vaule: 1 }] }, "events.0.vaule"],
    [
      "POST",
      "/v1/events",
      { events: [{ id: "u2", decisionId, type: "click", source: { ipAddress: "x" } }] },
      "events.0.source.ipAddress",
    ],
    ["POST", "/v1/events", { events: [{ id: "u3", decisionId, type: "click" }], extra: true }, "extra"],
    ["POST", "/v1/blocklist", { entityType: "ip", entity: "1.2.3.4", note: "x" }, "note"],
  ];
  cases().forEach(([method, label, , field], i) => {
    it(`${method} ${label.replace("undefined", "{id}")}: ${field}`, async () => {
      const [, path, body] = cases()[i];
      const r = await attacker.call(method, path, { body });
      expectInvalid(r, field);
      expect(r.body.error.details.some((d: { path: string; message: string }) => d.path === field)).toBe(true);
      expect(r.body.error.message).toContain(field);
    });
  });
});

describe("a victim's decisions are unaffected by an attacker's poison", () => {
  it("every victim decision succeeds while poison requests run alongside in the same commits", async () => {
    const poison = [{ context: { a: "\u0000" } }, { unitId: "\ud800" }, { context: { age: 1e200 } }, deepBody(10_000)];
    const attacks: Promise<{ status: number }>[] = [];
    const victims: Promise<{ status: number }>[] = [];
    for (let i = 0; i < 200; i++) {
      const p = poison[i % poison.length];
      const path = `/v1/campaigns/${i % 2 ? linucb : attackerCampaign}/decisions`;
      attacks.push(attacker.call("POST", path, typeof p === "string" ? { raw: p } : { body: p }));
      victims.push(decide(victim, victimCampaign, { unitId: `v${i}` }));
    }
    const a = await Promise.all(attacks);
    const v = await Promise.all(victims);
    expect(a.every((r) => r.status === 400)).toBe(true);
    expect(v.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    // The linucb campaign still serves (and loads after a restart).
    expect((await decide(attacker, linucb, { context: { age: 30 } })).status).toBe(201);
  });
});
