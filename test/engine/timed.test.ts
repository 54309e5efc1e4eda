import { describe, expect, it } from "vitest";
import { meanCdf } from "../../src/engine/delay.ts";
import { TimedStats } from "../../src/engine/timed.ts";

const H0 = 490_000;

describe("TimedStats", () => {
  it("records a conversion's delay in its decision's cohort, learns the model once per whole hour", () => {
    const t = new TimedStats(2, 0, { windowHours: 48, conversionDelay: { medianHours: 2, p95Hours: 6 } });
    for (let i = 0; i < 100; i++) t.trial(0, H0, { n: 1, sum: 0, sumSq: 0 });
    for (let i = 0; i < 30; i++) t.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 10 + i / 10);
    t.reward(0, H0, { n: 0, sum: 0, sumSq: 0 }, 1); // not a first conversion: no delay observation
    t.reward(0, H0, { n: 1, sum: 0, sumSq: 0 }, 60); // beyond the window: not a delay of the model
    expect(t.delays.cohorts.get(H0)!.reduce((a, b) => a + b, 0)).toBe(30);
    t.refresh(H0 + 20.5);
    expect(t.model.source).toBe("learned");
    expect(t.model.mu).toBeGreaterThan(Math.log(4)); // pulled far above the declared 2 h median
    const m = t.model;
    t.refresh(H0 + 20.9); // same hour: same model
    expect(t.model).toBe(m);
    expect(t.fold(0).n).toBeCloseTo(Math.max(100 * meanCdf(m, 19.9, 20.9), 31), 9);
    expect(t.fold(1).n).toBe(0);
  });
  it("learn: false keeps the declared prior; other countings need no model", () => {
    const fixed = new TimedStats(1, 0, {
      windowHours: 48,
      conversionDelay: { medianHours: 2, p95Hours: 6, learn: false },
    });
    fixed.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 10);
    fixed.refresh(H0 + 20);
    expect(fixed.model.source).toBe("declared");
    const at = new TimedStats(1, 0, { windowHours: 48, counting: "at-decision" });
    at.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 10);
    at.refresh(H0 + 20);
    expect(at.model.source).toBe("default");
  });
});
