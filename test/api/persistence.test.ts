/**
 * Restart persistence: decisions and accepted feedback survive closing the service and building a new one
 * on the same database (a PGlite folder on disk, or PostgreSQL): same campaigns, arms and statistics, and
 * events already received are still recognised as duplicates.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  armsByKey,
  createCampaign,
  creativeCampaign,
  decide,
  eventId,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ persistent: true, seed: 3 });
  ws = await h.workspace("persist");
});
afterAll(async () => {
  await h?.close();
});

describe("restart", () => {
  it("resumes with the same campaigns, arm statistics and idempotency keys", async () => {
    const conv = await createCampaign(ws);
    const rev = await createCampaign(
      ws,
      creativeCampaign({ name: "rev", objective: "revenue", strategy: { type: "gaussian_thompson" } }),
    );
    const events = [];
    for (let i = 0; i < 40; i++) {
      const d = (await decide(ws, i % 2 ? conv : rev)).body;
      if (i % 3 === 0)
        events.push({ id: eventId("p"), decisionId: d.decisionId, type: "conversion", value: 2 + (i % 5) });
    }
    const paused = await ws.patch(`/v1/campaigns/${conv}/arms/c`, { status: "paused" });
    expect(paused.status).toBe(200);
    const added = await ws.post(`/v1/campaigns/${conv}/arms`, { key: "d" });
    expect(added.status).toBe(201);
    expect((await ws.post("/v1/events", { events })).body.accepted).toBe(events.length);

    const before = { conv: await armsByKey(ws, conv), rev: await armsByKey(ws, rev) };
    const campaignsBefore = (await ws.get("/v1/campaigns")).body;

    await h.restart();

    // The learned delay model and the delay-aware posterior are functions of the clock (a pending decision
    // weighs F(its age)), so they are compared apart: the model's source and evidence exactly, the rest to
    // a tolerance that a second or two of elapsed time cannot break.
    const withoutModel = (b: { campaigns: Record<string, unknown>[] }) =>
      b.campaigns.map(({ delayModel, ...rest }) => ({
        ...rest,
        model: delayModel && { ...(delayModel as object), medianHours: 0, p95Hours: 0, mu: 0, sigma: 0 },
      }));
    const campaignsAfter = (await ws.get("/v1/campaigns")).body;
    expect(withoutModel(campaignsAfter)).toEqual(withoutModel(campaignsBefore));
    const after = { conv: await armsByKey(ws, conv), rev: await armsByKey(ws, rev) };
    for (const c of ["conv", "rev"] as const) {
      expect(Object.keys(after[c]).sort()).toEqual(Object.keys(before[c]).sort());
      for (const k of Object.keys(before[c])) {
        const b = before[c][k];
        const a = after[c][k];
        expect(a.status).toBe(b.status);
        expect(a.decisions).toBe(b.decisions);
        expect(a.conversions).toBe(b.conversions);
        expect(a.revenue as number).toBeCloseTo(b.revenue as number, 9);
        expect(a.posteriorMean as number).toBeCloseTo(b.posteriorMean as number, 3);
      }
    }
    // a resend after the restart is still a duplicate
    const again = await ws.post("/v1/events", { events });
    expect(again.body).toMatchObject({ accepted: 0, duplicates: events.length });
    // the paused arm stays paused
    for (let i = 0; i < 30; i++) expect((await decide(ws, conv)).body.arm.key).not.toBe("c");
  });
});
