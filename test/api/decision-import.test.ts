/**
 * POST /v1/campaigns/{id}/decisions/import: historical decisions with their own id, arm, propensity and
 * time. Per item accepted / duplicate / rejected (reason); idempotent by id; strict schema and size limit;
 * admin only. An imported decision is a logged trial (arm_stats and its hour bucket, as the exact rebuild
 * implies), and events attribute to it as to a live decision: the statistics after importing decisions and
 * their events equal those of the same decisions made live with the same events, and the consistency
 * check finds nothing to repair.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refreshRollups } from "../../src/reports/queries.ts";
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
  h = await startHarness({ seed: 11 });
  ws = await h.workspace("decision-import");
});
afterAll(async () => {
  await h?.close();
});

const HOUR = 3_600_000;
const path = (id: string) => `/v1/campaigns/${id}/decisions/import`;
const daysAgo = (d: number, plusMs = 0) => new Date(Date.now() - d * 24 * HOUR + plusMs).toISOString();

interface Item {
  decisionId: string;
  armKey: string;
  propensity: number;
  decidedAt: string;
  context?: Record<string, unknown>;
  unitId?: string;
}
const item = (over: Partial<Item> = {}): Item => ({
  decisionId: randomUUID(),
  armKey: "a",
  propensity: 0.5,
  decidedAt: daysAgo(30),
  ...over,
});

describe("per-item results and idempotency", () => {
  it("accepts, answers duplicates on a rerun and rejects with reasons, in request order", async () => {
    const id = await createCampaign(ws);
    const good = [item(), item({ armKey: "b", propensity: 0.25, unitId: "u-1", context: { country: "fr" } })];
    const r1 = await ws.post(path(id), { decisions: good });
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
    expect(r1.body.results).toEqual(good.map((d) => ({ decisionId: d.decisionId, status: "accepted" })));

    const conflicting = { ...good[0], armKey: "c" };
    const future = item({ decidedAt: new Date(Date.now() + 2 * HOUR).toISOString() });
    const unknownArm = item({ armKey: "zzz" });
    const fresh = item();
    const r2 = await ws.post(path(id), {
      decisions: [good[1], conflicting, future, unknownArm, fresh, fresh, { ...fresh, propensity: 0.9 }],
    });
    expect(r2.status).toBe(200);
    expect(r2.body).toMatchObject({ accepted: 1, duplicates: 2, rejected: 4 });
    expect(r2.body.results.map((x: { status: string; reason?: string }) => [x.status, x.reason])).toEqual([
      ["duplicate", undefined],
      ["rejected", "conflict"],
      ["rejected", "decided_in_future"],
      ["rejected", "unknown_arm"],
      ["accepted", undefined],
      ["duplicate", undefined],
      ["rejected", "conflict"],
    ]);

    // The log holds exactly the three accepted decisions, with the imported propensity, time and arm.
    const exported = (await ws.get(`/v1/campaigns/${id}/decisions/export`)).text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(exported.map((d) => d.decisionId).sort()).toEqual(
      [good[0].decisionId, good[1].decisionId, fresh.decisionId].sort(),
    );
    const b = exported.find((d) => d.decisionId === good[1].decisionId);
    expect(b).toMatchObject({
      action: "b",
      propensity: 0.25,
      timestamp: good[1].decidedAt,
      context: { country: "fr" },
      reward: 0,
    });
    // Each imported decision is a trial of its arm.
    const arms = await armsByKey(ws, id);
    expect([arms.a.decisions, arms.b.decisions, arms.c.decisions]).toEqual([2, 1, 0]);
  });

  it("a live decision's id imported again with its own arm, propensity and time is a duplicate", async () => {
    const id = await createCampaign(ws);
    const d = (await decide(ws, id)).body;
    const logged = (await ws.get(`/v1/campaigns/${id}/decisions/export`)).text.trim();
    const row = JSON.parse(logged);
    const r = await ws.post(path(id), {
      decisions: [
        { decisionId: d.decisionId, armKey: row.action, propensity: row.propensity, decidedAt: row.timestamp },
      ],
    });
    expect(r.body).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    // The same id into another campaign is a conflict, not a second decision.
    const other = await createCampaign(ws);
    const r2 = await ws.post(path(other), {
      decisions: [
        { decisionId: d.decisionId, armKey: row.action, propensity: row.propensity, decidedAt: row.timestamp },
      ],
    });
    expect(r2.body.results[0]).toEqual({ decisionId: d.decisionId, status: "rejected", reason: "conflict" });
    expect((await armsByKey(ws, other))[row.action].decisions).toBe(0);
  });

  it("a contextual campaign rejects a context its features refuse", async () => {
    const id = await createCampaign(
      ws,
      creativeCampaign({
        strategy: { type: "lin_ts" },
        contextFeatures: [
          { name: "age", type: "numeric" },
          { name: "device", type: "categorical", values: ["mobile", "desktop"] },
        ],
      }),
    );
    const r = await ws.post(path(id), {
      decisions: [
        item({ context: { age: 30, device: "mobile" } }),
        item({ context: { age: "old", device: "mobile" } }),
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.results[0].status).toBe("accepted");
    expect(r.body.results[1].status).toBe("rejected");
    expect(r.body.results[1].reason).toMatch(/^invalid_context: .*age/);
    expect((await armsByKey(ws, id)).a.decisions).toBe(1);
  });
});

describe("imported decisions learn like live ones", () => {
  it("events attribute to imported decisions as to live ones: the same statistics, nothing to repair", async () => {
    // Twin campaigns (revenue objective): `live` gets 40 live decisions, `imported` the same 40
    // decisions (arm, propensity, time) imported; both then get the same events.
    const body = creativeCampaign({ objective: "revenue" });
    const liveId = await createCampaign(ws, body);
    const importedId = await createCampaign(ws, body);
    const batch = await ws.post("/v1/decisions/batch", {
      requests: Array.from({ length: 40 }, () => ({ campaignId: liveId })),
    });
    expect(batch.status).toBe(200);
    const liveLog = (await ws.get(`/v1/campaigns/${liveId}/decisions/export`)).text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(liveLog).toHaveLength(40);
    const twins = new Map(liveLog.map((d) => [d.decisionId as string, randomUUID()]));
    const imp = await ws.post(path(importedId), {
      decisions: liveLog.map((d) => ({
        decisionId: twins.get(d.decisionId),
        armKey: d.action,
        propensity: d.propensity,
        decidedAt: d.timestamp,
      })),
    });
    expect(imp.body).toMatchObject({ accepted: 40, rejected: 0 });

    const events = (ids: (x: string) => string) =>
      liveLog.flatMap((d, i) => [
        { id: eventId("imp"), decisionId: ids(d.decisionId), type: "impression" },
        ...(i % 3 === 0
          ? [{ id: eventId("conv"), decisionId: ids(d.decisionId), type: "conversion", value: 5 + (i % 4) }]
          : []),
      ]);
    const e1 = await ws.post("/v1/events", { events: events((x) => x) });
    const e2 = await ws.post("/v1/events", { events: events((x) => twins.get(x)!) });
    expect(e1.body.rejected).toBe(0);
    expect(e2.body).toMatchObject({ accepted: e1.body.accepted, rejected: 0 });

    const pick = (a: Record<string, unknown>) => [a.decisions, a.conversions, a.revenue, a.posteriorMean];
    const liveArms = await armsByKey(ws, liveId);
    const importedArms = await armsByKey(ws, importedId);
    for (const k of ["a", "b", "c"]) expect(pick(importedArms[k]), k).toEqual(pick(liveArms[k]));
    const revenue = Object.values(importedArms).reduce((s, a) => s + (a.revenue as number), 0);
    expect(revenue).toBe(liveLog.reduce((s, _d, i) => s + (i % 3 === 0 ? 5 + (i % 4) : 0), 0));

    // The exact rebuild from the stored rows agrees with what the import and the events wrote.
    const report = await h.service.deps.engine.checkConsistency();
    expect(report.repaired.map((r) => r.campaignId)).not.toContain(importedId);
    expect(report.failed).toEqual([]);
  });

  it("historical decisions with historical events: conversions count once, within the window, after the decision", async () => {
    const id = await createCampaign(ws, creativeCampaign({ attributionWindowHours: 24 }));
    const ds = Array.from({ length: 20 }, (_, i) =>
      item({ armKey: i < 10 ? "a" : "b", decidedAt: daysAgo(10, i * 1000) }),
    );
    expect((await ws.post(path(id), { decisions: ds })).body.accepted).toBe(20);
    const at = (d: Item, ms: number) => new Date(Date.parse(d.decidedAt) + ms).toISOString();
    const r = await ws.post("/v1/events", {
      events: [
        // a: 4 conversions within the window (one decision converts twice: counted once)
        ...ds
          .slice(0, 4)
          .map((d) => ({ id: eventId(), decisionId: d.decisionId, type: "conversion", occurredAt: at(d, HOUR) })),
        { id: eventId(), decisionId: ds[0].decisionId, type: "conversion", occurredAt: at(ds[0], 2 * HOUR) },
        // b: one conversion after the 24 h window (stored, teaches nothing), one before its decision
        { id: eventId(), decisionId: ds[10].decisionId, type: "conversion", occurredAt: at(ds[10], 30 * HOUR) },
        { id: eventId(), decisionId: ds[11].decisionId, type: "conversion", occurredAt: at(ds[11], -HOUR) },
      ],
    });
    expect(r.body).toMatchObject({ accepted: 6, rejected: 1 });
    expect(r.body.results[6].reason).toBe("occurred_before_decision");
    const arms = await armsByKey(ws, id);
    // Beta(1 + conversions, 1 + trials − conversions): a = 5/12, b = 1/12 (the late one does not teach).
    expect(arms.a.posteriorMean).toBeCloseTo(5 / 12, 3);
    expect(arms.b.posteriorMean).toBeCloseTo(1 / 12, 3);
    expect([arms.a.decisions, arms.b.decisions]).toEqual([10, 10]);
  });

  it("a campaign reloaded from the database keeps the imported trials (they are stored, not only in memory)", async () => {
    const id = await createCampaign(ws);
    await ws.post(path(id), { decisions: Array.from({ length: 7 }, () => item({ armKey: "c" })) });
    await h.service.deps.engine.reload(id);
    expect((await armsByKey(ws, id)).c.decisions).toBe(7);
  });
});

describe("reports", () => {
  it("the report from the hourly rollups counts imported decisions of past hours (it equals the direct one)", async () => {
    const id = await createCampaign(ws);
    // A live decision, and the rollup job's pass over its hour: from now on the rollups are fresh.
    await decide(ws, id);
    await refreshRollups(h.service.deps.db, id, Date.now() - HOUR, Date.now() + HOUR);
    const ds = Array.from({ length: 30 }, (_, i) =>
      item({ armKey: ["a", "b", "c"][i % 3], decidedAt: daysAgo(5, i * 600_000) }),
    );
    expect((await ws.post(path(id), { decisions: ds })).body.accepted).toBe(30);
    const q = `from=${daysAgo(6)}&to=${new Date().toISOString()}`;
    const auto = (await ws.get(`/v1/campaigns/${id}/report?${q}&source=auto`)).body;
    const direct = (await ws.get(`/v1/campaigns/${id}/report?${q}&source=direct`)).body;
    expect(direct.total.campaign.decisions).toBe(31);
    expect(auto.total.campaign.decisions).toBe(31);
    expect(auto.total.arms).toEqual(direct.total.arms);
  });
});

describe("concurrency", () => {
  it("concurrent imports of the same hours (and the same ids) answer 200 and count each decision once", async () => {
    const id = await createCampaign(ws);
    const ds = Array.from({ length: 400 }, (_, i) =>
      item({ armKey: ["a", "b"][i % 2], decidedAt: daysAgo(4, i * 9_000) }),
    );
    // Four requests at once, overlapping pairwise: every hour is rolled up by several of them.
    const parts = [ds.slice(0, 200), ds.slice(100, 300), ds.slice(200, 400), ds.slice(0, 400)];
    const answers = await Promise.all(parts.map((p) => ws.post(path(id), { decisions: p })));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(answers.reduce((s, r) => s + r.body.accepted, 0)).toBe(400);
    const arms = await armsByKey(ws, id);
    expect([arms.a.decisions, arms.b.decisions]).toEqual([200, 200]);
    const q = `from=${daysAgo(5)}&to=${new Date().toISOString()}`;
    expect((await ws.get(`/v1/campaigns/${id}/report?${q}`)).body.total.campaign.decisions).toBe(400);
  });
});

describe("bad input, size, roles", () => {
  it("400 naming the field for a malformed item or an unknown field; 404 for an unknown campaign", async () => {
    const id = await createCampaign(ws);
    expectInvalid(await ws.post(path(id), { decisions: [item({ propensity: 0 })] }), "decisions.0.propensity");
    expectInvalid(await ws.post(path(id), { decisions: [item({ propensity: 1.5 })] }), "decisions.0.propensity");
    expectInvalid(await ws.post(path(id), { decisions: [item({ decisionId: "nope" })] }), "decisions.0.decisionId");
    expectInvalid(await ws.post(path(id), { decisions: [item({ decidedAt: "yesterday" })] }), "decisions.0.decidedAt");
    expectInvalid(await ws.post(path(id), { decisions: [{ ...item(), arm: "a" }] }), "decisions.0.arm");
    expectInvalid(await ws.post(path(id), { decisions: [] }), "decisions");
    expectInvalid(await ws.post(path(id), { decisions: Array.from({ length: 1001 }, () => item()) }), "decisions");
    const { decidedAt: _omit, ...noTime } = item();
    expectInvalid(await ws.post(path(id), { decisions: [noTime] }), "decisions.0.decidedAt");
    const r = await ws.post(path(randomUUID()), { decisions: [item()] });
    expect(r.status).toBe(404);
    // Nothing of the refused requests was logged.
    expect((await ws.get(`/v1/campaigns/${id}/decisions/export`)).text).toBe("");
  });

  it("413 beyond the route's body limit", async () => {
    const id = await createCampaign(ws);
    const big = "x".repeat(4 * 1024 * 1024);
    const r = await ws.post(path(id), { decisions: [item({ unitId: big })] });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("payload_too_large");
  });

  it("needs an admin key: writer and reader keys answer 403", async () => {
    const id = await createCampaign(ws);
    for (const role of ["writer", "reader"]) {
      const k = await ws.post("/v1/keys", { role });
      expect(k.status).toBe(201);
      const r = await h.call("POST", path(id), { key: k.body.key, body: { decisions: [item()] } });
      expect(r.status, role).toBe(403);
      expect(r.body.error.code).toBe("forbidden");
    }
    expect((await armsByKey(ws, id)).a.decisions).toBe(0);
    expect((await h.call("POST", path(id), { key: null, body: { decisions: [item()] } })).status).toBe(401);
  });
});
