/**
 * /docs renders Swagger UI in the packaged Chromium with every request answered by the service itself:
 * no request leaves the machine, no console error, and the operations of the OpenAPI document are listed.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, listen, openPage } from "../helpers/browser.ts";
import { type Harness, startHarness } from "../helpers/service.ts";

let h: Harness;
let server: { url: string; close(): Promise<void> };
let browser: Browser;
beforeAll(async () => {
  h = await startHarness();
  server = await listen((req) => h.service.app.fetch(req));
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await h?.close();
});

describe("/docs", () => {
  it("renders the API reference offline", async () => {
    const t = await openPage(browser, "docs");
    await t.page.goto(`${server.url}/docs`);
    await t.page.waitForSelector("body[data-rendered=yes]", { timeout: 30_000 });
    await t.page.waitForSelector(".opblock");
    const paths = await t.page.$$eval(".opblock-summary-path", (els) => els.map((e) => e.textContent ?? ""));
    expect(paths).toContain("/v1/campaigns");
    expect(paths.length).toBeGreaterThan(10);
    await t.shot("docs");
    t.check();
  });

  it("serves only the assets it names", async () => {
    expect((await h.get("/assets/swagger-ui-bundle.js")).status).toBe(200);
    expect((await h.get("/assets/..%2Fpackage.json")).status).toBe(404);
    expect((await h.get("/assets/nothing.js")).status).toBe(404);
  });
});
