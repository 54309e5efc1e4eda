/**
 * Arms mid-flight: an added arm starts at the prior and gets served; a paused or archived arm is never
 * served again (until resumed, for paused); a key is never reused; GET arms reports per-arm statistics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  armsByKey,
  createCampaign,
  creativeCampaign,
  decide,
  expectError,
  expectInvalid,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 7 });
  ws = await h.workspace("arms");
});
afterAll(async () => {
  await h?.close();
});

async function servedKeys(campaignId: string, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const d = await decide(ws, campaignId);
    expect(d.status).toBe(201);
    counts.set(d.body.arm.key, (counts.get(d.body.arm.key) ?? 0) + 1);
  }
  return counts;
}

describe("arm lifecycle", () => {
  it("a paused arm is never served; resumed, it is served again", async () => {
    const id = await createCampaign(ws);
    const p = await ws.patch(`/v1/campaigns/${id}/arms/b`, { status: "paused" });
    expect(p.status).toBe(200);
    const counts = await servedKeys(id, 60);
    expect(counts.get("b") ?? 0).toBe(0);
    expect((counts.get("a") ?? 0) + (counts.get("c") ?? 0)).toBe(60);

    expect((await ws.patch(`/v1/campaigns/${id}/arms/b`, { status: "active" })).status).toBe(200);
    const again = await servedKeys(id, 60);
    expect(again.get("b") ?? 0).toBeGreaterThan(0);
  });

  it("an archived arm is never served, and its key cannot be added again (409)", async () => {
    const id = await createCampaign(ws);
    expect((await ws.patch(`/v1/campaigns/${id}/arms/a`, { status: "archived" })).status).toBe(200);
    const counts = await servedKeys(id, 60);
    expect(counts.get("a") ?? 0).toBe(0);
    expectError(await ws.post(`/v1/campaigns/${id}/arms`, { key: "a", name: "again" }), 409);
  });

  it("adding an arm whose key exists answers 409", async () => {
    const id = await createCampaign(ws);
    expectError(await ws.post(`/v1/campaigns/${id}/arms`, { key: "c" }), 409);
  });

  it("an arm added mid-flight starts at the prior and gets served", async () => {
    const id = await createCampaign(ws);
    await servedKeys(id, 30);
    const r = await ws.post(`/v1/campaigns/${id}/arms`, { key: "d", name: "Creative D", metadata: { v: 4 } });
    expect(r.status).toBe(201);
    const arms = await armsByKey(ws, id);
    expect(arms.d).toBeDefined();
    expect(arms.d.decisions).toBe(0);
    expect(arms.d.status).toBe("active");
    const counts = await servedKeys(id, 80);
    expect(counts.get("d") ?? 0).toBeGreaterThan(0);
  });

  it("when every arm is paused, deciding answers 409 rather than serving a paused arm", async () => {
    const id = await createCampaign(ws, creativeCampaign({ arms: [{ key: "only" }] }));
    expect((await ws.patch(`/v1/campaigns/${id}/arms/only`, { status: "paused" })).status).toBe(200);
    expectError(await decide(ws, id), 409);
  });

  it("an archived arm cannot be resumed (409)", async () => {
    const id = await createCampaign(ws);
    expect((await ws.patch(`/v1/campaigns/${id}/arms/c`, { status: "archived" })).status).toBe(200);
    expectError(await ws.patch(`/v1/campaigns/${id}/arms/c`, { status: "active" }), 409);
  });
});

describe("a paused arm is never served, whatever the strategy", () => {
  for (const type of [
    "gaussian_thompson",
    "top_two_thompson",
    "ucb1",
    "epsilon_greedy",
    "softmax",
    "linucb",
    "lin_ts",
    "logistic_ts",
  ]) {
    it(type, async () => {
      const contextual = ["linucb", "lin_ts", "logistic_ts"].includes(type);
      const id = await createCampaign(
        ws,
        creativeCampaign({
          strategy: { type },
          ...(contextual ? { contextFeatures: [{ name: "x", type: "numeric" }] } : {}),
        }),
      );
      expect((await ws.patch(`/v1/campaigns/${id}/arms/b`, { status: "paused" })).status).toBe(200);
      const r = await ws.post("/v1/decisions/batch", {
        requests: Array.from({ length: 200 }, (_, i) => ({
          campaignId: id,
          ...(contextual ? { context: { x: (i % 7) - 3 } } : {}),
        })),
      });
      expect(r.status).toBe(200);
      const keys = (r.body.decisions as Array<{ arm: { key: string } }>).map((d) => d.arm.key);
      expect(keys).not.toContain("b");
      expect(new Set(keys)).toEqual(new Set(["a", "c"]));
    });
  }
});

describe("GET /v1/campaigns/{id}/arms", () => {
  it("reports every arm with counts, posterior mean and 95% interval, P(best) and share", async () => {
    const id = await createCampaign(ws);
    const counts = await servedKeys(id, 20);
    const arms = await armsByKey(ws, id);
    expect(Object.keys(arms).sort()).toEqual(["a", "b", "c"]);
    let pBest = 0;
    let share = 0;
    for (const [key, a] of Object.entries(arms)) {
      expect(a.status).toBe("active");
      expect(a.decisions).toBe(counts.get(key) ?? 0);
      expect(a.conversions).toBe(0);
      expect(typeof a.revenue).toBe("number");
      expect(typeof a.cost).toBe("number");
      const mean = a.posteriorMean as number;
      const [lo, hi] = interval(a);
      expect(lo).toBeLessThanOrEqual(mean);
      expect(mean).toBeLessThanOrEqual(hi);
      pBest += a.probabilityBest as number;
      share += a.trafficShare as number;
    }
    expect(pBest).toBeCloseTo(1, 2);
    expect(share).toBeCloseTo(1, 2);
  });

  it("PATCH of an unknown arm key answers 404; a bad status 400", async () => {
    const id = await createCampaign(ws);
    expectError(await ws.patch(`/v1/campaigns/${id}/arms/zzz`, { status: "paused" }), 404);
    expectInvalid(await ws.patch(`/v1/campaigns/${id}/arms/a`, { status: "sleeping" }), "status");
  });

  it("adding an arm with an invalid body names the field", async () => {
    const id = await createCampaign(ws);
    expectInvalid(await ws.post(`/v1/campaigns/${id}/arms`, { name: "no key" }), "key");
    expectInvalid(await ws.post(`/v1/campaigns/${id}/arms`, { key: "n", cost: -3 }), "cost");
  });
});

/** The 95% interval of an arm row, as [low, high]. */
function interval(a: Record<string, unknown>): [number, number] {
  const v = a.interval95 as unknown;
  if (Array.isArray(v)) return [v[0] as number, v[1] as number];
  const o = v as { low: number; high: number };
  return [o.low, o.high];
}
