/**
 * The exact rebuild reads its snapshot through a cursor, in FETCH chunks (src/store/rebuild.ts). With
 * 7 rows a chunk, a campaign's rows span many chunks — a decision's events fall on both sides of chunk
 * boundaries, as do the kinds (arms, stats, buckets, delays, decisions, events) — and the read must be the
 * same as in one chunk, and the rebuild equal to the statistics the ingest path stored, and repair them
 * exactly once they are corrupted. On PGlite, and on PostgreSQL with DATABASE_URL.
 */
import type { SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, type EventInput } from "../../src/engine/engine.ts";
import { recomputeArmStats, type RecomputeOptions } from "../../src/engine/recompute.ts";
import { loadRegistry, type StrategyRegistry } from "../../src/engine/registry.ts";
import { readArmStats } from "../../src/store/arm-stats.ts";
import { openDatabase, rows, sql, type Database, type Db } from "../../src/store/db.ts";
import { streamRebuildSnapshot, type RebuildSink } from "../../src/store/rebuild.ts";
import { workspaces } from "../../src/store/schema.ts";
import { testDatabase, type TestDatabase } from "../helpers/db.ts";

const logger = pino({ level: "silent" });
const dialect = new PgDialect();
let test: TestDatabase;
let database: Database;
let registry: StrategyRegistry;
let ws: string;
let e: Engine;

beforeAll(async () => {
  test = await testDatabase();
  database = await openDatabase(test.options);
  registry = await loadRegistry();
  const [w] = await database.db.insert(workspaces).values({ name: "chunks" }).returning();
  ws = w.id;
  e = new Engine({ database, registry, logger, seed: 4, refreshIntervalMs: 0 });
  await e.start();
});
afterAll(async () => {
  await e?.close();
  await database?.close();
  await test?.drop();
});

/** Every row the read delivers, tagged with its kind, in delivery order; and the FETCH statements sent. */
async function readAll(campaignId: string, chunkRows: number, withContext: boolean) {
  const got: [string, unknown][] = [];
  const sink = Object.fromEntries(
    ["header", "arm", "stat", "bucket", "delay", "decision", "event"].map((k) => [
      k,
      // the header's clock is the read's own (now()): not part of what the two reads must share
      (row: unknown) => got.push([k, k === "header" ? { ...(row as object), nowMs: 0 } : row]),
    ]),
  ) as unknown as RebuildSink;
  let fetches = 0;
  await database.db.transaction(async (tx) => {
    const counting = {
      execute: (q: SQL) => {
        if (/^fetch /i.test(dialect.sqlToQuery(q).sql)) fetches++;
        return tx.execute(q);
      },
    } as Pick<Db, "execute">;
    const timeout = () => rows<{ t: string }>(tx, sql`select current_setting('statement_timeout') as t`);
    const before = await timeout();
    expect(await streamRebuildSnapshot(counting, campaignId, sink, { chunkRows, withContext })).toBe(true);
    // the sorting FETCH's own timeout does not outlive it
    expect(await timeout()).toEqual(before);
  });
  return { got, fetches };
}

async function dbStats(campaignId: string) {
  const r = await readArmStats(database.db, [campaignId]);
  return Object.fromEntries(r.map((x) => [x.armKey, { n: x.n, sum: x.sum, sumSq: x.sumSq, xx: x.xx, xr: x.xr }]));
}

function expectClose(a: Record<string, unknown>, b: Record<string, unknown>) {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    const x = a[k] as Record<string, number | number[] | null>;
    const y = b[k] as Record<string, number | number[] | null>;
    for (const f of ["n", "sum", "sumSq"]) expect(x[f]).toBeCloseTo(y[f] as number, 9);
    for (const f of ["xx", "xr"]) {
      const u = (x[f] ?? []) as number[];
      const v = (y[f] ?? []) as number[];
      expect(u.length).toBe(v.length);
      u.forEach((w, i) => {
        expect(w).toBeCloseTo(v[i]!, 9);
      });
    }
  }
}

const cases = [
  {
    name: "profit, trials at impression",
    spec: {
      objective: "profit" as const,
      strategy: { type: "gaussian_thompson" },
      trialAt: "impression" as const,
      arms: [{ key: "a", cost: 0.25 }, { key: "b", cost: 0.5 }, { key: "c" }],
    },
    context: (_: number) => undefined,
  },
  {
    name: "contextual revenue",
    spec: {
      objective: "revenue" as const,
      strategy: { type: "lin_ts" },
      contextFeatures: [
        { name: "age", type: "numeric" as const },
        { name: "device", type: "categorical" as const, values: ["ios", "web"] },
      ],
      arms: [{ key: "a" }, { key: "b" }],
    },
    context: (i: number) => ({ age: (i % 5) / 5, device: i % 3 ? "ios" : "web" }),
  },
];

describe("exact rebuild read in FETCH chunks", () => {
  for (const c of cases)
    it(`${c.name}: 7-row chunks read what one chunk reads, and rebuild the stored statistics exactly`, async () => {
      const campaign = await e.createCampaign(ws, { name: c.name, kind: "creative", ...c.spec });
      const ds = await Promise.all(
        Array.from({ length: 30 }, (_, i) => e.decide(ws, campaign.id, { context: c.context(i) })),
      );
      // three batches: each batch's events share one arrival instant, so their order is the event ids'
      // (not the request's: the z… impressions come last); repeated conversions, clicks with a cost.
      // Not a batch with a conversion before its click (a reversed batch): ingest applies a batch in request
      // order, the rebuild in (received_at, event_id) order, so such a decision's reward can differ by an ulp
      // (32.150000000000006 vs 32.15 here) and is rewritten — main's rebuild read in the same order.
      const batch = (tag: string, pick: (i: number) => boolean): EventInput[] =>
        ds.flatMap((d, i) =>
          pick(i)
            ? [
                { id: `${tag}-z${i}`, decisionId: d.decisionId, type: "impression" as const },
                { id: `${tag}-c${i}`, decisionId: d.decisionId, type: "click" as const, cost: 0.1 * (i % 4) },
                ...(i % 3 === 0
                  ? [{ id: `${tag}-v${i}`, decisionId: d.decisionId, type: "conversion" as const, value: 1.1 * i }]
                  : []),
              ]
            : [],
        );
      // event ids are the workspace's: one namespace per campaign
      const t = (b: string) => `${campaign.id}-${b}`;
      await e.ingest(
        ws,
        batch(t("b1"), (i) => i % 2 === 0),
      );
      await e.ingest(
        ws,
        batch(t("b2"), (i) => i % 3 === 0),
      );
      await e.ingest(
        ws,
        batch(t("b3"), (i) => i % 5 === 0),
      );
      await e.flush();
      const live = e.campaigns.get(campaign.id)!;
      const contextual = live.dim > 0;
      const opts: RecomputeOptions = contextual ? { encode: (x) => live.encoder!.encode(x), dim: live.dim } : {};

      const small = await readAll(campaign.id, 7, contextual);
      const whole = await readAll(campaign.id, 100_000, contextual);
      expect(small.got).toEqual(whole.got);
      expect(small.fetches).toBeGreaterThanOrEqual(Math.ceil(small.got.length / 7));
      expect(whole.fetches).toBe(1);
      const kinds = small.got.map(([k]) => k);
      expect(kinds.filter((k) => k === "decision")).toHaveLength(30);
      expect(kinds.filter((k) => k === "event").length).toBeGreaterThan(40);
      // the order the rebuild relies on: header, small kinds, decisions, then events by arrival
      const rank = ["header", "arm", "stat", "bucket", "delay", "decision", "event"];
      const ranks = kinds.map((k) => rank.indexOf(k));
      expect(ranks).toEqual([...ranks].sort((p, q) => p - q));
      const arrivals = small.got
        .filter(([k]) => k === "event")
        .map(([, r]) => (r as { receivedUs: number }).receivedUs);
      expect(arrivals).toEqual([...arrivals].sort((p, q) => p - q));

      // what the ingest path stored is what the rows imply
      const stored = await dbStats(campaign.id);
      const clean = await recomputeArmStats(database.db, campaign.id, { ...opts, chunkRows: 7 });
      expect(clean).toMatchObject({ repaired: [], decisionsRewritten: 0, bucketsRepaired: 0, delaysRepaired: 0 });

      // a lost increment, a wrong running reward and a wrong hour bucket: repaired back to `stored`
      await database.db.execute(
        sql`update arm_stats set n = n + 1, sum = sum + 7, sum_sq = sum_sq + 49 where campaign_id = ${campaign.id}::uuid and arm_key = 'a'`,
      );
      await database.db.execute(
        sql`update decisions set reward = reward + 3 where campaign_id = ${campaign.id}::uuid and id = ${ds[4]!.decisionId}::uuid`,
      );
      await database.db.execute(
        sql`update arm_stat_buckets set n = n + 2 where campaign_id = ${campaign.id}::uuid and arm_key = 'b'`,
      );
      const fixed = await recomputeArmStats(database.db, campaign.id, { ...opts, chunkRows: 7 });
      expect(fixed.repaired.map((r) => r.armKey)).toEqual(["a"]);
      expect(fixed.repaired[0]!.rebuilt.n).toBe(stored.a!.n);
      expect(fixed.repaired[0]!.rebuilt.sum).toBeCloseTo(stored.a!.sum, 9);
      expect(fixed.decisionsRewritten).toBe(1);
      expect(fixed.bucketsRepaired).toBeGreaterThan(0);
      expectClose(await dbStats(campaign.id), stored);
      for (const chunkRows of [7, 1, undefined])
        expect(await recomputeArmStats(database.db, campaign.id, { ...opts, chunkRows })).toMatchObject({
          repaired: [],
          decisionsRewritten: 0,
          bucketsRepaired: 0,
          delaysRepaired: 0,
        });
    });
});
