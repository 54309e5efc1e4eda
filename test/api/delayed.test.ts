/**
 * Delay-aware, decaying statistics through the HTTP API (PGlite; DATABASE_URL runs it on PostgreSQL).
 * A campaign's history is written to the database as matured hour buckets (decisions made 60 h ago, older
 * than the 48 h window), as the service itself would have left them; then live traffic goes through HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hourOf } from "../../src/engine/buckets.ts";
import { incrementArmStats } from "../../src/store/arm-stats.ts";
import { incrementBuckets } from "../../src/store/buckets.ts";
import { Mulberry32 } from "../../strategies/rng.ts";
import {
  createCampaign,
  creativeCampaign,
  eventId,
  type Harness,
  startHarness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 21 });
  ws = await h.workspace("delayed");
});
afterAll(async () => {
  await h?.close();
});

/** Matured history: per arm n decisions `hoursAgo` hours ago, of which `conv` converted. */
async function seedHistory(campaignId: string, arms: { key: string; n: number; conv: number }[], hoursAgo = 60) {
  const { db, engine } = h.service.deps;
  const hour = hourOf(Date.now()) - hoursAgo;
  await incrementArmStats(
    db,
    arms.map((a) => ({ campaignId, armKey: a.key, n: a.n, sum: a.conv, sumSq: a.conv })),
  );
  await incrementBuckets(
    db,
    arms.map((a) => ({
      campaignId,
      armKey: a.key,
      hour,
      trials: { n: a.n, sum: 0, sumSq: 0 },
      rewards: { n: a.conv, sum: a.conv, sumSq: a.conv },
    })),
  );
  await engine.reloadStats(campaignId);
}

async function arms(id: string): Promise<Record<string, { posteriorMean: number; decisions: number }>> {
  const r = await ws.get(`/v1/campaigns/${id}/arms`);
  expect(r.status).toBe(200);
  return Object.fromEntries(
    (r.body.arms as { key: string; posteriorMean: number; decisions: number }[]).map((a) => [a.key, a]),
  );
}

/** `count` decisions through the batch endpoint; returns the arm keys and decision ids in order. */
async function send(id: string, count: number): Promise<{ arm: string; decisionId: string }[]> {
  const out: { arm: string; decisionId: string }[] = [];
  for (let i = 0; i < count; i += 1000) {
    const n = Math.min(1000, count - i);
    const r = await ws.post("/v1/decisions/batch", { requests: Array.from({ length: n }, () => ({ campaignId: id })) });
    expect(r.status).toBe(200);
    for (const d of r.body.decisions as { decisionId: string; arm: { key: string } }[])
      out.push({ arm: d.arm.key, decisionId: d.decisionId });
  }
  return out;
}

describe("a send whose conversions cannot have arrived yet", () => {
  it("a campaign that has learned keeps its best arm's posterior mean within 25 % after 10,000 pending decisions", async () => {
    const id = await createCampaign(
      ws,
      creativeCampaign({ attributionWindowHours: 48, conversionDelay: { medianHours: 12, p95Hours: 40 } }),
    );
    await seedHistory(id, [
      { key: "a", n: 5000, conv: 500 },
      { key: "b", n: 5000, conv: 600 },
      { key: "c", n: 5000, conv: 400 },
    ]);
    const before = await arms(id);
    expect(before.b!.posteriorMean).toBeCloseTo(601 / 5002, 4);
    const sent = await send(id, 10_000);
    const onB = sent.filter((s) => s.arm === "b").length;
    const after = await arms(id);
    expect(after.b!.decisions).toBe(5000 + onB);
    expect(Math.abs(after.b!.posteriorMean / before.b!.posteriorMean - 1)).toBeLessThan(0.25);
    // Counted as failed trials at the decision, the same sends would have dragged it far down.
    expect(601 / (5002 + onB) / before.b!.posteriorMean).toBeLessThan(0.75);
    // The campaign shows the model in use.
    const c = await ws.get(`/v1/campaigns/${id}`);
    expect(c.body.conversionDelay).toEqual({ medianHours: 12, p95Hours: 40 });
    expect(c.body.delayModel).toMatchObject({ family: "lognormal", source: "declared", windowHours: 48 });
    expect(c.body.delayModel.medianHours).toBeCloseTo(12, 6);
  });

  it("a fresh campaign sending 10,000 decisions keeps every arm's posterior near its prior", async () => {
    const id = await createCampaign(
      ws,
      creativeCampaign({ attributionWindowHours: 48, conversionDelay: { medianHours: 12, p95Hours: 40 } }),
    );
    await send(id, 10_000);
    const after = await arms(id);
    for (const k of ["a", "b", "c"]) {
      expect(after[k]!.decisions).toBeGreaterThan(2000);
      // Beta(1, 1) has mean ½; counted at the decision it would be below 1/2000.
      expect(Math.abs(after[k]!.posteriorMean - 0.5)).toBeLessThan(0.1);
    }
  });
});

describe("campaign settings", () => {
  it.each([
    [{ conversionDelay: { medianHours: 12, p95Hours: 6 } }, "conversionDelay.p95Hours"],
    [{ conversionDelay: { medianHours: -1 } }, "conversionDelay.medianHours"],
    [{ decay: { halfLifeHours: 0 } }, "decay"],
    [{ decay: { windowHours: 1.5 } }, "decay"],
    [{ strategy: { type: "thompson", discount: 0.99 } }, "strategy.discount"],
  ])("%j → 400 naming %s", async (over, path) => {
    const r = await ws.post("/v1/campaigns", creativeCampaign(over));
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body.error)).toContain(path);
  });
  it("decay and the delay prior can be changed and removed", async () => {
    const id = await createCampaign(ws, creativeCampaign({ decay: { halfLifeHours: 24 } }));
    expect((await ws.get(`/v1/campaigns/${id}`)).body).toMatchObject({
      decay: { halfLifeHours: 24 },
      conversionDelay: null,
      trialAt: "decision",
      delayModel: { source: "default", windowHours: 168 },
    });
    const p = await ws.patch(`/v1/campaigns/${id}`, {
      decay: { windowHours: 72 },
      conversionDelay: { p95Hours: 24, learn: false },
    });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ decay: { windowHours: 72 }, delayModel: { source: "declared" } });
    expect((await ws.patch(`/v1/campaigns/${id}`, { decay: null })).body.decay).toBeNull();
  });
});

describe("decay after a change point", () => {
  /**
   * History: "a" converted at 12 %, "b" at 6 % (5,000 decisions each, 60 h ago). From now on "b" converts
   * at 20 % and "a" at 5 %; conversions arrive at once (declared delay far below a millisecond).
   * Returns the number of decisions after which "b" first has the majority of the last 300.
   */
  async function run(decay: Record<string, number> | undefined, limit: number, seed: number): Promise<number> {
    const id = await createCampaign(
      ws,
      creativeCampaign({
        arms: [{ key: "a" }, { key: "b" }],
        conversionDelay: { medianHours: 1e-8, p95Hours: 2e-8, learn: false },
        ...(decay ? { decay } : {}),
      }),
    );
    await seedHistory(id, [
      { key: "a", n: 5000, conv: 600 },
      { key: "b", n: 5000, conv: 300 },
    ]);
    const rng = new Mulberry32(seed);
    const recent: string[] = [];
    for (let done = 0; done < limit; done += 50) {
      const sent = await send(id, 50);
      const events = sent
        .filter((s) => rng.next() < (s.arm === "b" ? 0.2 : 0.05))
        .map((s) => ({ id: eventId("cp"), decisionId: s.decisionId, type: "conversion" }));
      if (events.length) expect((await ws.post("/v1/events", { events })).status).toBe(200);
      for (const s of sent) recent.push(s.arm);
      const last = recent.slice(-300);
      if (last.length === 300 && last.filter((a) => a === "b").length > 150) return done + 50;
    }
    return Infinity;
  }

  it("with a 6 h half-life the new best arm takes the majority within 1,500 decisions; without decay not within 3,000", async () => {
    const withDecay = await run({ halfLifeHours: 6 }, 1500, 1);
    const without = await run(undefined, 3000, 1);
    expect(withDecay).toBeLessThanOrEqual(1500);
    expect(without).toBe(Infinity);
    console.log(
      `decay: new best arm has the majority of the last 300 after ${withDecay} decisions (no decay: never within 3,000)`,
    );
  });
});
