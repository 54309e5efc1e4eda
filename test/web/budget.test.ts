/**
 * The campaign page's budget section (server-rendered, no browser): spend against the budget, pacing
 * status, exhaustion, the planned-vs-actual chart's data and the guardrail column per arm.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCampaign,
  creativeCampaign,
  decide,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 3 });
  ws = await h.workspace("budget-page");
});
afterAll(async () => {
  await h?.close();
});

async function page(path: string): Promise<string> {
  const login = await h.service.app.request("http://dash.test/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `apiKey=${encodeURIComponent(ws.apiKey)}`,
  });
  expect(login.status).toBe(303);
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const r = await h.service.app.request(`http://dash.test${path}`, { headers: { cookie } });
  expect(r.status).toBe(200);
  return r.text();
}

describe("campaign page: budget and pacing", () => {
  it("shows the exhausted budget, the plan chart and the guardrail per arm", async () => {
    const id = await createCampaign(
      ws,
      creativeCampaign({
        dailyBudget: 3,
        pacing: { mode: "even" },
        targetCpa: 2,
        arms: [
          { key: "a", cost: 1 },
          { key: "b", cost: 1 },
        ],
      }),
    );
    for (let i = 0; i < 6; i++) await decide(ws, id);
    const html = await page(`/campaigns/${id}`);
    expect(html).toContain('data-budget="exhausted"');
    expect(html).toMatch(/data-figure="spend-today"[^>]*>\s*3\.00 of 3\.00 USD/);
    expect(html).toContain("now (daily budget)");
    expect(html).toContain('data-chart="budget-chart"');
    expect(html).toContain('data-budget-arm="a"');
    expect(html).toContain("planned (cumulative)");
    // A campaign without any budget has no such section.
    const plain = await createCampaign(ws, creativeCampaign());
    expect(await page(`/campaigns/${plain}`)).not.toContain('id="budget"');
  });
});
