/**
 * Each injected fraud pattern is found by its detector on seeded synthetic traffic, and a clean run flags
 * no clean source. (The detection / false-flag rates over many seeds: `npx tsx src/fraud/measure.ts`.)
 */
import { describe, expect, it } from "vitest";
import { detectAll } from "../../src/fraud/detect.ts";
import { conversionLinks } from "../../src/fraud/links.ts";
import { FRAUD_PATTERNS, generateTraffic } from "../../src/fraud/synthetic.ts";
import { measure, measureColdStart, measureFewEntities } from "../../src/fraud/measure.ts";
import { followsInvalidClicks } from "../../src/fraud/detectors/orphan-conversions.ts";

describe("synthetic traffic", () => {
  it.each(FRAUD_PATTERNS)("%s is found by its detector", (pattern) => {
    const run = generateTraffic({ seed: 42, fraud: pattern });
    const findings = detectAll(run.events, conversionLinks(run.events, run.decisions), run.end);
    const x = run.expected!;
    expect(
      findings.filter((f) => f.detector === x.detector && f.entityType === x.entityType).map((f) => f.entity),
    ).toContain(x.entity);
    const falseFlags = findings.filter(
      (f) => f.entityType !== "campaign" && !followsInvalidClicks(f) && !run.tainted.has(`${f.entityType}:${f.entity}`),
    );
    expect(falseFlags).toEqual([]);
  });
  it("clean traffic: no source flagged", () => {
    for (const seed of [1, 2]) {
      const run = generateTraffic({ seed, fraud: null });
      expect(detectAll(run.events, conversionLinks(run.events, run.decisions), run.end)).toEqual([]);
    }
  });
  it("the same seed gives the same traffic", () => {
    const a = generateTraffic({ seed: 9, minutes: 30 });
    const b = generateTraffic({ seed: 9, minutes: 30 });
    expect(a.events).toEqual(b.events);
  });
  it("measure() counts detections and false flags (one short repetition)", () => {
    const m = measure(1, 3, { minutes: 20, impressionsPerMinute: 50, users: 500 });
    expect(m.detection).toHaveLength(FRAUD_PATTERNS.length);
    expect(m.falseFlags.find((f) => f.entityType === "ip")!.clean).toBeGreaterThan(100);
    expect(m.falseFlags.find((f) => f.entityType === "publisher")!.clean).toBeGreaterThan(0);
  });
});

describe("few entities and cold start (seeded; the rates over many seeds: measure.ts --few)", () => {
  const traffic = { minutes: 120, impressionsPerMinute: 200, ipBurstClicks: 120, ipBurstSeconds: 40 };
  it("3 publishers: the 120-click ip burst and a 5× CTR placement are found; no honest publisher is flagged", () => {
    const rows = measureFewEntities(2, 7, {
      publishers: [3],
      patterns: [null, "ip_burst", "ctr_high"],
      prior: false,
      traffic,
    });
    // Exact fixture for these seeds: with 3 publishers a 5× CTR is found in one of the two runs (the
    // detection rate over 40 seeds is in src/fraud/README.md); nothing honest is ever flagged.
    expect(rows.map((r) => [r.pattern, r.runs, r.detected, r.falselyFlagged, r.honestEventsInvalidated])).toEqual([
      ["clean", 2, 0, 0, 0],
      ["ip_burst", 2, 2, 0, 0],
      ["ctr_high", 2, 1, 0, 0],
    ]);
    // The burst invalidates its clicks (and the same minute's clicks of its publisher), not the publisher's day.
    const burst = rows[1];
    expect(burst.taintedEventsInvalidated).toBeGreaterThanOrEqual(2 * 120);
    expect(burst.taintedEventsInvalidated).toBeLessThan(2 * 140);
  });
  it("2 publishers: undecidable without a prior (nothing flagged), found with the workspace prior", () => {
    const without = measureFewEntities(2, 7, { publishers: [2], patterns: ["ctr_high"], prior: false, traffic });
    const withPrior = measureFewEntities(2, 7, { publishers: [2], patterns: ["ctr_high"], prior: true, traffic });
    expect([without[0].detected, without[0].falselyFlagged]).toEqual([0, 0]);
    expect([withPrior[0].detected, withPrior[0].falselyFlagged]).toEqual([2, 0]);
  });
  it("a campaign 45 minutes old: a burst in its first hour is caught, with or without a workspace prior", () => {
    for (const prior of [false, true]) {
      const rows = measureColdStart(2, 7, {
        minutes: 45,
        patterns: [null, "ip_burst", "publisher_burst"],
        prior,
        traffic,
      });
      expect(rows.map((r) => [r.pattern, r.detected, r.falselyFlagged])).toEqual([
        ["clean", 0, 0],
        ["ip_burst", 2, 0],
        ["publisher_burst", 2, 0],
      ]);
    }
  });
});
