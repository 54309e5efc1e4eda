/**
 * GET /v1/campaigns/{id}/arms rounds money and the posterior (mean and 95% interval) like the reports
 * (reports/round.ts: 2 decimals from 1 up, 4 significant digits below) unless precision=full; P(best) and
 * the traffic share stay exact. Fixtures are imported decisions (the arm of each is chosen, so the
 * posterior has a closed form) older than the attribution window (matured: each trial weighs fully).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { jStat } from "../../strategies/jstat.ts";
import {
  createCampaign,
  creativeCampaign,
  expectInvalid,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 3 });
  ws = await h.workspace("precision");
});
afterAll(() => h?.close());

const DAY = 86_400_000;

async function history(id: string, arm: string, n: number, conversions: number[]) {
  const t0 = Date.now() - 10 * DAY;
  const ds = Array.from({ length: n }, (_, i) => ({
    decisionId: randomUUID(),
    armKey: arm,
    propensity: 0.5,
    decidedAt: new Date(t0 + i * 1000).toISOString(),
  }));
  expect((await ws.post(`/v1/campaigns/${id}/decisions/import`, { decisions: ds })).body.accepted).toBe(n);
  const events = conversions.map((value, i) => ({
    id: randomUUID(),
    decisionId: ds[i].decisionId,
    type: "conversion",
    value,
    occurredAt: new Date(t0 + i * 1000 + 60_000).toISOString(),
  }));
  if (events.length) expect((await ws.post("/v1/events", { events })).body.accepted).toBe(events.length);
}

const arm = async (id: string, key: string, query = "") =>
  (await ws.get(`/v1/campaigns/${id}/arms${query}`)).body.arms.find((a: { key: string }) => a.key === key);

it("conversions: the Beta posterior's mean and interval to 4 significant digits; full on request", async () => {
  const id = await createCampaign(ws);
  await history(id, "a", 7, [0, 0]); // Beta(1 + 2, 1 + 5)
  const rounded = await arm(id, "a");
  const full = await arm(id, "a", "?precision=full");
  expect(full.posteriorMean).toBe(3 / 9);
  expect(rounded.posteriorMean).toBe(0.3333);
  const lo = jStat.beta.inv(0.025, 3, 6);
  const hi = jStat.beta.inv(0.975, 3, 6);
  expect(full.interval95).toEqual([lo, hi]);
  expect(rounded.interval95).toEqual([Number(lo.toPrecision(4)), Number(hi.toPrecision(4))]);
  expect(rounded.interval95[0]).not.toBe(lo);
  // Probabilities are not rounded: the same in both answers.
  expect(rounded.probabilityBest).toBe(full.probabilityBest);
  expect(rounded.trafficShare).toBe(full.trafficShare);
});

it("revenue: a mean of 1 or more to 2 decimals, money too", async () => {
  const id = await createCampaign(
    ws,
    creativeCampaign({ objective: "revenue", arms: [{ key: "a", cost: 0.0123 }, { key: "b" }] }),
  );
  await history(id, "a", 3, [10, 20, 3.333]);
  const rounded = await arm(id, "a");
  const full = await arm(id, "a", "?precision=full");
  expect(full.posteriorMean).toBeCloseTo(33.333 / 3, 12);
  expect(rounded.posteriorMean).toBe(11.11);
  expect(rounded.revenue).toBe(33.33);
  expect(full.revenue).toBeCloseTo(33.333, 12);
  expect(rounded.spend).toBe(0.0369);
  for (const [i, v] of full.interval95.entries())
    expect(rounded.interval95[i]).toBe(Math.abs(v) >= 1 ? Math.round(v * 100) / 100 : Number(v.toPrecision(4)));
});

it("an unknown precision is a 400 naming it", async () => {
  const id = await createCampaign(ws);
  expectInvalid(await ws.get(`/v1/campaigns/${id}/arms?precision=exact`), "precision");
});
