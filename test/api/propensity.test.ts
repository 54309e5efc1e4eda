/**
 * The logged propensity is the probability with which the arm was chosen — checked black-box with the
 * inverse-propensity identity: for every arm k whose probability stays positive (exploration floor > 0),
 * E[1{a_t = k} / p_t(k)] = 1 at every step, whatever the history (a martingale argument), so the mean over
 * N decisions of w_t = 1{a_t = k} / propensity_t must be 1 within sampling error. A propensity logged
 * before the floor, or 1 for a deterministic choice, or the pmf of another state, breaks it by far.
 *
 * Tolerance: 5 standard errors estimated from the weights themselves (+0.02), a two-sided test at about
 * α = 1e-6 under the normal approximation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import { createCampaign, creativeCampaign, startHarness, type Harness, type Workspace } from "../helpers/service.ts";

const N = 1500;
const ARMS = ["a", "b", "c"];

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 31 });
  ws = await h.workspace("propensity");
});
afterAll(async () => {
  await h?.close();
});

const contextFeatures = [
  { name: "x1", type: "numeric" },
  { name: "seg", type: "categorical", values: ["p", "q"] },
];

const cases: Array<{
  label: string;
  strategy: Record<string, unknown>;
  contextual?: boolean;
  convert?: Record<string, number>;
}> = [
  { label: "thompson", strategy: { type: "thompson" }, convert: { a: 0.05, b: 0.1, c: 0.2 } },
  {
    label: "epsilon_greedy ε = 0.2",
    strategy: { type: "epsilon_greedy", epsilon: 0.2 },
    convert: { a: 0.05, b: 0.1, c: 0.2 },
  },
  { label: "softmax", strategy: { type: "softmax", temperature: 0.5 }, convert: { a: 0.05, b: 0.1, c: 0.2 } },
  { label: "ucb1 (deterministic, floor only)", strategy: { type: "ucb1" }, convert: { a: 0.05, b: 0.1, c: 0.2 } },
  {
    label: "lin_ts with contexts",
    strategy: { type: "lin_ts" },
    contextual: true,
    convert: { a: 0.1, b: 0.1, c: 0.1 },
  },
];

describe("logged propensities satisfy E[1{a = k} / p] = 1 (exploration floor 0.05)", () => {
  for (const c of cases) {
    it(c.label, { timeout: 120_000 }, async () => {
      const id = await createCampaign(
        ws,
        creativeCampaign({
          name: c.label,
          strategy: c.strategy,
          explorationFloor: 0.05,
          arms: ARMS.map((key) => ({ key })),
          ...(c.contextual ? { contextFeatures } : {}),
        }),
      );
      const env = new Mulberry32(99);
      const w: Record<string, number[]> = Object.fromEntries(ARMS.map((k) => [k, []]));
      for (let done = 0; done < N; done += 100) {
        const requests = Array.from({ length: 100 }, () => ({
          campaignId: id,
          ...(c.contextual ? { context: { x1: env.next() * 2 - 1, seg: env.next() < 0.5 ? "p" : "q" } } : {}),
        }));
        const r = await ws.post("/v1/decisions/batch", { requests });
        expect(r.status).toBe(200);
        const events = [];
        for (const d of r.body.decisions as Array<{ decisionId: string; arm: { key: string }; propensity: number }>) {
          expect(d.propensity).toBeGreaterThanOrEqual(0.05 - 1e-9);
          expect(d.propensity).toBeLessThanOrEqual(1);
          for (const k of ARMS) w[k].push(d.arm.key === k ? 1 / d.propensity : 0);
          if (c.convert && env.next() < c.convert[d.arm.key])
            events.push({ id: `c-${d.decisionId}`, decisionId: d.decisionId, type: "conversion" });
        }
        if (events.length) expect((await ws.post("/v1/events", { events })).status).toBe(200);
      }
      for (const k of ARMS) {
        const xs = w[k];
        const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
        const se = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1) / xs.length);
        expect(Math.abs(mean - 1), `arm ${k}: mean weight ${mean.toFixed(3)}, se ${se.toFixed(3)}`).toBeLessThan(
          5 * se + 0.02,
        );
      }
    });
  }
});
