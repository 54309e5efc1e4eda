/**
 * Engine on an in-memory PGlite (no HTTP): group commit, exact sufficient statistics under events
 * (incremental == rebuilt from the log), attribution window, fraud gate, and two engines sharing one
 * database (the two-process case) converging through refresh.
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import { Engine, type EventInput } from "../../src/engine/engine.ts";
import { loadRegistry, type StrategyRegistry } from "../../src/engine/registry.ts";
import { readArmStats } from "../../src/store/arm-stats.ts";
import { openDatabase, rows, sql, type Database } from "../../src/store/db.ts";
import { recomputeArmStats } from "../../src/engine/recompute.ts";
import { workspaces } from "../../src/store/schema.ts";
import { storedEntity } from "../helpers/privacy.ts";

const logger = pino({ level: "silent" });
let database: Database;
let registry: StrategyRegistry;
let ws: string;

beforeAll(async () => {
  database = await openDatabase({ dataDir: "memory://" });
  registry = await loadRegistry();
  const [w] = await database.db.insert(workspaces).values({ name: "t" }).returning();
  ws = w.id;
});
afterAll(async () => {
  await database?.close();
});

const engine = (seed = 1) => new Engine({ database, registry, logger, seed, refreshIntervalMs: 0 });

async function dbStats(campaignId: string) {
  const r = await readArmStats(database.db, [campaignId]);
  return Object.fromEntries(r.map((x) => [x.armKey, { n: x.n, sum: x.sum, sumSq: x.sumSq, xx: x.xx, xr: x.xr }]));
}

function close(a: number[] | null | undefined, b: number[] | null | undefined) {
  expect(a?.length ?? 0).toBe(b?.length ?? 0);
  (a ?? []).forEach((v, i) => {
    expect(v).toBeCloseTo((b ?? [])[i], 9);
  });
}

describe("group commit", () => {
  it("logs every concurrent decision once and counts each as a trial", async () => {
    const e = engine();
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "gc",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }, { key: "c" }],
    });
    const out = await Promise.all(Array.from({ length: 300 }, (_, i) => e.decide(ws, c.id, { unitId: `u${i}` })));
    expect(new Set(out.map((d) => d.decisionId)).size).toBe(300);
    const [{ n }] = await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from decisions where campaign_id = ${c.id}::uuid`,
    );
    expect(n).toBe(300);
    const st = await dbStats(c.id);
    expect(Object.values(st).reduce((s, x) => s + x.n, 0)).toBe(300);
    const live = e.campaigns.get(c.id)!;
    for (const a of live.arms) {
      expect(live.stats[a.index].n).toBe(st[a.key].n);
      expect(live.pending[a.index]?.n ?? 0).toBe(0);
      expect(out.filter((d) => d.arm?.key === a.key).length).toBe(st[a.key].n);
    }
    await e.close();
  });
});

describe("events", () => {
  for (const [objective, type] of [
    ["conversions", "thompson"],
    ["revenue", "gaussian_thompson"],
    ["profit", "gaussian_thompson"],
  ] as const) {
    it(`${objective}: persisted statistics equal those rebuilt from the log (duplicates, late and repeated events)`, async () => {
      const e = engine(7);
      await e.start();
      const c = await e.createCampaign(ws, {
        name: objective,
        kind: "channel",
        objective,
        strategy: { type },
        attributionWindowHours: 0.02, // 72 s: a conversion dated 4 min ahead is late, yet within the clock skew
        arms: [
          { key: "email", cost: 0.01 },
          { key: "sms", cost: 0.05 },
          { key: "push", cost: 0 },
        ],
      });
      const rng = new Mulberry32(42);
      const ds = await Promise.all(Array.from({ length: 120 }, () => e.decide(ws, c.id, {})));
      const evs: EventInput[] = [];
      for (let i = 0; i < 200; i++) {
        const d = ds[Math.floor(rng.next() * ds.length)];
        const u = rng.next();
        const late = rng.next() < 0.15;
        evs.push({
          id: `ev-${objective}-${i % 170}`, // some ids repeat, with another payload: conflicts
          decisionId: d.decisionId,
          type: u < 0.5 ? "conversion" : u < 0.8 ? "click" : "impression",
          value: Math.round(rng.next() * 5000) / 100,
          cost: Math.round(rng.next() * 30) / 100,
          ...(late ? { occurredAt: new Date(Date.now() + 4 * 60_000).toISOString() } : {}),
        });
      }
      let accepted = 0;
      let duplicates = 0;
      for (let k = 0; k < evs.length; k += 37) {
        const r = await e.ingest(ws, evs.slice(k, k + 37));
        accepted += r.accepted;
        duplicates += r.duplicates + r.conflicts;
      }
      expect(accepted).toBe(170);
      expect(duplicates).toBe(30);
      const incremental = await dbStats(c.id);
      const live = e.campaigns.get(c.id)!;
      for (const a of live.arms) {
        expect(live.stats[a.index].sum).toBeCloseTo(incremental[a.key].sum, 9);
        expect(live.stats[a.index].sumSq).toBeCloseTo(incremental[a.key].sumSq, 9);
      }
      await recomputeArmStats(database.db, c.id);
      const rebuilt = await dbStats(c.id);
      for (const k of Object.keys(rebuilt)) {
        expect(incremental[k].n).toBe(rebuilt[k].n);
        expect(incremental[k].sum).toBeCloseTo(rebuilt[k].sum, 9);
        expect(incremental[k].sumSq).toBeCloseTo(rebuilt[k].sumSq, 9);
      }
      const [{ late }] = await rows<{ late: number }>(
        database.db,
        sql`select count(*)::int as late from events where campaign_id = ${c.id}::uuid and not attributed`,
      );
      expect(late).toBeGreaterThan(0);
      await e.close();
    });
  }

  it("a conversion after the window is stored but teaches nothing; unknown decisions are rejected", async () => {
    const e = engine();
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "w",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      attributionWindowHours: 0.02,
      arms: [{ key: "a" }],
    });
    const d = await e.decide(ws, c.id, {});
    const r = await e.ingest(ws, [
      {
        id: "late-1",
        decisionId: d.decisionId,
        type: "conversion",
        occurredAt: new Date(Date.now() + 4 * 60_000).toISOString(),
      },
      { id: "ghost", decisionId: "00000000-0000-4000-8000-000000000000", type: "click" },
      { id: "junk", decisionId: "not-a-uuid", type: "click" },
    ]);
    expect(r.results.map((x) => x.status)).toEqual(["accepted", "rejected", "rejected"]);
    expect((await dbStats(c.id)).a).toMatchObject({ n: 1, sum: 0 });
    const inside = await e.ingest(ws, [{ id: "in-1", decisionId: d.decisionId, type: "conversion" }]);
    expect(inside.accepted).toBe(1);
    expect((await dbStats(c.id)).a).toMatchObject({ n: 1, sum: 1, sumSq: 1 });
    // a second conversion of the same decision does not count twice for `conversions`
    await e.ingest(ws, [{ id: "in-2", decisionId: d.decisionId, type: "conversion" }]);
    expect((await dbStats(c.id)).a).toMatchObject({ n: 1, sum: 1, sumSq: 1 });
    await e.close();
  });

  it("the fraud gate's flagged events are stored with their reason and teach nothing; recompute takes back later flags", async () => {
    const e = engine();
    // the gate sees the stored (pseudonymised) source
    const bad = await storedEntity(database.db, ws, "ip", "6.6.6.6");
    e.setFraudGate({ classify: (ev) => (ev.source.ip === bad ? "blocklisted_ip" : null) });
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "f",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }],
    });
    const d1 = await e.decide(ws, c.id, {});
    const d2 = await e.decide(ws, c.id, {});
    await e.ingest(ws, [
      { id: "bad", decisionId: d1.decisionId, type: "conversion", source: { ip: "6.6.6.6" } },
      { id: "good", decisionId: d2.decisionId, type: "conversion", source: { ip: "1.2.3.4" } },
    ]);
    expect((await dbStats(c.id)).a).toMatchObject({ n: 2, sum: 1 });
    const [{ reason }] = await rows<{ reason: string }>(
      database.db,
      sql`select invalid_reason as reason from events where event_id = 'bad' and workspace_id = ${ws}::uuid`,
    );
    expect(reason).toBe("blocklisted_ip");
    // flagged after the fact: rebuild
    await database.db.execute(
      sql`update events set invalid_reason = 'late_flag' where event_id = 'good' and workspace_id = ${ws}::uuid`,
    );
    await e.recompute(c.id);
    expect((await dbStats(c.id)).a).toMatchObject({ n: 2, sum: 0, sumSq: 0 });
    expect(e.campaigns.get(c.id)!.stats[0]).toMatchObject({ n: 2, sum: 0 });
    await e.close();
  });
});

describe("contextual statistics", () => {
  it("xx and xr accumulate exactly (incremental == rebuilt)", async () => {
    const e = engine(3);
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "ctx",
      kind: "creative",
      objective: "revenue",
      strategy: { type: "lin_ts" },
      contextFeatures: [
        { name: "age", type: "numeric" },
        { name: "device", type: "categorical", values: ["ios", "web"] },
      ],
      arms: [{ key: "a" }, { key: "b" }],
    });
    const ds = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        e.decide(ws, c.id, { context: { age: (i % 7) / 7, device: i % 3 ? "ios" : "web" } }),
      ),
    );
    await e.ingest(
      ws,
      ds
        .filter((_, i) => i % 4 === 0)
        .map((d, i) => ({ id: `cx-${i}`, decisionId: d.decisionId, type: "conversion" as const, value: 1 + i })),
    );
    const incremental = await dbStats(c.id);
    const live = e.campaigns.get(c.id)!;
    await recomputeArmStats(database.db, c.id, { encode: (ctx) => live.encoder!.encode(ctx), dim: live.dim });
    const rebuilt = await dbStats(c.id);
    for (const k of ["a", "b"]) {
      close(incremental[k].xx, rebuilt[k].xx);
      close(incremental[k].xr, rebuilt[k].xr);
      close(live.stats[live.armByKey.get(k)!.index].xr, rebuilt[k].xr);
      expect(incremental[k].sum).toBeCloseTo(rebuilt[k].sum, 9);
    }
    await e.close();
  });
});

describe("two engines on one database (two processes)", () => {
  it("each learns the other's feedback through refresh, and no update is lost", async () => {
    const a = engine(11);
    await a.start();
    const c = await a.createCampaign(ws, {
      name: "two",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "x" }, { key: "y" }],
    });
    const b = engine(12);
    await b.start();
    const fromA = await Promise.all(Array.from({ length: 50 }, () => a.decide(ws, c.id, {})));
    const fromB = await Promise.all(Array.from({ length: 50 }, () => b.decide(ws, c.id, {})));
    // conversions for A's decisions arrive at B, and vice versa, concurrently
    await Promise.all([
      b.ingest(
        ws,
        fromA.slice(0, 20).map((d, i) => ({ id: `ab-${i}`, decisionId: d.decisionId, type: "conversion" as const })),
      ),
      a.ingest(
        ws,
        fromB.slice(0, 10).map((d, i) => ({ id: `ba-${i}`, decisionId: d.decisionId, type: "conversion" as const })),
      ),
    ]);
    await Promise.all([a.refresh(), b.refresh()]);
    const st = await dbStats(c.id);
    expect(st.x.n + st.y.n).toBe(100);
    expect(st.x.sum + st.y.sum).toBe(30);
    for (const e of [a, b]) {
      const live = e.campaigns.get(c.id)!;
      for (const arm of live.arms) {
        expect(live.stats[arm.index].n).toBe(st[arm.key].n);
        expect(live.stats[arm.index].sum).toBe(st[arm.key].sum);
      }
    }
    // a second round goes through the incremental refresh (only rows moved since the last one)
    const more = await Promise.all(Array.from({ length: 30 }, () => a.decide(ws, c.id, {})));
    await b.ingest(
      ws,
      more.slice(0, 7).map((d, i) => ({ id: `ab2-${i}`, decisionId: d.decisionId, type: "conversion" as const })),
    );
    await Promise.all([a.refresh(), b.refresh()]);
    const st2 = await dbStats(c.id);
    expect(st2.x.n + st2.y.n).toBe(130);
    expect(st2.x.sum + st2.y.sum).toBe(37);
    for (const e of [a, b]) {
      const live = e.campaigns.get(c.id)!;
      for (const arm of live.arms) {
        expect(live.stats[arm.index].n).toBe(st2[arm.key].n);
        expect(live.stats[arm.index].sum).toBe(st2[arm.key].sum);
      }
    }
    // a change of configuration made by one is picked up by the other
    await a.patchArm(ws, c.id, "x", { status: "paused" });
    await b.refresh();
    for (let i = 0; i < 20; i++) expect((await b.decide(ws, c.id, {})).arm?.key).toBe("y");
    await Promise.all([a.close(), b.close()]);
  });
});

describe("order-dependent params", () => {
  it("discount and window are refused, naming the field", async () => {
    const e = engine();
    await e.start();
    for (const [k, v] of [
      ["discount", 0.99],
      ["window", 100],
    ] as const) {
      await expect(
        e.createCampaign(ws, {
          name: "d",
          kind: "creative",
          objective: "conversions",
          strategy: { type: "thompson", [k]: v },
          arms: [{ key: "a" }],
        }),
      ).rejects.toMatchObject({
        code: "invalid_request",
        details: [{ path: `strategy.${k}` }],
      });
    }
    await e.close();
  });
});

describe("database lost", () => {
  it("a decision whose commit fails answers unavailable and is taken back out of memory", async () => {
    const own = await openDatabase({ dataDir: "memory://" });
    const [w] = await own.db.insert(workspaces).values({ name: "lost" }).returning();
    const e = new Engine({ database: own, registry, logger, seed: 5, refreshIntervalMs: 0 });
    await e.start();
    const c = await e.createCampaign(w.id, {
      name: "l",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }],
    });
    await e.decide(w.id, c.id, {});
    await own.close();
    await expect(e.decide(w.id, c.id, {})).rejects.toMatchObject({ code: "unavailable" });
    const live = e.campaigns.get(c.id)!;
    expect(live.stats.reduce((s, x) => s + x.n, 0)).toBe(1);
    expect(live.pending.reduce((s, x) => s + (x?.n ?? 0), 0)).toBe(0);
    await e.close();
  });
});

describe("a group commit the database refuses", () => {
  it("is split until only the offending decision fails; one log line, without the batch's parameters", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    const e = new Engine({ database, registry, logger: pino({ level: "info" }, sink), seed: 9, refreshIntervalMs: 0 });
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "poison",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }],
    });
    // U+0000 cannot be stored in jsonb: the database refuses the statement that carries it
    const out = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        e.decide(ws, c.id, { unitId: `u${i}`, context: i === 17 ? { note: "a\u0000b" } : { n: i } }),
      ),
    );
    expect(out.filter((o) => o.status === "rejected")).toHaveLength(1);
    expect(out[17]).toMatchObject({ status: "rejected", reason: { code: "invalid_request" } });
    const st = await dbStats(c.id);
    expect(st.a.n + st.b.n).toBe(39);
    const live = e.campaigns.get(c.id)!;
    expect(live.stats[0].n + live.stats[1].n).toBe(39);
    const failures = lines.filter((l) => l.includes("decision could not be logged"));
    expect(failures).toHaveLength(1);
    expect(failures[0]).not.toMatch(/params|u16|"n":16/);
    expect(lines.join("\n").length).toBeLessThan(2000);
    await e.close();
  });
});

describe("event semantics", () => {
  it("rejects events dated before their decision or in the future, tells a reused id from a resend, flags invalid ones", async () => {
    const e = engine(4);
    // the gate sees the stored (pseudonymised) source
    const bad = await storedEntity(database.db, ws, "ip", "6.6.6.6");
    e.setFraudGate({ classify: (ev) => (ev.source.ip === bad ? "blocklist:ip" : null) });
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "sem",
      kind: "creative",
      objective: "revenue",
      strategy: { type: "gaussian_thompson" },
      arms: [{ key: "a" }],
    });
    const d = await e.decide(ws, c.id, {});
    const d2 = await e.decide(ws, c.id, {});
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const first = await e.ingest(ws, [
      { id: "s-past", decisionId: d.decisionId, type: "conversion", value: 1, occurredAt: at(-6 * 60_000) },
      { id: "s-future", decisionId: d.decisionId, type: "conversion", value: 1, occurredAt: at(6 * 60_000) },
      { id: "s-skew", decisionId: d.decisionId, type: "click", occurredAt: at(-60_000) },
      { id: "s-ok", decisionId: d.decisionId, type: "conversion", value: 5, occurredAt: at(0) },
      { id: "s-bot", decisionId: d2.decisionId, type: "conversion", value: 9, source: { ip: "6.6.6.6" } },
      { id: "s-ok", decisionId: d.decisionId, type: "conversion", value: 6 }, // same id, other value, same batch
    ]);
    expect(first.results).toEqual([
      { id: "s-past", status: "rejected", reason: "occurred_before_decision" },
      { id: "s-future", status: "rejected", reason: "occurred_in_future" },
      { id: "s-skew", status: "accepted" },
      { id: "s-ok", status: "accepted" },
      { id: "s-bot", status: "accepted", invalid: true, reason: "blocklist:ip" },
      { id: "s-ok", status: "conflict" },
    ]);
    expect(first).toMatchObject({ accepted: 3, rejected: 2, duplicates: 0, conflicts: 1 });
    const okAt = (
      await rows<{ t: Date | string }>(
        database.db,
        sql`select occurred_at as t from events where event_id = 's-ok' and workspace_id = ${ws}::uuid`,
      )
    )[0].t;
    const again = await e.ingest(ws, [
      { id: "s-ok", decisionId: d.decisionId, type: "conversion", value: 5, occurredAt: new Date(okAt).toISOString() },
      { id: "s-ok", decisionId: d.decisionId, type: "conversion", value: 5 }, // no occurredAt: any stored time matches
      { id: "s-bot", decisionId: d2.decisionId, type: "conversion", value: 9 },
      { id: "s-skew", decisionId: d2.decisionId, type: "click" }, // other decision
    ]);
    expect(again.results.map((r) => r.status)).toEqual(["duplicate", "duplicate", "duplicate", "conflict"]);
    expect(again).toMatchObject({ accepted: 0, duplicates: 3, conflicts: 1 });
    expect((await dbStats(c.id)).a).toMatchObject({ n: 2, sum: 5, sumSq: 25 });
    await e.close();
  });
});

describe("consistency check", () => {
  it("finds arm_stats that differ from the rows, repairs them in the database and in memory, and reports them", async () => {
    const e = engine(6);
    await e.start();
    const c = await e.createCampaign(ws, {
      name: "cc",
      kind: "creative",
      objective: "revenue",
      strategy: { type: "gaussian_thompson" },
      arms: [{ key: "a" }, { key: "b" }],
    });
    const ds = await Promise.all(Array.from({ length: 20 }, () => e.decide(ws, c.id, {})));
    await e.ingest(
      ws,
      ds
        .slice(0, 8)
        .map((d, i) => ({ id: `cc-${i}`, decisionId: d.decisionId, type: "conversion" as const, value: i })),
    );
    const clean = await e.checkConsistency();
    expect(clean.repaired.filter((r) => r.campaignId === c.id)).toEqual([]);
    const before = await dbStats(c.id);
    // what a lost take-back or a lost increment leaves behind
    await database.db.execute(
      sql`update arm_stats set sum = sum + 7, sum_sq = sum_sq + 49, n = n + 1 where campaign_id = ${c.id}::uuid and arm_key = 'a'`,
    );
    const report = await e.checkConsistency();
    const mine = report.repaired.find((r) => r.campaignId === c.id);
    expect(mine?.repaired).toHaveLength(1);
    expect(mine!.repaired[0]).toMatchObject({
      armKey: "a",
      stored: { n: before.a.n + 1, sum: before.a.sum + 7 },
      rebuilt: { n: before.a.n, sum: before.a.sum },
    });
    expect(await dbStats(c.id)).toEqual(before);
    const live = e.campaigns.get(c.id)!;
    expect(live.stats[0]).toMatchObject({ n: before.a.n, sum: before.a.sum, sumSq: before.a.sumSq });
    expect((await e.checkConsistency()).repaired.filter((r) => r.campaignId === c.id)).toEqual([]);
    await e.close();
  });
});
