/**
 * A strategy that had to rescue its model (an observation too large for the ridge state dropped, an
 * ill-conditioned arm regularised or reset) says so on the campaign: `warnings` in GET /v1/campaigns/{id}.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createCampaign, creativeCampaign, startHarness, type Harness, type Workspace } from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 7 });
  ws = await h.workspace("warnings");
});
afterAll(async () => {
  await h?.close();
});

it("a linucb campaign fed extreme contexts keeps serving and shows what it handled", async () => {
  const id = await createCampaign(
    ws,
    creativeCampaign({ strategy: { type: "linucb" }, contextFeatures: [{ name: "age", type: "numeric" }] }),
  );
  const fresh = await ws.get(`/v1/campaigns/${id}`);
  expect(fresh.status).toBe(200);
  expect(fresh.body.warnings).toEqual([]);
  for (const [i, age] of [1e9, 1e-9, 1e9, 3, 1e9].entries()) {
    const d = await ws.post(`/v1/campaigns/${id}/decisions`, { context: { age } });
    expect(d.status).toBe(201);
    const e = await ws.post("/v1/events", {
      events: [{ id: `c-${i}`, decisionId: d.body.decisionId, type: "conversion" }],
    });
    expect(e.status).toBe(200);
  }
  // Bounded contexts (|x| ≤ 1e9) are handled without any rescue.
  expect((await ws.get(`/v1/campaigns/${id}`)).body.warnings).toEqual([]);

  // A state that did need one (here an observation whose xᵀA⁻¹x overflows, fed to the strategy itself, as a
  // statistic read back from an older database might) is shown on the campaign, and the campaign serves on.
  const live = await h.service.deps.engine.campaign(ws.id, id);
  live.impl.update(live.state, 0, 1, new Float64Array([1e200, 1]));
  const after = await ws.get(`/v1/campaigns/${id}`);
  expect(after.status).toBe(200);
  expect(after.body.warnings).toHaveLength(1);
  expect(after.body.warnings[0]).toMatch(/arm "a": an observation .* was dropped/);
  const d = await ws.post(`/v1/campaigns/${id}/decisions`, { context: { age: 2 } });
  expect(d.status).toBe(201);
});
