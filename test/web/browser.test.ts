/**
 * The browser helper itself: the packaged Chromium starts, a request that leaves the machine is aborted and
 * recorded, and a console error is caught — so `check()` can fail.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { isLocal, launchBrowser, openPage } from "../helpers/browser.ts";

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("browser helper", () => {
  it("tells local addresses from the rest", () => {
    expect(isLocal("http://127.0.0.1:3000/x")).toBe(true);
    expect(isLocal("http://localhost/x")).toBe(true);
    expect(isLocal("http://[::1]:8080/")).toBe(true);
    expect(isLocal("data:text/plain,hi")).toBe(true);
    expect(isLocal("https://cdn.jsdelivr.net/npm/x")).toBe(false);
    expect(isLocal("http://127.0.0.1.example.com/")).toBe(false);
  });

  it("aborts requests that leave the machine and records console errors", async () => {
    const t = await openPage(browser, "helper");
    await t.page.setContent(
      `<html><body><h1>hi</h1><script>console.error("boom")</script><img src="https://cdn.example.com/x.png"></body></html>`,
    );
    await t.page.waitForLoadState("load");
    expect(t.offMachine).toEqual(["https://cdn.example.com/x.png"]);
    expect(t.errors.some((e) => e.startsWith("boom"))).toBe(true);
    expect(() => t.check()).toThrow();
    expect(await t.page.textContent("h1")).toBe("hi");
    await t.context.close();
  });
});
