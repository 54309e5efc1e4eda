/**
 * Every method of the typed client against the running service over HTTP (PGlite, or PostgreSQL with
 * DATABASE_URL).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanCampaign } from "../../src/fraud/scan.ts";
import { CachedFraudGate } from "../../src/fraud/gate.ts";
import { type AdbanditClient, type Event, isDecision } from "../../src/client/index.ts";
import { failure } from "./fake.ts";
import { creativeCampaign } from "../helpers/service.ts";
import { storedEntity } from "../helpers/privacy.ts";
import { startServed, type Served } from "./serve.ts";

let s: Served;
let c: AdbanditClient;
let wsId: string;
beforeAll(async () => {
  s = await startServed({ seed: 7 });
  s.h.service.deps.engine.setFraudGate(new CachedFraudGate());
  const ws = await s.workspace("client");
  wsId = ws.id;
  c = s.client(ws.apiKey);
});
afterAll(() => s?.close());

describe("campaigns and arms", () => {
  it("create, list, get, update, pause, resume, archive", async () => {
    const camp = await c.campaigns.create(creativeCampaign({ name: "lifecycle" }) as never);
    expect(camp).toMatchObject({ name: "lifecycle", status: "active", kind: "creative" });
    expect(camp.arms.map((a) => a.key)).toEqual(["a", "b", "c"]);
    expect((await c.campaigns.list()).map((x) => x.id)).toContain(camp.id);
    expect((await c.campaigns.get(camp.id)).id).toBe(camp.id);
    expect((await c.campaigns.update(camp.id, { name: "renamed" })).name).toBe("renamed");
    expect((await c.campaigns.pause(camp.id)).status).toBe("paused");
    expect((await failure(c.decide(camp.id))).code).toBe("conflict");
    expect((await c.campaigns.resume(camp.id)).status).toBe("active");
    expect((await c.campaigns.archive(camp.id)).status).toBe("archived");
  });

  it("arms: add, list, pause, resume, archive", async () => {
    const camp = await c.campaigns.create(creativeCampaign({ name: "arms" }) as never);
    expect(await c.arms.add(camp.id, { key: "d", name: "Creative D", cost: 0.5 })).toMatchObject({
      key: "d",
      cost: 0.5,
      status: "active",
    });
    expect((await c.arms.pause(camp.id, "d")).status).toBe("paused");
    expect((await c.arms.resume(camp.id, "d")).status).toBe("active");
    expect((await c.arms.archive(camp.id, "a")).status).toBe("archived");
    expect(await c.arms.update(camp.id, "d", { name: "Creative D2", cost: 0.75 })).toMatchObject({
      name: "Creative D2",
      cost: 0.75,
    });
    const list = await c.arms.list(camp.id);
    expect(list.map((a) => [a.key, a.status])).toEqual([
      ["a", "archived"],
      ["b", "active"],
      ["c", "active"],
      ["d", "active"],
    ]);
    // Shares are rounded for display (4 decimals), so they sum to 1 within rounding.
    expect(list.reduce((t, a) => t + a.trafficShare, 0)).toBeCloseTo(1, 3);
  });

  it("errors carry the server's code, message and fields", async () => {
    const bad = await failure(c.campaigns.create({ ...creativeCampaign(), arms: [{ key: "bad key!" }] } as never));
    expect(bad).toMatchObject({ code: "invalid_request", status: 400, field: "arms.0.key" });
    expect(bad.message).toContain("arms.0.key");
    const missing = await failure(c.campaigns.get("00000000-0000-4000-8000-000000000000"));
    expect(missing).toMatchObject({ code: "not_found", status: 404, details: [] });
    const anon = await failure(s.client("not-a-key").campaigns.list());
    expect(anon).toMatchObject({ code: "unauthorized", status: 401 });
    expect(anon.retryable).toBe(false);
  });
});

describe("decisions, events, reports, export", () => {
  let campaignId: string;
  const decisions: string[] = [];
  beforeAll(async () => {
    campaignId = (await c.campaigns.create(creativeCampaign({ name: "traffic", objective: "revenue" }) as never)).id;
  });

  it("decide and decideBatch (a failing request gets its error in its place)", async () => {
    const d = await c.decide(campaignId, { unitId: "u1" });
    expect(d.campaignId).toBe(campaignId);
    expect(["a", "b", "c"]).toContain(d.arm?.key);
    expect(d.propensity).toBeGreaterThan(0);
    decisions.push(d.decisionId);
    const batch = await c.decideBatch([
      ...Array.from({ length: 9 }, () => ({ campaignId })),
      { campaignId: "00000000-0000-4000-8000-000000000000" },
    ]);
    expect(batch).toHaveLength(10);
    expect(batch.slice(0, 9).every(isDecision)).toBe(true);
    const last = batch[9];
    expect(isDecision(last) ? null : last.error.code).toBe("not_found");
    for (const x of batch) if (isDecision(x)) decisions.push(x.decisionId);
  });

  it("sendEvents: accepted, duplicate, rejected; more than 1000 go in several requests", async () => {
    const events: Event[] = decisions.map((decisionId, i) => ({ id: `imp-${i}`, decisionId, type: "impression" }));
    events.push({ id: "conv-0", decisionId: decisions[0], type: "conversion", value: 12.5 });
    events.push({ id: "orphan", decisionId: "00000000-0000-4000-8000-000000000000", type: "click" });
    const r = await c.sendEvents(events);
    expect([r.accepted, r.duplicates, r.rejected]).toEqual([11, 0, 1]);
    expect(r.results.at(-1)).toMatchObject({ id: "orphan", status: "rejected", reason: "unknown_decision" });
    const again = await c.sendEvents(events.slice(0, 3));
    expect([again.accepted, again.duplicates]).toEqual([0, 3]);
    const many: Event[] = Array.from({ length: 2500 }, (_, i) => ({
      id: `bulk-${i}`,
      decisionId: decisions[i % decisions.length],
      type: "impression",
    }));
    const bulk = await c.sendEvents(many);
    expect([bulk.accepted, bulk.results.length]).toEqual([2500, 2500]);
  });

  it("event buffer: flushes by size, by interval and on close, counting each outcome", async () => {
    const answers: number[] = [];
    const buf = c.eventBuffer({ maxBatch: 10, flushIntervalMs: 20, onResult: (r) => answers.push(r.results.length) });
    for (let i = 0; i < 25; i++) buf.add({ id: `buf-${i}`, decisionId: decisions[i % 10], type: "click" });
    // 20 go by size; the last 5 by the interval.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (buf.pending === 0 && answers.reduce((a, b) => a + b, 0) === 25) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    buf.add(
      { id: "buf-last", decisionId: decisions[0], type: "click" },
      { id: "buf-0", decisionId: decisions[0], type: "click" },
    );
    await buf.close();
    expect(buf.pending).toBe(0);
    expect(buf.totals).toMatchObject({ accepted: 26, duplicates: 1, rejected: 0, failedSends: 0 });
    expect(() => buf.add({ id: "late", decisionId: decisions[0], type: "click" })).toThrowError(/closed/);
  });

  it("reports: JSON and CSV agree with the events sent", async () => {
    const r = await c.reports.campaign(campaignId, { granularity: "day" });
    expect(r.total.campaign).toMatchObject({
      decisions: 10,
      impressions: 2510,
      conversions: 1,
      revenue: 12.5,
      clicks: 26,
    });
    const csv = await c.reports.csv(campaignId);
    expect(csv.split("\n")[0]).toContain("period");
    expect(csv).toContain("12.5");
  });

  it("exportDecisions streams the decision log (JSONL and CSV)", async () => {
    const text = await new Response(await c.exportDecisions(campaignId)).text();
    const rows = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.decisionId).sort()).toEqual([...decisions].sort());
    expect(rows.find((r) => r.decisionId === decisions[0]).reward).toBe(12.5);
    const csv = await new Response(await c.exportDecisions(campaignId, { format: "csv" })).text();
    expect(csv.split("\n")[0]).toBe("decision_id,timestamp,action,propensity,reward,context_json");
    expect(csv.trim().split("\n")).toHaveLength(11);
  });

  it("importDecisions: more than 1000 go in several requests; a rerun answers duplicates; their events teach", async () => {
    const id = (await c.campaigns.create(creativeCampaign({ name: "imported", objective: "revenue" }) as never)).id;
    // Older than the 168 h attribution window: matured, so each trial weighs fully in the posterior.
    const t0 = Date.now() - 10 * 86_400_000;
    const items = Array.from({ length: 2100 }, (_, i) => ({
      decisionId: `20000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      armKey: i % 2 === 0 ? "a" : "b",
      propensity: 0.5,
      decidedAt: new Date(t0 + i * 1000).toISOString(),
      ...(i === 0 ? { unitId: "u-0", context: { country: "fr" } } : {}),
    }));
    items.push({ ...items[1], decisionId: items[1].decisionId, armKey: "zzz" });
    const r = await c.importDecisions(id, items);
    expect([r.accepted, r.duplicates, r.rejected, r.results.length]).toEqual([2100, 0, 1, 2101]);
    expect(r.results.at(-1)).toEqual({ decisionId: items[1].decisionId, status: "rejected", reason: "unknown_arm" });
    const again = await c.importDecisions(id, items.slice(0, 1001));
    expect([again.accepted, again.duplicates]).toEqual([0, 1001]);
    const ev = await c.sendEvents([
      {
        id: "imp-conv-0",
        decisionId: items[0].decisionId,
        type: "conversion",
        value: 40,
        occurredAt: new Date(t0 + 60_000).toISOString(),
      },
    ]);
    expect(ev.accepted).toBe(1);
    const arms = Object.fromEntries((await c.arms.list(id)).map((a) => [a.key, a]));
    expect([arms.a.decisions, arms.b.decisions, arms.a.revenue, arms.b.revenue]).toEqual([1050, 1050, 40, 0]);
    expect(arms.a.posteriorMean).toBeCloseTo(40 / 1050, 4);
    // A writer key may not import (admin only).
    const writer = s.client((await c.keys.create("writer")).key);
    expect((await failure(writer.importDecisions(id, items.slice(0, 1)))).code).toBe("forbidden");
  });

  it("health", async () => {
    expect((await c.health()).status).toBe("ok");
  });
});

describe("anomalies and the blocklist", () => {
  it("list, dismiss, confirm, block (confirms and blocklists the source)", async () => {
    const campaignId = (await c.campaigns.create(creativeCampaign({ name: "fraud" }) as never)).id;
    const decs = (await c.decideBatch(Array.from({ length: 3 }, () => ({ campaignId })))).filter(isDecision);
    const T0 = Math.floor(Date.now() / 60_000) * 60_000;
    const src = { ip: "203.0.113.50", userAgent: "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15" };
    await c.sendEvents(
      decs.flatMap((d, i) => [
        {
          id: `dc-${i}-1`,
          decisionId: d.decisionId,
          type: "click" as const,
          occurredAt: new Date(T0 + 1000).toISOString(),
          source: src,
        },
        {
          id: `dc-${i}-2`,
          decisionId: d.decisionId,
          type: "click" as const,
          occurredAt: new Date(T0 + 2000).toISOString(),
          source: src,
        },
      ]),
    );
    expect(await c.anomalies.list({ campaignId })).toEqual([]);
    await scanCampaign(s.h.service.deps.db, { id: campaignId, workspaceId: wsId }, new Date(T0 + 30 * 60_000), {
      recompute: (id) => s.h.service.deps.engine.recompute(id),
    });
    const [a] = await c.anomalies.list({ campaignId, status: "open" });
    // The source as stored: the keyed hash of its /24 (src/privacy).
    const ip = await storedEntity(s.h.service.deps.db, wsId, "ip", src.ip);
    expect(ip).not.toContain("203.0.113");
    expect([a.detector, a.entityType, a.entity]).toEqual(["duplicate_click", "ip", ip]);
    expect((await c.anomalies.dismiss(a.id, "a slow network")).status).toBe("dismissed");
    expect((await c.anomalies.confirm(a.id)).status).toBe("confirmed");
    const { anomaly, entry } = await c.anomalies.block(a.id, { note: "click farm" });
    expect(anomaly.status).toBe("confirmed");
    expect(entry).toMatchObject({ entityType: "ip", entity: ip, reason: "click farm" });
    expect((await c.blocklist.list()).map((e) => e.entity)).toEqual([ip]);
    const [d] = (await c.decideBatch([{ campaignId }])).filter(isDecision);
    const r = await c.sendEvents([{ id: "from-blocked", decisionId: d.decisionId, type: "click", source: src }]);
    expect(r.accepted).toBe(1);
    await c.blocklist.remove(entry.id);
    expect(await c.blocklist.list()).toEqual([]);
    expect((await failure(c.anomalies.confirm("00000000-0000-4000-8000-000000000000"))).code).toBe("not_found");
  });
});

describe("keys", () => {
  it("create, list, revoke; roles are enforced; a revoked key answers 401", async () => {
    const writer = await c.keys.create("writer", "etl");
    expect(writer).toMatchObject({ name: "etl", role: "writer" });
    const reader = await c.keys.create("reader");
    const listed = await c.keys.list();
    expect(listed.map((k) => [k.id, k.role, k.revokedAt])).toEqual(
      expect.arrayContaining([
        [writer.id, "writer", null],
        [reader.id, "reader", null],
      ]),
    );
    expect(JSON.stringify(listed)).not.toContain(writer.key);
    const w = s.client(writer.key);
    const campaignId = (await c.campaigns.create(creativeCampaign({ name: "keys" }) as never)).id;
    expect((await w.decide(campaignId)).campaignId).toBe(campaignId);
    expect(await failure(w.campaigns.create(creativeCampaign() as never))).toMatchObject({
      code: "forbidden",
      status: 403,
    });
    const r = s.client(reader.key);
    expect((await r.campaigns.get(campaignId)).id).toBe(campaignId);
    expect((await failure(r.decide(campaignId))).code).toBe("forbidden");
    expect((await failure(r.keys.list())).code).toBe("forbidden");
    const revoked = await c.keys.revoke(writer.id);
    expect(revoked.id).toBe(writer.id);
    expect((await failure(w.campaigns.list())).code).toBe("unauthorized");
    expect((await failure(c.keys.create("owner" as never))).field).toBe("role");
  });
});

describe("workspaces", () => {
  it("create needs the admin key", async () => {
    expect((await failure(c.workspaces.create("nope"))).code).toBe("unauthorized");
  });
});
