import { describe, expect, it } from "vitest";
import { bucketEntries } from "../../src/engine/buckets.ts";
import { meanCdf } from "../../src/engine/delay.ts";
import type { DomainError } from "../../src/engine/errors.ts";
import {
  checkTimedSettings,
  delayModelView,
  REFIT_SECONDS,
  TimedStats,
  timedFromStored,
} from "../../src/engine/timed.ts";

const H0 = 490_000;

describe("TimedStats", () => {
  it("records a conversion's delay in its decision's cohort, refits the model when the minute or the counts change", () => {
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
    t.refresh(H0 + 20.501); // same minute, same counts: same model
    expect(t.model).toBe(m);
    expect(t.fold(0).n).toBeCloseTo(Math.max(100 * meanCdf(m, 19.501, 20.501), 31), 9);
    t.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 12);
    t.refresh(H0 + 20.502);
    expect(t.model).not.toBe(m);
    expect(t.model.observations).toBe(31);
    expect(t.fold(1).n).toBe(0);
  });
  it("on new counts within a minute refits at most once per REFIT_SECONDS, unless asked now; a new minute refits", () => {
    const t = new TimedStats(1, 0, { windowHours: 48, conversionDelay: { medianHours: 2, p95Hours: 6 } });
    const s = 1 / 3600;
    const at = H0 + 20.5;
    t.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 10);
    t.refresh(at);
    expect(t.model.observations).toBe(1);
    expect(t.refitPending).toBe(false);
    t.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 11);
    t.refresh(at + 0.5 * s); // half a second later: the model in use stays, the refit is pending
    expect(t.model.observations).toBe(1);
    expect(t.refitPending).toBe(true);
    t.refresh(at + 0.6 * s, "now");
    expect(t.model.observations).toBe(2);
    expect(t.refitPending).toBe(false);
    t.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 12);
    t.refresh(at + 1.2 * s); // 0.6 s after the last fit
    expect(t.model.observations).toBe(2);
    t.refresh(at + (0.7 + REFIT_SECONDS) * s); // over a second after it
    expect(t.model.observations).toBe(3);
    // The fit is the same function of (counts, minute) however it was reached.
    const fresh = new TimedStats(1, 0, { windowHours: 48, conversionDelay: { medianHours: 2, p95Hours: 6 } });
    for (const d of [10, 11, 12]) fresh.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, d);
    fresh.refresh(at + 1.8 * s);
    expect(fresh.model).toEqual(t.model);
    t.reward(0, H0, { n: 1, sum: 1, sumSq: 1 }, 13);
    const nextMinute = Math.floor((at + 1.8 * s) * 60 + 1) / 60;
    t.refresh(nextMinute); // a new minute refits at once
    expect(t.model.observations).toBe(4);
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

describe("timedFromStored", () => {
  it("all-time totals minus the recent buckets as base: old bucket rows can go, the fold is unchanged", async () => {
    const { Mulberry32 } = await import("../../strategies/rng.ts");
    const { addStats, zeroStats } = await import("../../src/engine/stats.ts");
    const rng = new Mulberry32(5);
    const opts = { windowHours: 48 };
    const ref = new TimedStats(2, 0, opts);
    const allTime = new Map([
      ["a", zeroStats(0)],
      ["b", zeroStats(0)],
    ]);
    for (let h = 0; h < 120; h++)
      for (let i = 0; i < 50; i++) {
        const arm = rng.next() < 0.5 ? 0 : 1;
        const key = arm === 0 ? "a" : "b";
        ref.trial(arm, H0 + h, { n: 1, sum: 0, sumSq: 0 });
        addStats(allTime.get(key)!, { n: 1, sum: 0, sumSq: 0 });
        if (rng.next() < 0.1) {
          ref.reward(arm, H0 + h, { n: 1, sum: 1, sumSq: 1 }, 3);
          addStats(allTime.get(key)!, { n: 0, sum: 1, sumSq: 1 });
        }
      }
    const now = H0 + 120.5;
    // What the database keeps: the buckets of the last 60 hours only.
    const rows = [];
    for (const [i, key] of ["a", "b"].entries())
      for (const [hour, b] of bucketEntries(ref.arms[i]!, 0))
        if (hour >= H0 + 60)
          rows.push({
            armKey: key,
            hour,
            n: b.trials.n,
            sum: b.trials.sum,
            sumSq: b.trials.sumSq,
            xx: null,
            xr: null,
            converted: b.rewards.n,
            rewardSum: b.rewards.sum,
            rewardSumSq: b.rewards.sumSq,
            rewardXr: null,
          });
    const delays = [...ref.delays.cohorts].map(([hour, counts]) => ({ hour, counts: [...counts] }));
    const loaded = timedFromStored(["a", "b"], 0, opts, allTime, rows, delays);
    ref.refresh(now);
    loaded.refresh(now);
    for (const i of [0, 1]) {
      const x = loaded.fold(i);
      const y = ref.fold(i);
      expect(x.n).toBeCloseTo(y.n, 9);
      expect(x.sum).toBeCloseTo(y.sum, 9);
    }
  });
});

describe("checkTimedSettings", () => {
  it.each([
    [{ conversionDelay: { medianHours: 12, p95Hours: 10 } }, "conversionDelay.p95Hours"],
    [{ conversionDelay: { medianHours: -1 } }, "conversionDelay.medianHours"],
    [{ decay: { halfLifeHours: 0 } }, "decay.halfLifeHours"],
    [{ decay: { windowHours: 0.5 } }, "decay.windowHours"],
    [{ decay: { halfLifeHours: 1, windowHours: 2 } as never }, "decay"],
  ])("%j → 400 naming %s", (s, path) => {
    try {
      checkTimedSettings(s, 48);
      expect.unreachable();
    } catch (e) {
      expect((e as DomainError).code).toBe("invalid_request");
      expect((e as DomainError).details?.[0]?.path).toBe(path);
    }
  });
  it("accepts sound settings and shows the model in use", () => {
    expect(() =>
      checkTimedSettings(
        { conversionDelay: { medianHours: 12, p95Hours: 40, learn: false }, decay: { windowHours: 24 } },
        48,
      ),
    ).not.toThrow();
    const v = delayModelView(
      new TimedStats(1, 0, { windowHours: 48, conversionDelay: { medianHours: 12, p95Hours: 40 } }).model,
    );
    expect(v).toMatchObject({ family: "lognormal", source: "declared", windowHours: 48, observations: 0 });
    expect(v.medianHours).toBeCloseTo(12, 9);
  });
});
