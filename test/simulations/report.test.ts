/**
 * The HTML report opens in a real headless browser (the packaged Chromium of test/helpers/browser.ts) with no
 * console errors and non-empty charts; it makes no network request.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseScenario } from "../../simulations/scenario.ts";
import { simulate } from "../../simulations/simulate.ts";
import { writeResults } from "../../simulations/report/write.ts";
import { launchBrowser, openPage } from "../helpers/browser.ts";
import { doubles } from "./doubles.ts";

const dir = mkdtempSync(join(tmpdir(), "adbandit-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("HTML report", () => {
  it("renders every chart in headless chromium without console errors", async () => {
    const s = parseScenario({
      name: "report-test",
      objective: "profit",
      arms: [
        { key: "a", rate: 0.02, value: 40, cost: 0.5 },
        { key: "b", rate: 0.05, value: 40, cost: 0.8 },
        { key: "c", rate: 0.03, value: 40, cost: 0.2 },
      ],
      traffic: { rounds: 3000, perHour: 100 },
      repetitions: 3,
      checkpoints: 30,
      strategies: [{ type: "thompson" }, { name: "even split", type: "uniform" }],
    });
    const result = await simulate(s, { workers: 0, resolve: doubles });
    const { dir: out } = writeResults(result, join(dir, "report-test-1"));
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).not.toMatch(/<script[^>]+src=/);

    const browser = await launchBrowser();
    try {
      const t = await openPage(browser, "simulation-report");
      const { page } = t;
      const requests: string[] = [];
      page.on("request", (r) => !r.url().startsWith("file:") && requests.push(r.url()));
      await page.goto(`file://${join(out, "report.html")}`);
      await page.waitForSelector("body[data-rendered=yes]", { timeout: 20_000 });
      await t.shot("report");
      t.check();
      expect(requests).toEqual([]);
      // Each canvas has drawn pixels: some non-transparent alpha in its bitmap.
      const painted = await page.$$eval("canvas", (cs) =>
        cs.map((c) => {
          // No DOM lib in this tsconfig: the canvas API typed structurally.
          const cv = c as unknown as {
            id: string;
            width: number;
            height: number;
            getContext(k: "2d"): {
              getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
            };
          };
          const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
          let n = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
          return { id: cv.id, w: cv.width, h: cv.height, painted: n };
        }),
      );
      // regret, conversions, revenue, profit, roi, best-arm share + one share chart per strategy
      expect(painted.map((p) => p.id)).toEqual([
        "regret",
        "conversions",
        "revenue",
        "profit",
        "roi",
        "bestShare",
        "share-0",
        "share-1",
      ]);
      for (const p of painted) {
        expect(p.w * p.h, p.id).toBeGreaterThan(0);
        expect(p.painted, `canvas ${p.id} is blank`).toBeGreaterThan(500);
      }
    } finally {
      await browser.close();
    }
  });
});
