/**
 * Each injected fraud pattern is found by its detector on seeded synthetic traffic, and a clean run flags
 * no clean source. (The detection / false-flag rates over many seeds: `npx tsx src/fraud/measure.ts`.)
 */
import { describe, expect, it } from "vitest";
import { detectAll } from "../../src/fraud/detect.ts";
import { conversionLinks } from "../../src/fraud/links.ts";
import { FRAUD_PATTERNS, generateTraffic } from "../../src/fraud/synthetic.ts";
import { measure } from "../../src/fraud/measure.ts";

describe("synthetic traffic", () => {
  it.each(FRAUD_PATTERNS)("%s is found by its detector", (pattern) => {
    const run = generateTraffic({ seed: 42, fraud: pattern });
    const findings = detectAll(run.events, conversionLinks(run.events, run.decisions), run.end);
    const x = run.expected!;
    expect(
      findings.filter((f) => f.detector === x.detector && f.entityType === x.entityType).map((f) => f.entity),
    ).toContain(x.entity);
    const falseFlags = findings.filter(
      (f) => f.entityType !== "campaign" && !run.tainted.has(`${f.entityType}:${f.entity}`),
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
