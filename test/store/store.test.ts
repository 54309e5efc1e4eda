/**
 * Store pieces without the engine: the reward rules per objective, merging of increments, the
 * element-wise array addition of arm_stats in SQL (including the first, null, row), and the
 * one-statement decision insert, on an in-memory PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { incrementArmStats, readArmStats } from "../../src/store/arm-stats.ts";
import { insertDecisionsWithStats } from "../../src/store/decisions.ts";
import { mergeIncrements } from "../../src/engine/stats.ts";
import { openDatabase, rows, sql, type Database } from "../../src/store/db.ts";
import { applyEvent, baseReward } from "../../src/engine/rewards.ts";
import { campaigns, workspaces } from "../../src/store/schema.ts";

describe("rewards", () => {
  it.each([
    // objective, arm cost, events, reward, converted
    ["conversions", 0.3, [], 0, false],
    [
      "conversions",
      0.3,
      [
        { type: "conversion", value: 9, cost: 1 },
        { type: "conversion", value: 9, cost: 1 },
      ],
      1,
      true,
    ],
    ["conversions", 0, [{ type: "click", value: 0, cost: 0.5 }], 0, false],
    [
      "revenue",
      0.3,
      [
        { type: "conversion", value: 9, cost: 1 },
        { type: "conversion", value: 2.5, cost: 0 },
      ],
      11.5,
      true,
    ],
    ["revenue", 0, [{ type: "click", value: 4, cost: 0.5 }], 0, false],
    ["profit", 0.3, [], -0.3, false],
    [
      "profit",
      0.3,
      [
        { type: "click", value: 0, cost: 0.25 },
        { type: "conversion", value: 10, cost: 1 },
      ],
      -0.3 - 0.25 + 10 - 1,
      true,
    ],
  ] as const)("%s, arm cost %s → %s", (objective, cost, events, reward, converted) => {
    const s = { reward: baseReward(objective, cost), converted: false };
    for (const e of events) applyEvent(objective, s, e);
    expect(s.reward).toBeCloseTo(reward, 12);
    expect(s.converted).toBe(converted);
  });
});

describe("increments", () => {
  it("merges increments of one arm, arrays element-wise", () => {
    const m = mergeIncrements([
      { campaignId: "c", armKey: "a", n: 1, sum: 1, sumSq: 1, xr: [1, 2] },
      { campaignId: "c", armKey: "b", n: 1, sum: 0, sumSq: 0 },
      { campaignId: "c", armKey: "a", n: 2, sum: 0.5, sumSq: 0.25, xr: [0.5, -2] },
    ]);
    expect(m).toHaveLength(2);
    expect(m.find((x) => x.armKey === "a")).toMatchObject({ n: 3, sum: 1.5, sumSq: 1.25, xr: [1.5, 0] });
  });
});

describe("arm_stats in SQL", () => {
  let d: Database;
  let campaignId: string;
  let workspaceId: string;
  beforeAll(async () => {
    d = await openDatabase({ dataDir: "memory://" });
    const [w] = await d.db.insert(workspaces).values({ name: "s" }).returning();
    workspaceId = w.id;
    const [c] = await d.db
      .insert(campaigns)
      .values({ workspaceId, name: "c", kind: "creative", objective: "revenue", strategy: { type: "lin_ts" } })
      .returning();
    campaignId = c.id;
  });
  afterAll(async () => {
    await d?.close();
  });

  it("adds counts and arrays element-wise, starting from a missing row", async () => {
    await incrementArmStats(d.db, [{ campaignId, armKey: "a", n: 1, sum: 2, sumSq: 4, xx: [1, 0, 0, 1], xr: [2, 0] }]);
    await incrementArmStats(d.db, [{ campaignId, armKey: "a", n: 0, sum: 1, sumSq: 5, xr: [1, 1] }]);
    await incrementArmStats(d.db, [{ campaignId, armKey: "a", n: 2, sum: 0, sumSq: 0, xx: [0.5, 0.25, 0.25, 0.125] }]);
    const [r] = await readArmStats(d.db, [campaignId]);
    expect(r).toMatchObject({ armKey: "a", n: 3, sum: 3, sumSq: 9 });
    expect(r.xx).toEqual([1.5, 0.25, 0.25, 1.125]);
    expect(r.xr).toEqual([3, 1]);
  });

  it("logs a batch of decisions and their trials in one statement, exactly", async () => {
    const batch = [0.1, 1 / 3, 0.7].map((p, i) => ({
      id: randomUUID(),
      workspaceId,
      campaignId,
      armKey: "b",
      propensity: p,
      served: true,
      reason: null,
      context: i === 0 ? null : { device: "ios", n: i, nested: { q: 'a "quoted" value' } },
      unitId: i === 1 ? null : `u${i}`,
      unitHash: i === 1 ? null : `h${i}`,
      timezone: null,
      position: i === 2 ? 2 : null,
      strategyVersion: 4,
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
      reward: -0.05,
      converted: false,
    }));
    await insertDecisionsWithStats(d.db, batch, [{ campaignId, armKey: "b", n: 3, sum: -0.15, sumSq: 0.0075 }]);
    const got = await rows<{
      id: string;
      propensity: number;
      context: unknown;
      unit_id: string | null;
      position: number | null;
      created_at: Date;
      reward: number;
      strategy_version: number;
    }>(
      d.db,
      sql`select id, propensity, context, unit_id, position, created_at, reward, strategy_version from decisions where campaign_id = ${campaignId}::uuid order by created_at`,
    );
    expect(got).toHaveLength(3);
    got.forEach((g, i) => {
      expect(g.id).toBe(batch[i].id);
      expect(g.propensity).toBe(batch[i].propensity);
      expect(g.context).toEqual(batch[i].context);
      expect(g.unit_id).toBe(batch[i].unitId);
      expect(g.position).toBe(batch[i].position);
      expect(new Date(g.created_at).getTime()).toBe(batch[i].createdAt.getTime());
      expect(g.reward).toBe(-0.05);
      expect(g.strategy_version).toBe(4);
    });
    const st = (await readArmStats(d.db, [campaignId])).find((x) => x.armKey === "b")!;
    expect(st).toMatchObject({ n: 3, sum: -0.15, sumSq: 0.0075, xx: null });
  });
});
