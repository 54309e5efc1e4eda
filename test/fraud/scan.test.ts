/**
 * Fraud-aware learning end to end, on the real service (PGlite, or PostgreSQL with DATABASE_URL): a burst
 * of fraudulent clicks + conversions on one arm inflates its posterior; after the scan the posterior is
 * exactly where clean traffic alone puts it, the report shows the removed traffic as invalid credits,
 * rollups equal the direct computation, and dismissing the findings restores what they took back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storedEntity } from "../helpers/privacy.ts";
import {
  armsByKey,
  createCampaign,
  creativeCampaign,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";
import { reviewAnomaly, scanCampaign } from "../../src/fraud/scan.ts";
import { CachedFraudGate } from "../../src/fraud/gate.ts";
import { campaignReport, refreshRollups } from "../../src/reports/queries.ts";
import { rows } from "../../src/store/db.ts";
import { sql } from "drizzle-orm";

const BROWSER =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
let h: Harness;
let ws: Workspace;
let campaignId: string;
let T0: number;
const clean = { a: { decisions: 0, conversions: 0 }, b: { decisions: 0, conversions: 0 } };
let n = 0;
const evId = () => `fr-${process.pid}-${++n}`;

beforeAll(async () => {
  h = await startHarness({ seed: 17, clockSkewToleranceMs: 3 * 3_600_000 }); // traffic dated up to 100 min ahead
  ws = await h.workspace("fraud");
  campaignId = await createCampaign(
    ws,
    // A declared delay far below a millisecond: every trial counts at once, so the posterior has the closed form below.
    creativeCampaign({
      arms: [{ key: "a" }, { key: "b" }],
      strategy: { type: "thompson" },
      conversionDelay: { medianHours: 1e-8, p95Hours: 2e-8, learn: false },
    }),
  );
  T0 = Date.now();
  const r = await ws.post("/v1/decisions/batch", {
    requests: Array.from({ length: 160 }, (_, i) => ({ campaignId, unitId: `u${i}` })),
  });
  expect(r.status).toBe(200);
  const decs = r.body.decisions as { decisionId: string; arm: { key: "a" | "b" } }[];
  const events: unknown[] = [];
  const spareB: string[] = [];
  decs.forEach((d, i) => {
    clean[d.arm.key].decisions++;
    // Clean traffic over 100 minutes: the burst test needs a baseline before its window.
    const t = T0 + 1000 + i * 37_500;
    const src = { ip: `10.0.${i >> 8}.${i & 255}`, userAgent: BROWSER };
    events.push({
      id: evId(),
      decisionId: d.decisionId,
      type: "impression",
      occurredAt: new Date(t).toISOString(),
      source: src,
    });
    const converts = d.arm.key === "a" ? i % 5 === 0 : i % 9 === 0;
    if (i % 2 === 0 || converts) {
      events.push({
        id: evId(),
        decisionId: d.decisionId,
        type: "click",
        cost: 0.5,
        occurredAt: new Date(t + 2000).toISOString(),
        source: src,
      });
      if (converts) {
        clean[d.arm.key].conversions++;
        events.push({
          id: evId(),
          decisionId: d.decisionId,
          type: "conversion",
          value: 20,
          occurredAt: new Date(t + 60_000).toISOString(),
        });
      }
    } else if (d.arm.key === "b") spareB.push(d.decisionId);
  });
  // The fraud: one ip clicks 30 of arm b's unclicked decisions within 40 s, and each "converts" 2 s later.
  // It straddles a minute boundary on purpose (the detector counts per minute).
  const burst = Math.ceil((T0 + 95 * 60_000) / 60_000) * 60_000 - 20_000;
  expect(spareB.length).toBeGreaterThanOrEqual(30);
  spareB.slice(0, 30).forEach((d, i) => {
    const t = burst + i * 1300;
    events.push({
      id: evId(),
      decisionId: d,
      type: "click",
      cost: 0.5,
      occurredAt: new Date(t).toISOString(),
      source: { ip: "198.51.100.9", userAgent: BROWSER },
    });
    events.push({
      id: evId(),
      decisionId: d,
      type: "conversion",
      value: 20,
      occurredAt: new Date(t + 2000).toISOString(),
    });
  });
  for (let i = 0; i < events.length; i += 500) {
    const res = await ws.post("/v1/events", { events: events.slice(i, i + 500) });
    expect(res.body.rejected).toBe(0);
  }
});
afterAll(async () => {
  await h?.close();
});

const betaMean = (s: number, n: number) => (1 + s) / (2 + n);

describe("fraud burst during a live campaign", () => {
  it("before the scan, the fraud has taught arm b", async () => {
    const arms = await armsByKey(ws, campaignId);
    expect(arms.b.conversions).toBe(clean.b.conversions + 30);
    expect(arms.b.posteriorMean as number).toBeGreaterThan(betaMean(clean.b.conversions, clean.b.decisions) + 0.1);
  });

  it("after the scan, the posterior is where clean traffic alone puts it", async () => {
    const db = h.service.deps.db;
    const res = await scanCampaign(db, { id: campaignId, workspaceId: ws.id }, new Date(T0 + 110 * 60_000), {
      recompute: (id) => h.service.deps.engine.recompute(id),
    });
    expect(res.invalidated).toBe(60);
    const arms = await armsByKey(ws, campaignId);
    for (const k of ["a", "b"] as const) {
      expect(arms[k].decisions).toBe(clean[k].decisions);
      expect(arms[k].conversions).toBe(clean[k].conversions);
      // The API rounds to 4 significant digits; the live statistics behind it are exact.
      expect(arms[k].posteriorMean as number).toBeCloseTo(betaMean(clean[k].conversions, clean[k].decisions), 4);
      const live = await h.service.deps.engine.campaign(ws.id, campaignId);
      const arm = live.armByKey.get(k)!;
      expect(live.stats[arm.index].n).toBe(clean[k].decisions);
      expect(live.stats[arm.index].sum).toBe(clean[k].conversions);
    }
    const found = await rows<{ detector: string; entity: string; invalidated_events: number }>(
      db,
      sql`select detector, entity, invalidated_events from anomalies where campaign_id = ${campaignId}::uuid order by detector`,
    );
    expect(found.map((f) => [f.detector, f.entity, Number(f.invalidated_events)])).toEqual([
      ["click_burst", await storedEntity(db, ws.id, "ip", "198.51.100.9"), 30],
      ["orphan_conversion", "*", 30], // their only clicks were the burst's: they follow them
    ]);
  });

  it("the scan is idempotent: the same window again changes nothing", async () => {
    const res = await scanCampaign(
      h.service.deps.db,
      { id: campaignId, workspaceId: ws.id },
      new Date(T0 + 110 * 60_000),
    );
    expect(res.invalidated).toBe(0);
    const [{ c }] = await rows<{ c: number }>(
      h.service.deps.db,
      sql`select count(*)::int as c from anomalies where campaign_id = ${campaignId}::uuid`,
    );
    expect(Number(c)).toBe(2);
  });

  it("the report counts clean traffic only and credits the removed traffic by reason; rollups agree", async () => {
    const db = h.service.deps.db;
    const q = { from: T0 - 3_600_000, to: T0 + 3 * 3_600_000, granularity: "hour" as const };
    const direct = (await campaignReport(db, ws.id, campaignId, q))!;
    const total = direct.total.campaign;
    expect(total.decisions).toBe(160);
    expect(total.conversions).toBe(clean.a.conversions + clean.b.conversions);
    expect(total.revenue).toBe(20 * (clean.a.conversions + clean.b.conversions));
    expect(direct.invalid.byReason).toEqual([
      { reason: "click_burst", impressions: 0, clicks: 30, conversions: 0, revenue: 0, cost: 15 },
      { reason: "orphan_conversion", impressions: 0, clicks: 0, conversions: 30, revenue: 600, cost: 0 },
    ]);
    await refreshRollups(db, campaignId, q.from, q.to);
    const rolled = await campaignReport(db, ws.id, campaignId, { ...q, source: "rollup", rollupBefore: q.to });
    expect(rolled).toEqual(direct);
    const daily = (await campaignReport(db, ws.id, campaignId, { ...q, granularity: "day" }))!;
    expect(daily.total).toEqual(direct.total);
    // The report (from stored events) agrees with the engine's counters (GET arms, from memory).
    const arms = await armsByKey(ws, campaignId);
    for (const row of direct.total.arms) {
      expect(row.decisions).toBe(arms[row.armKey].decisions);
      expect(row.conversions).toBe(arms[row.armKey].conversions);
    }
  });

  it("dismissing the findings restores what they took back", async () => {
    const db = h.service.deps.db;
    const ids = await rows<{ id: string }>(db, sql`select id from anomalies where campaign_id = ${campaignId}::uuid`);
    for (const { id } of ids) {
      const r = await reviewAnomaly(db, ws.id, id, "dismissed");
      expect(r!.changed).toBe(30);
    }
    await h.service.deps.engine.recompute(campaignId);
    expect((await armsByKey(ws, campaignId)).b.conversions).toBe(clean.b.conversions + 30);
    // A dismissed finding is respected by later scans.
    const res = await scanCampaign(db, { id: campaignId, workspaceId: ws.id }, new Date(T0 + 110 * 60_000));
    expect(res.invalidated).toBe(0);
    // Confirming again takes it back again.
    for (const { id } of ids) await reviewAnomaly(db, ws.id, id, "confirmed");
    await h.service.deps.engine.recompute(campaignId);
    expect((await armsByKey(ws, campaignId)).b.conversions).toBe(clean.b.conversions);
  });

  it("another workspace cannot review these findings", async () => {
    const other = await h.workspace("other");
    const [{ id }] = await rows<{ id: string }>(
      h.service.deps.db,
      sql`select id from anomalies where campaign_id = ${campaignId}::uuid limit 1`,
    );
    expect(await reviewAnomaly(h.service.deps.db, other.id, id, "dismissed")).toBeNull();
  });
});

describe("ingest gate", () => {
  it("blocks blocklisted sources and declared bots at ingest; they teach nothing", async () => {
    const db = h.service.deps.db;
    const gate = new CachedFraudGate();
    h.service.deps.engine.setFraudGate(gate);
    await db.execute(
      sql`insert into blocklist (workspace_id, entity_type, entity) values (${ws.id}::uuid, 'publisher', 'bad-pub')`,
    );
    await gate.refresh(db);
    const d = (await ws.post(`/v1/campaigns/${campaignId}/decisions`, {})).body;
    const before = await armsByKey(ws, campaignId);
    const r = await ws.post("/v1/events", {
      events: [
        { id: evId(), decisionId: d.decisionId, type: "click", source: { userAgent: "curl/8.4.0" } },
        { id: evId(), decisionId: d.decisionId, type: "conversion", value: 5, source: { publisher: "bad-pub" } },
      ],
    });
    expect(r.body.accepted).toBe(2);
    const stored = await rows<{ type: string; invalid_reason: string | null }>(
      db,
      sql`select type, invalid_reason from events where decision_id = ${d.decisionId}::uuid order by type`,
    );
    expect(stored).toEqual([
      { type: "click", invalid_reason: "declared_bot" },
      { type: "conversion", invalid_reason: "blocklist:publisher" },
    ]);
    const after = await armsByKey(ws, campaignId);
    expect(after[d.arm.key].conversions).toBe(before[d.arm.key].conversions);
    h.service.deps.engine.setFraudGate({ classify: () => null });
  });
});
