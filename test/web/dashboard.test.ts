/**
 * The dashboard driven as a marketer would, in the packaged Chromium against a real listening service: sign in
 * with a workspace key, create a campaign (an invalid field first: the API's message beside it), send
 * decisions and events through the API and see the figures change, open the segment view, confirm an anomaly
 * and block its source, run an uploaded simulation and open its report, sign out. Every page: no console
 * error, no request leaving the machine; screenshots in test-artifacts/screenshots/ (1280×800 and phone width).
 * Also: the session cookie's attributes, CSRF and cross-origin refusals.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulationRunner } from "../../src/api/routes/simulations.ts";
import { CachedFraudGate } from "../../src/fraud/gate.ts";
import { scanCampaign } from "../../src/fraud/scan.ts";
import { launchBrowser, listen, openPage, type TestPage } from "../helpers/browser.ts";
import { type Harness, startHarness, type Workspace } from "../helpers/service.ts";
import { storedEntity } from "../helpers/privacy.ts";

const BROWSER_UA =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

let h: Harness;
let ws: Workspace;
let server: { url: string; close(): Promise<void> };
let browser: Browser;
let t: TestPage;
let campaignId: string;
const dir = mkdtempSync(join(tmpdir(), "adbandit-dash-"));

beforeAll(async () => {
  // The traffic below is dated over the last 20 minutes (so the fraud scan's windows hold it): a simulated
  // timeline, hence a clock-skew tolerance wider than the service's default 5 minutes.
  h = await startHarness({ seed: 99, clockSkewToleranceMs: 3_600_000 });
  h.service.deps.engine.setFraudGate(new CachedFraudGate());
  ws = await h.workspace("marketing");
  server = await listen((req) => h.service.app.fetch(req));
  browser = await launchBrowser();
  t = await openPage(browser, "dashboard");
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (h) {
    await simulationRunner(h.service.deps).close();
    await simulationRunner(h.service.deps).idle();
    await h.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

const go = async (path: string) => {
  await t.page.goto(`${server.url}${path}`);
  await t.page.waitForSelector("body[data-rendered=yes]");
};
const text = async (sel: string) => ((await t.page.locator(sel).first().textContent()) ?? "").trim();

/** Decisions for the campaign through the API, with conversions mostly on "green"; returns what was sent. */
async function traffic(n: number, offset: number) {
  const T0 = Date.now() - 20 * 60_000;
  const events: unknown[] = [];
  let conversions = 0;
  for (let i = 0; i < n; i++) {
    const device = i % 3 === 0 ? "phone" : "desktop";
    const d = (await ws.post(`/v1/campaigns/${campaignId}/decisions`, { context: { device } })).body;
    const at = new Date(T0 + i * 1000).toISOString();
    const src = { ip: `10.2.${offset}.${i % 250}`, userAgent: BROWSER_UA };
    events.push({
      id: `d-${offset}-${i}-imp`,
      decisionId: d.decisionId,
      type: "impression",
      occurredAt: at,
      source: src,
    });
    const p = d.arm.key === "green" ? 0.4 : 0.1;
    if ((i * 7919) % 100 < p * 100) {
      events.push({
        id: `d-${offset}-${i}-conv`,
        decisionId: d.decisionId,
        type: "conversion",
        value: 25,
        occurredAt: at,
        source: src,
      });
      conversions++;
    }
  }
  const r = await ws.post("/v1/events", { events });
  expect(r.body.rejected).toBe(0);
  return { decisions: n, conversions };
}

describe("the dashboard, as a marketer uses it", () => {
  it("signs in with a workspace key (a wrong one is refused, beside the field)", async () => {
    await go("/");
    expect(new URL(t.page.url()).pathname).toBe("/login");
    await t.page.getByLabel("Workspace API key").fill("ab_not-a-key");
    await t.page.getByRole("button", { name: "Sign in" }).click();
    await t.page.waitForSelector("#f-apiKey-error");
    expect(await text("#f-apiKey-error")).toContain("not valid");
    // The refused sign-in answers 401, which the browser logs as a failed resource: not a page error.
    t.errors.length = 0;
    await t.page.getByLabel("Workspace API key").fill(ws.apiKey);
    await t.page.getByRole("button", { name: "Sign in" }).click();
    await t.page.waitForURL(/\/campaigns$/);
    const cookie = (await t.context.cookies()).find((c) => c.name === "ab_session")!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe("Strict");
    expect(cookie.value).not.toContain(ws.apiKey);
    await t.shot("01-campaigns-empty");
    t.check();
  });

  it("creates a campaign: the API's validation message shows beside the field, then it is created", async () => {
    await go("/campaigns");
    await t.page.getByLabel("Name", { exact: true }).fill("Spring email");
    await t.page.getByLabel("Attribution window (hours)").fill("-5");
    await t.page.getByLabel("Arms").fill("green, Green banner\nblue, Blue banner, 0.05");
    await t.page.getByLabel("Context features").fill("device:categorical");
    await t.page.getByRole("button", { name: "Create campaign" }).click();
    await t.page.waitForSelector("#f-attributionWindowHours-error");
    const api = await ws.post("/v1/campaigns", {
      name: "Spring email",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      attributionWindowHours: -5,
      arms: [{ key: "green" }],
    });
    const apiMessage = api.body.error.details.find(
      (d: { path: string }) => d.path === "attributionWindowHours",
    ).message;
    expect(await text("#f-attributionWindowHours-error")).toBe(apiMessage);
    expect(await t.page.getByLabel("Attribution window (hours)").getAttribute("aria-invalid")).toBe("true");
    await t.shot("02-create-error");
    t.errors.length = 0; // the 400 answer of the refused form
    await t.page.getByLabel("Attribution window (hours)").fill("72");
    await t.page.getByRole("button", { name: "Create campaign" }).click();
    await t.page.waitForURL(/\/campaigns\/[0-9a-f-]{36}$/);
    campaignId = new URL(t.page.url()).pathname.split("/").pop()!;
    await t.page.waitForSelector("body[data-rendered=yes]");
    expect(await text("[data-verdict]")).toBe("No decisions in this period yet.");
    expect(await text("[data-figure=decisions]")).toBe("0");
    t.check();
  });

  it("shows the figures change as decisions and events arrive through the API", async () => {
    const sent = await traffic(150, 1);
    await go(`/campaigns/${campaignId}`);
    expect(await text("[data-figure=decisions]")).toBe(String(sent.decisions));
    expect(await text("[data-figure=conversions]")).toBe(String(sent.conversions));
    const report = (await ws.get(`/v1/campaigns/${campaignId}/report`)).body;
    expect(await text("[data-verdict]")).toBe(report.verdict);
    expect(report.verdict).toMatch(/^"(green|blue)" (is best|leads)/);
    // Per arm rows agree with the API's report.
    for (const a of report.total.arms) {
      expect(await text(`tr[data-arm="${a.armKey}"] [data-col=decisions]`)).toBe(String(a.decisions));
      expect(await text(`tr[data-arm="${a.armKey}"] [data-col=conversions]`)).toBe(String(a.conversions));
    }
    const painted = await t.page.$eval("#shares", (c) => {
      const cv = c as unknown as {
        width: number;
        height: number;
        getContext(k: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
      };
      const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
      return n;
    });
    expect(painted).toBeGreaterThan(500);
    await t.shot("03-campaign");

    const more = await traffic(60, 2);
    await go(`/campaigns/${campaignId}?period=day`);
    expect(await text("[data-figure=decisions]")).toBe(String(sent.decisions + more.decisions));
    expect(await text("[data-figure=conversions]")).toBe(String(sent.conversions + more.conversions));
    t.check();
  });

  it("pauses an arm and adds one", async () => {
    await go(`/campaigns/${campaignId}`);
    await t.page.getByRole("button", { name: "Pause blue" }).click();
    await t.page.waitForSelector('tr[data-arm="blue"] .badge.paused');
    await t.page.getByLabel("New arm key").fill("red");
    await t.page.getByRole("button", { name: "Add arm" }).click();
    await t.page.waitForSelector('tr[data-arm="red"]');
    const arms = (await ws.get(`/v1/campaigns/${campaignId}/arms`)).body.arms;
    expect(arms.map((a: { key: string; status: string }) => [a.key, a.status])).toEqual([
      ["green", "active"],
      ["blue", "paused"],
      ["red", "active"],
    ]);
    t.check();
  });

  it("opens the segment view: one row group per device, as the API's segment report", async () => {
    await go(`/campaigns/${campaignId}`);
    await t.page.getByLabel("Context feature").selectOption("device");
    await t.page.getByRole("button", { name: "Break down" }).click();
    await t.page.waitForSelector("[data-segments=device]");
    await t.page.waitForSelector("body[data-rendered=yes]");
    const api = (await ws.get(`/v1/campaigns/${campaignId}/report?segment=device`)).body.segments;
    const levels = await t.page.$$eval("[data-segments] tr.group", (rows) =>
      rows.map((r) => r.getAttribute("data-segment")),
    );
    expect(levels).toEqual(api.segments.map((s: { segment: string }) => s.segment));
    expect(levels).toEqual(["desktop", "phone"]);
    // The segment CSV downloads in the session (no API key in the browser).
    const csvHref = await t.page.getByRole("link", { name: "Segments as CSV" }).getAttribute("href");
    const csv = await t.page.request.get(`${server.url}${csvHref}`);
    expect(csv.status()).toBe(200);
    expect((await csv.text()).split("\r\n")[0]).toMatch(/^feature,segment,segment_share,arm,decisions/);
    await t.page.locator("#segments").scrollIntoViewIfNeeded();
    await t.shot("04-segments");
    t.check();
  });

  it("runs an off-policy evaluation of a chosen policy on the campaign's log", async () => {
    await go(`/campaigns/${campaignId}`);
    await t.page.getByLabel("Policy", { exact: true }).selectOption("arm:green");
    await t.page.getByRole("button", { name: "Evaluate" }).click();
    await t.page.waitForSelector("[data-evaluation]");
    expect(await text("[data-evaluation] caption")).toContain("arm:green");
    const api = await ws.post("/v1/evaluations", { campaignId, policy: "arm:green", bootstrap: 100 });
    const names = await t.page.$$eval("[data-evaluation] tbody th", (ths) => ths.map((x) => x.textContent));
    expect(names).toEqual(api.body.estimates.map((e: { estimator: string }) => e.estimator));
    t.check();
  });

  it("confirms an anomaly with a note and blocks its source in one click", async () => {
    // One IP double-clicks three decisions: the duplicate-click detector flags it at the next scan.
    const decs = (await ws.post(`/v1/campaigns/${campaignId}/decisions`, {})).body;
    const at = new Date(Date.now() - 5 * 60_000).toISOString();
    const clicks = [];
    for (let i = 0; i < 3; i++) {
      const d = i === 0 ? decs : (await ws.post(`/v1/campaigns/${campaignId}/decisions`, {})).body;
      for (const k of [0, 1])
        clicks.push({
          id: `dup-${i}-${k}`,
          decisionId: d.decisionId,
          type: "click",
          occurredAt: at,
          source: { ip: "203.0.113.50", userAgent: BROWSER_UA },
        });
    }
    expect((await ws.post("/v1/events", { events: clicks })).body.rejected).toBe(0);
    await scanCampaign(h.service.deps.db, { id: campaignId, workspaceId: ws.id }, new Date(), {
      recompute: (id) => h.service.deps.engine.recompute(id),
    });
    // Sources are stored pseudonymised (/24, keyed hash): the page shows and blocks the stored form.
    const src = await storedEntity(h.service.deps.db, ws.id, "ip", "203.0.113.50");
    await go("/anomalies");
    const card = t.page.locator("article.anomaly", { hasText: src }).first();
    await card.getByLabel("Note").fill("same bot as last week");
    await card.getByRole("button", { name: "Confirm" }).click();
    await t.page.waitForSelector(".flash");
    expect(await text(".flash")).toBe("Finding confirmed.");
    const found = (await ws.get(`/v1/anomalies?campaignId=${campaignId}`)).body.anomalies.find(
      (a: { entity: string }) => a.entity === src,
    );
    expect(found).toMatchObject({ status: "confirmed", reviewNote: "same bot as last week" });
    await t.page
      .locator("article.anomaly", { hasText: src })
      .first()
      .getByRole("button", { name: `Block ip ${src}`, exact: true })
      .click();
    await t.page.waitForSelector(".flash");
    expect(await text(".flash")).toBe(`Blocked ip ${src}.`);
    const blocked = (await ws.get("/v1/blocklist")).body.entries;
    expect(blocked.map((b: { entity: string }) => b.entity)).toContain(src);
    await t.shot("05-anomalies");
    t.check();
  });

  it("runs an uploaded simulation, follows its progress and opens its report", async () => {
    const file = join(dir, "tiny.json");
    writeFileSync(
      file,
      JSON.stringify({
        name: "tiny",
        arms: [
          { key: "a", rate: 0.02 },
          { key: "b", rate: 0.05 },
        ],
        traffic: { rounds: 3000 },
        repetitions: 3,
        checkpoints: 10,
        strategies: [{ type: "thompson" }, { type: "ucb1" }],
      }),
    );
    await go("/simulations");
    await t.page.getByLabel("Or upload a scenario (JSON or YAML)").setInputFiles(file);
    await t.page.getByRole("button", { name: "Run simulation" }).click();
    await t.page.waitForURL(/\/simulations$/);
    await t.page.waitForSelector("tr[data-simulation]");
    await t.page.waitForSelector("tr[data-simulation][data-status=done]", { timeout: 60_000 });
    expect(await text("tr[data-simulation] [data-col=progress]")).toBe("3/3");
    await t.shot("06-simulations");
    const href = await t.page.locator("tr[data-simulation] [data-col=report]").getAttribute("href");
    await t.page.goto(`${server.url}${href}`);
    await t.page.waitForSelector("body[data-rendered=yes]");
    expect(await t.page.locator("canvas").count()).toBeGreaterThan(3);
    await t.shot("07-simulation-report");
    t.check();
  });

  it("reads at phone width", async () => {
    const phone = await openPage(browser, "dashboard-phone", { width: 390, height: 844 });
    await phone.context.addCookies(await t.context.cookies());
    await phone.page.goto(`${server.url}/campaigns/${campaignId}`);
    await phone.page.waitForSelector("body[data-rendered=yes]");
    // Nothing wider than the screen but the scrolling tables.
    const overflow = await phone.page.evaluate(
      () =>
        (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement
          .scrollWidth,
    );
    expect(overflow).toBeLessThanOrEqual(390);
    await phone.shot("campaign");
    phone.check();
    await phone.context.close();
  });

  it("refuses forms without the CSRF token or from another origin; signs out", async () => {
    await go("/campaigns");
    const cookie = (await t.context.cookies()).find((c) => c.name === "ab_session")!;
    const post = (headers: Record<string, string>, body: string) =>
      h.service.app.request(`${server.url}/campaigns/${campaignId}/status`, {
        method: "POST",
        headers: {
          cookie: `ab_session=${cookie.value}`,
          "content-type": "application/x-www-form-urlencoded",
          ...headers,
        },
        body,
      });
    expect((await post({}, "status=paused")).status).toBe(403);
    const token = await t.page.locator("input[name=_csrf]").first().inputValue();
    expect((await post({ origin: "https://evil.example" }, `status=paused&_csrf=${token}`)).status).toBe(403);
    expect((await ws.get(`/v1/campaigns/${campaignId}`)).body.status).toBe("active");
    expect((await post({ origin: server.url }, `status=paused&_csrf=${token}`)).status).toBe(303);
    expect((await ws.get(`/v1/campaigns/${campaignId}`)).body.status).toBe("paused");

    await go("/campaigns");
    await t.page.getByRole("button", { name: "Sign out" }).click();
    await t.page.waitForURL(/\/login$/);
    expect((await t.context.cookies()).find((c) => c.name === "ab_session")).toBeUndefined();
    await go("/campaigns");
    expect(new URL(t.page.url()).pathname).toBe("/login");
    t.check();
  });

  it("a reader key signs in read-only: figures shown, no form that changes things", async () => {
    const k = await ws.post("/v1/keys", { name: "analyst", role: "reader" });
    expect(k.status).toBe(201);
    await go("/login");
    await t.page.getByLabel("Workspace API key").fill(k.body.key);
    await t.page.getByRole("button", { name: "Sign in" }).click();
    await t.page.waitForURL(/\/campaigns$/);
    await t.page.waitForSelector("[data-readonly]");
    expect(await t.page.getByRole("button", { name: "Create campaign" }).count()).toBe(0);
    await go(`/campaigns/${campaignId}`);
    expect(await text("[data-figure=decisions]")).not.toBe("0");
    expect(await t.page.getByRole("button", { name: "Add arm" }).isVisible()).toBe(false);
    expect(await t.page.getByRole("button", { name: "Resume" }).isVisible()).toBe(false);
    await t.shot("08-reader");
    t.check();
  });
});
