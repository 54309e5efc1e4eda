/**
 * Two replicas (two services in this process) on one PostgreSQL database, a campaign with a 6 h half-life
 * after a change point: decisions and conversions alternate between the replicas; the new best arm takes
 * the majority, and after a refresh both replicas hold the same posterior (the same buckets, the same
 * fold). Then the persisted buckets equal what the stored decisions and events imply.
 * Runs only with DATABASE_URL (PGlite is one process's embedded database).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hourOf } from "../../src/engine/buckets.ts";
import { buildService, type Service } from "../../src/service.ts";
import { incrementArmStats } from "../../src/store/arm-stats.ts";
import { incrementBuckets } from "../../src/store/buckets.ts";
import { rows, sql } from "../../src/store/db.ts";
import { Mulberry32 } from "../../strategies/rng.ts";
import { createDatabase } from "../helpers/db.ts";

const DATABASE_URL = process.env.DATABASE_URL;
const ADMIN = "replicas-admin-key-0123456789";

describe.runIf(DATABASE_URL)("two replicas, one database", () => {
  let drop: () => Promise<void>;
  let A: Service;
  let B: Service;
  let key: string;
  beforeAll(async () => {
    const db = await createDatabase(DATABASE_URL!);
    drop = db.drop;
    const opts = { databaseUrl: db.url, adminKey: ADMIN, logLevel: "silent", refreshIntervalMs: 0 };
    A = await buildService({ ...opts, seed: 1 });
    B = await buildService({ ...opts, seed: 2 });
    const r = await call(A, "POST", "/v1/workspaces", { name: "replicas" }, ADMIN);
    key = r.body.apiKey;
  });
  afterAll(async () => {
    await A?.close();
    await B?.close();
    await drop?.();
  });

  // biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes, checked field by field
  type Body = Record<string, any>;
  async function call(
    s: Service,
    method: string,
    path: string,
    body?: unknown,
    k = key,
  ): Promise<{ status: number; body: Body }> {
    const res = await s.app.request(`http://test${path}`, {
      method,
      headers: { authorization: `Bearer ${k}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body };
  }

  it("after a change point both learn the new best arm and agree on the posterior", async () => {
    const c = await call(A, "POST", "/v1/campaigns", {
      name: "fatigue",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }],
      conversionDelay: { medianHours: 1e-8, p95Hours: 2e-8, learn: false },
      decay: { halfLifeHours: 6 },
    });
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    const { db } = A.deps;
    const hour = hourOf(Date.now()) - 60;
    const hist = [
      { key: "a", n: 5000, conv: 600 },
      { key: "b", n: 5000, conv: 300 },
    ];
    await incrementArmStats(
      db,
      hist.map((a) => ({ campaignId: id, armKey: a.key, n: a.n, sum: a.conv, sumSq: a.conv })),
    );
    await incrementBuckets(
      db,
      hist.map((a) => ({
        campaignId: id,
        armKey: a.key,
        hour,
        trials: { n: a.n, sum: 0, sumSq: 0 },
        rewards: { n: a.conv, sum: a.conv, sumSq: a.conv },
      })),
    );
    await call(B, "GET", `/v1/campaigns/${id}`);
    await A.deps.engine.refresh();
    await B.deps.engine.refresh();
    const rng = new Mulberry32(5);
    const recent: string[] = [];
    let majorityAt = Infinity;
    for (let done = 0; done < 1500 && majorityAt === Infinity; done += 50) {
      const s = done % 100 === 0 ? A : B;
      const r = await call(s, "POST", "/v1/decisions/batch", {
        requests: Array.from({ length: 50 }, () => ({ campaignId: id })),
      });
      const sent = r.body.decisions as { decisionId: string; arm: { key: string } }[];
      const events = sent
        .filter((d) => rng.next() < (d.arm.key === "b" ? 0.2 : 0.05))
        .map((d, i) => ({ id: `cp-${done}-${i}`, decisionId: d.decisionId, type: "conversion" }));
      // Events go to the other replica.
      if (events.length) expect((await call(s === A ? B : A, "POST", "/v1/events", { events })).status).toBe(200);
      await A.deps.engine.refresh();
      await B.deps.engine.refresh();
      for (const d of sent) recent.push(d.arm.key);
      const last = recent.slice(-300);
      if (last.length === 300 && last.filter((k) => k === "b").length > 150) majorityAt = done + 50;
    }
    expect(majorityAt).toBeLessThanOrEqual(1500);
    console.log(`two replicas: the new best arm has the majority of the last 300 after ${majorityAt} decisions`);
    await A.deps.engine.flush();
    await B.deps.engine.flush();
    await A.deps.engine.refresh();
    await B.deps.engine.refresh();
    const pa = (await call(A, "GET", `/v1/campaigns/${id}/arms`)).body.arms as { key: string; posteriorMean: number }[];
    const pb = (await call(B, "GET", `/v1/campaigns/${id}/arms`)).body.arms as { key: string; posteriorMean: number }[];
    for (const [i, a] of pa.entries()) expect(Math.abs(a.posteriorMean - pb[i]!.posteriorMean)).toBeLessThan(1e-6);
    expect(pa.find((a) => a.key === "b")!.posteriorMean).toBeGreaterThan(pa.find((a) => a.key === "a")!.posteriorMean);

    // The persisted buckets (beyond the seeded history) are what the stored decisions and events imply.
    const implied = await rows<{ arm_key: string; hour: number; n: number; converted: number; reward: number }>(
      db,
      sql`select arm_key, floor(extract(epoch from created_at) / 3600)::float8 as hour, count(*)::float8 as n,
            count(*) filter (where converted)::float8 as converted, sum(reward)::float8 as reward
          from decisions where campaign_id = ${id}::uuid group by 1, 2 order by 1, 2`,
    );
    const stored = await rows<{ arm_key: string; hour: number; n: number; converted: number; reward: number }>(
      db,
      sql`select arm_key, (extract(epoch from bucket_start) / 3600)::float8 as hour, n, converted, reward_sum as reward
          from arm_stat_buckets where campaign_id = ${id}::uuid and bucket_start > to_timestamp(${hour * 3600}) order by 1, 2`,
    );
    expect(stored.map((r) => ({ ...r, hour: Number(r.hour) }))).toEqual(
      implied.map((r) => ({ ...r, hour: Number(r.hour) })),
    );
  });
});
