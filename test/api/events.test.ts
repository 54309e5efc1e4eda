/**
 * Feedback: POST /v1/events accepts, dedupes by the sender's idempotency key and rejects per item; what it
 * accepts teaches the campaign at once (the next GET arms sees it), per objective — conversions count the
 * first conversion of a decision, revenue adds the value, profit adds value − cost and subtracts the arm's
 * cost per decision. A conversion after the attribution window is stored (a resend is a duplicate) but
 * teaches nothing.
 */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEncoder, type FeatureSpec } from "../../strategies/features.ts";
import {
  armsByKey,
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
beforeAll(async () => {
  h = await startHarness({ seed: 5 });
  ws = await h.workspace("events");
});
afterAll(async () => {
  await h?.close();
});

function postEvents(events: unknown[]) {
  return ws.post("/v1/events", { events });
}

describe("POST /v1/events — accepted, duplicate, rejected", () => {
  it("accepts events of every type and reports each", async () => {
    const id = await createCampaign(ws);
    const d = (await decide(ws, id)).body;
    const events = [
      {
        id: eventId(),
        decisionId: d.decisionId,
        type: "impression",
        source: { ip: "203.0.113.7", userAgent: "Mozilla/5.0", publisher: "pub-1", placement: "top" },
      },
      { id: eventId(), decisionId: d.decisionId, type: "click", cost: 0.12 },
      { id: eventId(), decisionId: d.decisionId, type: "conversion", value: 30, occurredAt: new Date().toISOString() },
    ];
    const r = await postEvents(events);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0 });
    expect(r.body.results.map((x: { id: string }) => x.id)).toEqual(events.map((e) => e.id));
    expect(r.body.results.every((x: { status: string }) => x.status === "accepted")).toBe(true);
  });

  it("an event sent twice counts once (idempotency key), across requests and within one", async () => {
    const id = await createCampaign(ws);
    const d = (await decide(ws, id)).body;
    const ev = { id: eventId("dup"), decisionId: d.decisionId, type: "conversion" };
    const first = await postEvents([ev]);
    expect(first.body).toMatchObject({ accepted: 1, duplicates: 0, rejected: 0 });
    const again = await postEvents([ev]);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    expect(again.body.results[0]).toMatchObject({ id: ev.id, status: "duplicate" });

    const twin = { id: eventId("twin"), decisionId: d.decisionId, type: "click" };
    const within = await postEvents([twin, twin]);
    expect(within.body).toMatchObject({ accepted: 1, duplicates: 1 });

    const arms = await armsByKey(ws, id);
    expect(arms[d.arm.key].conversions).toBe(1);
  });

  it("the same idempotency key in two workspaces is two events", async () => {
    const other = await h.workspace("other-events");
    const id1 = await createCampaign(ws);
    const id2 = await createCampaign(other);
    const d1 = (await decide(ws, id1)).body;
    const d2 = (await decide(other, id2)).body;
    const key = eventId("shared");
    expect((await postEvents([{ id: key, decisionId: d1.decisionId, type: "conversion" }])).body.accepted).toBe(1);
    const r = await other.post("/v1/events", { events: [{ id: key, decisionId: d2.decisionId, type: "conversion" }] });
    expect(r.body.accepted).toBe(1);
  });

  it("an unknown or foreign decision is rejected with a reason, without failing the others", async () => {
    const other = await h.workspace("foreign-decisions");
    const foreignId = await createCampaign(other);
    const foreign = (await decide(other, foreignId)).body;
    const id = await createCampaign(ws);
    const d = (await decide(ws, id)).body;
    const r = await postEvents([
      { id: eventId(), decisionId: "00000000-0000-4000-8000-000000000000", type: "click" },
      { id: eventId(), decisionId: foreign.decisionId, type: "conversion" },
      { id: eventId(), decisionId: d.decisionId, type: "click" },
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, duplicates: 0, rejected: 2 });
    expect(r.body.results[0].status).toBe("rejected");
    expect(typeof r.body.results[0].reason).toBe("string");
    expect(r.body.results[1].status).toBe("rejected");
    expect(r.body.results[1].reason).toBe(r.body.results[0].reason);
    expect(r.body.results[2].status).toBe("accepted");
    const arms = await armsByKey(other, foreignId);
    expect(arms[foreign.arm.key].conversions).toBe(0);
  });
});

describe("POST /v1/events — volume and concurrency", () => {
  it("accepts 1000 events in one request", async () => {
    const id = await createCampaign(ws);
    const r = await ws.post("/v1/decisions/batch", {
      requests: Array.from({ length: 500 }, () => ({ campaignId: id })),
    });
    const ids = (r.body.decisions as Array<{ decisionId: string }>).map((d) => d.decisionId);
    const events = Array.from({ length: 1000 }, (_, i) => ({
      id: eventId("bulk"),
      decisionId: ids[i % 500],
      type: i < 500 ? "conversion" : "click",
    }));
    const e = await postEvents(events);
    expect(e.status).toBe(200);
    expect(e.body).toMatchObject({ accepted: 1000, duplicates: 0, rejected: 0 });
    const arms = await armsByKey(ws, id);
    expect(Object.values(arms).reduce((s, a) => s + (a.conversions as number), 0)).toBe(500);
  });

  it("concurrent decisions and events lose nothing", async () => {
    const id = await createCampaign(ws);
    const ds = await Promise.all(Array.from({ length: 200 }, () => decide(ws, id)));
    const byArm: Record<string, number> = {};
    const convByArm: Record<string, number> = {};
    for (const d of ds) byArm[d.body.arm.key] = (byArm[d.body.arm.key] ?? 0) + 1;
    const converting = ds.filter((_, i) => i % 3 === 0);
    for (const d of converting) convByArm[d.body.arm.key] = (convByArm[d.body.arm.key] ?? 0) + 1;
    // each conversion sent twice, concurrently, under the same id
    const answers = await Promise.all(
      converting.flatMap((d) => {
        const ev = { id: `cc-${d.body.decisionId}`, decisionId: d.body.decisionId, type: "conversion" };
        return [postEvents([ev]), postEvents([ev])];
      }),
    );
    expect(answers.reduce((s, a) => s + a.body.accepted, 0)).toBe(converting.length);
    expect(answers.reduce((s, a) => s + a.body.duplicates, 0)).toBe(converting.length);
    const arms = await armsByKey(ws, id);
    for (const k of ["a", "b", "c"]) {
      expect(arms[k].decisions).toBe(byArm[k] ?? 0);
      expect(arms[k].conversions).toBe(convByArm[k] ?? 0);
    }
  });
});

describe("POST /v1/events — 400 naming the field", () => {
  const d = "00000000-0000-4000-8000-000000000000";
  const cases: Array<[string, unknown, string]> = [
    ["events missing", {}, "events"],
    ["unknown type", { events: [{ id: "x", decisionId: d, type: "purchase" }] }, "type"],
    ["id missing", { events: [{ decisionId: d, type: "click" }] }, "id"],
    ["decisionId missing", { events: [{ id: "x", type: "click" }] }, "decisionId"],
    ["value not a number", { events: [{ id: "x", decisionId: d, type: "conversion", value: "ten" }] }, "value"],
    [
      "occurredAt not a date",
      { events: [{ id: "x", decisionId: d, type: "conversion", occurredAt: "soon" }] },
      "occurredAt",
    ],
    [
      "1001 events",
      { events: Array.from({ length: 1001 }, (_, i) => ({ id: `e${i}`, decisionId: d, type: "click" })) },
      "events",
    ],
  ];
  for (const [label, body, field] of cases) {
    it(label, async () => {
      expectInvalid(await ws.post("/v1/events", body), field);
    });
  }
});

describe("learning from feedback, per objective", () => {
  it("conversions: the first conversion of a decision counts 1, later ones nothing; clicks nothing", async () => {
    const id = await createCampaign(ws);
    const ds = [];
    for (let i = 0; i < 6; i++) ds.push((await decide(ws, id)).body);
    const first = ds[0];
    await postEvents([
      { id: eventId(), decisionId: first.decisionId, type: "click" },
      { id: eventId(), decisionId: first.decisionId, type: "conversion", value: 5 },
      { id: eventId(), decisionId: first.decisionId, type: "conversion", value: 7 },
    ]);
    const arms = await armsByKey(ws, id);
    const total = Object.values(arms).reduce((s, a) => s + (a.decisions as number), 0);
    expect(total).toBe(6);
    expect(arms[first.arm.key].conversions).toBe(1);
    for (const [k, a] of Object.entries(arms)) if (k !== first.arm.key) expect(a.conversions).toBe(0);
  });

  it("the next decision sees a conversion at once: a converting arm's posterior mean rises", async () => {
    const id = await createCampaign(ws, creativeCampaign({ arms: [{ key: "a" }, { key: "b" }] }));
    const d = (await decide(ws, id)).body;
    const before = await armsByKey(ws, id);
    await postEvents([{ id: eventId(), decisionId: d.decisionId, type: "conversion" }]);
    const after = await armsByKey(ws, id);
    expect(after[d.arm.key].posteriorMean as number).toBeGreaterThan(before[d.arm.key].posteriorMean as number);
  });

  it("revenue: conversion values add up on the arm", async () => {
    const id = await createCampaign(ws, creativeCampaign({ objective: "revenue", arms: [{ key: "only" }] }));
    const d1 = (await decide(ws, id)).body;
    const d2 = (await decide(ws, id)).body;
    // two conversions of one decision in one batch: both values count for revenue
    const r = await postEvents([
      { id: eventId(), decisionId: d1.decisionId, type: "conversion", value: 12.5 },
      { id: eventId(), decisionId: d2.decisionId, type: "conversion", value: 7.5 },
      { id: eventId(), decisionId: d2.decisionId, type: "conversion", value: 5 },
    ]);
    expect(r.status, r.text).toBe(200);
    expect(r.body.accepted).toBe(3);
    const arms = await armsByKey(ws, id);
    expect(arms.only.decisions).toBe(2);
    expect(arms.only.revenue as number).toBeCloseTo(25, 9);
    // per-decision rewards 12.5 and 12.5: the posterior mean of a Gaussian model sits near 12.5
    expect(arms.only.posteriorMean as number).toBeGreaterThan(1);
  });

  it("profit: value − event cost − arm cost per decision", async () => {
    const id = await createCampaign(ws, creativeCampaign({ objective: "profit", arms: [{ key: "only", cost: 0.5 }] }));
    const d1 = (await decide(ws, id)).body;
    const d2 = (await decide(ws, id)).body;
    const r = await postEvents([
      { id: eventId(), decisionId: d1.decisionId, type: "click", cost: 0.25 },
      { id: eventId(), decisionId: d1.decisionId, type: "conversion", value: 10 },
    ]);
    expect(r.body.accepted, r.text).toBe(2);
    const arms = await armsByKey(ws, id);
    expect(arms.only.revenue as number).toBeCloseTo(10, 9);
    expect(arms.only.cost as number).toBeCloseTo(2 * 0.5 + 0.25, 9);
    void d2;
  });
});

describe("attribution window", () => {
  it("a conversion after the window is stored (a resend is a duplicate) but teaches nothing", async () => {
    // a 72 s window, and a conversion dated 4 min ahead: late, yet within the 5 min clock-skew tolerance
    const id = await createCampaign(ws, creativeCampaign({ attributionWindowHours: 0.02 }));
    const d = (await decide(ws, id)).body;
    const before = await armsByKey(ws, id);
    const late = {
      id: eventId("late"),
      decisionId: d.decisionId,
      type: "conversion",
      value: 1,
      occurredAt: new Date(Date.now() + 4 * 60_000).toISOString(),
    };
    const r = await postEvents([late]);
    expect(r.status).toBe(200);
    expect(r.body.results[0].status).toBe("accepted");
    const after = await armsByKey(ws, id);
    for (const k of Object.keys(before)) {
      expect(pick(after[k])).toEqual(pick(before[k]));
    }
    const again = await postEvents([late]);
    expect(again.body.results[0].status).toBe("duplicate");
  });

  it("a conversion inside the window teaches", async () => {
    const id = await createCampaign(ws, creativeCampaign({ attributionWindowHours: 0.02 }));
    const d = (await decide(ws, id)).body;
    const inside = new Date(Date.now() + 30_000).toISOString();
    await postEvents([{ id: eventId(), decisionId: d.decisionId, type: "conversion", occurredAt: inside }]);
    expect((await armsByKey(ws, id))[d.arm.key].conversions).toBe(1);
  });
});

describe.runIf(Boolean(process.env.DATABASE_URL))("what is in the database when the answer comes (PostgreSQL)", () => {
  let sql: ReturnType<typeof postgres>;
  beforeAll(() => {
    sql = postgres(h.options.databaseUrl as string, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end();
  });

  it("a decision is logged, with its propensity, when its 201 is answered; accepted events when their 200 is", async () => {
    const id = await createCampaign(ws);
    const d = (await decide(ws, id, { unitId: "logged" })).body;
    const [row] = await sql`select arm_key, propensity, unit_id, unit_hash from decisions where id = ${d.decisionId}`;
    // pseudonymised by default (src/privacy): the unit's keyed hash, not the id
    expect(row).toMatchObject({ arm_key: d.arm.key, unit_id: null });
    expect(row.unit_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.propensity).toBeCloseTo(d.propensity, 12);
    const ev = {
      id: eventId("durable"),
      decisionId: d.decisionId,
      type: "conversion",
      source: { ip: "198.51.100.4", publisher: "p" },
    };
    expect((await postEvents([ev])).body.accepted).toBe(1);
    const [e] =
      await sql`select type, attributed, invalid_reason, source_ip, source_publisher from events where event_id = ${ev.id}`;
    expect(e).toMatchObject({
      type: "conversion",
      attributed: true,
      invalid_reason: null,
      source_publisher: "p",
    });
    // stored as its /24's keyed hash (src/privacy), never raw
    expect(e.source_ip).toMatch(/^ip:[A-Za-z0-9_-]{22}$/);
  });

  it("Σ reward² stays exact when a decision's reward grows: (7.5 + 5)² not 7.5² + 5²", async () => {
    const id = await createCampaign(ws, creativeCampaign({ objective: "revenue", arms: [{ key: "only" }] }));
    const d = (await decide(ws, id)).body;
    await postEvents([{ id: eventId(), decisionId: d.decisionId, type: "conversion", value: 7.5 }]);
    await postEvents([{ id: eventId(), decisionId: d.decisionId, type: "conversion", value: 5 }]);
    await h.restart(); // flushes write-behind increments
    const [s] = await sql`select n, sum, sum_sq from arm_stats where campaign_id = ${id} and arm_key = 'only'`;
    expect(s.n).toBe(1);
    expect(s.sum).toBeCloseTo(12.5, 9);
    expect(s.sum_sq).toBeCloseTo(12.5 * 12.5, 9);
    const [dec] = await sql`select reward from decisions where id = ${d.decisionId}`;
    expect(dec.reward).toBeCloseTo(12.5, 9);
  });

  it("contextual: xx = Σ x xᵀ over decisions and xr = Σ reward · x, with x the encoded context", async () => {
    const specs: FeatureSpec[] = [
      { name: "age", type: "numeric" },
      { name: "device", type: "categorical", values: ["ios", "android", "web"] },
    ];
    const id = await createCampaign(
      ws,
      creativeCampaign({
        objective: "revenue",
        strategy: { type: "lin_ts" },
        contextFeatures: specs,
        arms: [{ key: "only" }],
      }),
    );
    const contexts = [
      { age: 0.3, device: "ios" },
      { age: -1.2, device: "web" },
      { age: 2, device: "android" },
    ];
    const ds = [];
    for (const context of contexts) ds.push((await decide(ws, id, { context })).body);
    await postEvents([
      { id: eventId(), decisionId: ds[0].decisionId, type: "conversion", value: 2 },
      { id: eventId(), decisionId: ds[2].decisionId, type: "conversion", value: 3 },
      { id: eventId(), decisionId: ds[2].decisionId, type: "conversion", value: 1 },
    ]);
    await h.restart();
    const enc = createEncoder(specs);
    const xs = contexts.map((c) => Array.from(enc.encode(c)));
    const rewards = [2, 0, 4];
    const d = enc.dim;
    const xx = new Array(d * d).fill(0);
    const xr = new Array(d).fill(0);
    xs.forEach((x, k) => {
      for (let i = 0; i < d; i++) {
        xr[i] += rewards[k] * x[i];
        for (let j = 0; j < d; j++) xx[i * d + j] += x[i] * x[j];
      }
    });
    const [s] = await sql`select n, sum, sum_sq, xx, xr from arm_stats where campaign_id = ${id} and arm_key = 'only'`;
    expect(s.n).toBe(3);
    expect(s.sum).toBeCloseTo(6, 9);
    expect(s.sum_sq).toBeCloseTo(4 + 16, 9);
    expect(s.xx).toHaveLength(d * d);
    expect(s.xr).toHaveLength(d);
    s.xx.forEach((v: number, i: number) => {
      expect(v).toBeCloseTo(xx[i], 9);
    });
    s.xr.forEach((v: number, i: number) => {
      expect(v).toBeCloseTo(xr[i], 9);
    });
  });

  it("a late conversion is stored with attributed = false", async () => {
    const id = await createCampaign(ws, creativeCampaign({ attributionWindowHours: 0.02 }));
    const d = (await decide(ws, id)).body;
    const late = {
      id: eventId("late-db"),
      decisionId: d.decisionId,
      type: "conversion",
      occurredAt: new Date(Date.now() + 4 * 60_000).toISOString(),
    };
    expect((await postEvents([late])).body.accepted).toBe(1);
    const [e] = await sql`select attributed from events where event_id = ${late.id}`;
    expect(e.attributed).toBe(false);
    const [dec] = await sql`select reward, converted from decisions where id = ${d.decisionId}`;
    expect(dec).toMatchObject({ reward: 0, converted: false });
  });
});

/** The learned fields of an arm row (P(best) and share may be Monte Carlo estimates, so they are left out). */
function pick(a: Record<string, unknown>) {
  return {
    decisions: a.decisions,
    conversions: a.conversions,
    revenue: a.revenue,
    cost: a.cost,
    mean: a.posteriorMean,
  };
}
