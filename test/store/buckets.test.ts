/**
 * arm_stat_buckets and conversion_delays: commutative upserts (any order, any split into statements gives
 * the same rows), arrays added element-wise from a missing row, reads in key order, deletion of old hours.
 * PGlite by default; DATABASE_URL runs it on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  incrementBuckets,
  readBuckets,
  readDelays,
  deleteBucketsBefore,
  upsertDelayIncrements,
  type BucketIncrement,
} from "../../src/store/buckets.ts";
import { openDatabase, type Database } from "../../src/store/db.ts";
import { campaigns, workspaces } from "../../src/store/schema.ts";
import { testDatabase, type TestDatabase } from "../helpers/db.ts";
import { Mulberry32 } from "../../strategies/rng.ts";

let t: TestDatabase;
let d: Database;
const ids: string[] = [];

beforeAll(async () => {
  t = await testDatabase();
  d = await openDatabase(t.options);
  const [w] = await d.db.insert(workspaces).values({ name: "b" }).returning();
  for (const name of ["one", "two"]) {
    const [c] = await d.db
      .insert(campaigns)
      .values({ workspaceId: w!.id, name, kind: "creative", objective: "conversions", strategy: { type: "lin_ts" } })
      .returning();
    ids.push(c!.id);
  }
});
afterAll(async () => {
  await d?.close();
  await t?.drop();
});

function incs(campaignId: string, seed: number): BucketIncrement[] {
  const rng = new Mulberry32(seed);
  const out: BucketIncrement[] = [];
  for (let i = 0; i < 300; i++) {
    const x = [1, Math.round(rng.next() * 8) / 8];
    const hour = 490_000 + Math.floor(rng.next() * 5);
    const armKey = rng.next() < 0.5 ? "a" : "b";
    out.push({
      campaignId,
      armKey,
      hour,
      trials: { n: 1, sum: 0, sumSq: 0, xx: [1, x[1]!, x[1]!, x[1]! ** 2], xr: [0, 0] },
    });
    if (rng.next() < 0.25) out.push({ campaignId, armKey, hour, rewards: { n: 1, sum: 1, sumSq: 1, xr: x } });
  }
  return out;
}

describe("bucket increments", () => {
  it("any order and any split into statements give the same rows", async () => {
    const [one, two] = ids as [string, string];
    const all = incs(one, 1);
    await incrementBuckets(d.db, all);
    const shuffled = incs(two, 1).map((i) => ({ ...i, campaignId: two }));
    const rng = new Mulberry32(9);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    for (let k = 0; k < shuffled.length; k += 37) await incrementBuckets(d.db, shuffled.slice(k, k + 37));
    const strip = (rows: Awaited<ReturnType<typeof readBuckets>>) =>
      rows.map(({ campaignId: _c, updatedAt: _u, changeXid: _x, ...r }) => r); // bookkeeping columns differ by write
    const a = strip(await readBuckets(d.db, [one]));
    const b = strip(await readBuckets(d.db, [two]));
    expect(a.length).toBeGreaterThan(5);
    expect(b).toEqual(a);
    // The totals are those of the increments (x on a 1/8 grid: every sum is exact in binary).
    const n = all.reduce((s, i) => s + (i.trials?.n ?? 0), 0);
    const conv = all.reduce((s, i) => s + (i.rewards?.n ?? 0), 0);
    expect(a.reduce((s, r) => s + r.n, 0)).toBe(n);
    expect(a.reduce((s, r) => s + r.converted, 0)).toBe(conv);
    expect(a.reduce((s, r) => s + r.rewardSum, 0)).toBe(conv);
    const xr1 = all.reduce((s, i) => s + (i.rewards?.xr?.[1] ?? 0), 0);
    expect(a.reduce((s, r) => s + (r.rewardXr?.[1] ?? 0), 0)).toBe(xr1);
    expect(a.every((r) => r.hour >= 490_000 && r.hour < 490_005)).toBe(true);
  });
  it("reads from an hour on, and deletes hours before one", async () => {
    const [one] = ids as [string];
    expect((await readBuckets(d.db, [one], 490_003)).every((r) => r.hour >= 490_003)).toBe(true);
    await deleteBucketsBefore(d.db, one, 490_002);
    const left = await readBuckets(d.db, [one]);
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((r) => r.hour >= 490_002)).toBe(true);
  });
});

describe("delay counts", () => {
  it("add element-wise per cohort", async () => {
    const [, two] = ids as [string, string];
    const c = (j: number) => Array.from({ length: 41 }, (_, k) => (k === j ? 1 : 0));
    await d.db.execute(upsertDelayIncrements([{ campaignId: two, hour: 490_001, counts: c(3) }]));
    await d.db.execute(
      upsertDelayIncrements([
        { campaignId: two, hour: 490_001, counts: c(3) },
        { campaignId: two, hour: 490_001, counts: c(7) },
        { campaignId: two, hour: 490_002, counts: c(1) },
      ]),
    );
    const r = await readDelays(d.db, [two]);
    expect(r.map((x) => x.hour)).toEqual([490_001, 490_002]);
    expect(r[0]!.counts[3]).toBe(2);
    expect(r[0]!.counts[7]).toBe(1);
    expect(r[1]!.counts.reduce((a, b) => a + b, 0)).toBe(1);
  });
});
