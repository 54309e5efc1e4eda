import { describe, expect, it } from "vitest";
import { classifyUserAgent } from "../../src/fraud/user-agents.ts";
import { detectDuplicateClicks } from "../../src/fraud/detectors/duplicate-clicks.ts";
import {
  detectClickBursts,
  poissonCriticalCount,
  CLICK_BURST_DEFAULTS,
} from "../../src/fraud/detectors/click-burst.ts";
import { ksDPlus, detectClickTimeAnomalies } from "../../src/fraud/detectors/click-to-conversion.ts";
import { orphanReason, detectOrphanConversions } from "../../src/fraud/detectors/orphan-conversions.ts";
import { detectDeclaredBots } from "../../src/fraud/detectors/declared-bots.ts";
import { rateOutliers, twoSidedBinomialP } from "../../src/fraud/robust.ts";
import { conversionLinks, type ConversionLink } from "../../src/fraud/links.ts";
import { poissonUpperTail } from "../../src/reports/stats.ts";
import type { TrafficEvent } from "../../src/fraud/types.ts";

const T = Date.UTC(2026, 0, 5, 12);
const W = { start: T, end: T + 3_600_000 };
let n = 0;
const ev = (p: Partial<TrafficEvent>): TrafficEvent => ({
  id: `x${++n}`,
  decisionId: "d1",
  type: "click",
  occurredAt: T + 1000,
  value: 0,
  cost: 0,
  ip: "1.2.3.4",
  userAgent:
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  publisher: "p",
  placement: "p/a",
  ...p,
});

describe("user agents", () => {
  it.each([
    ["curl/8.4.0", true],
    ["python-requests/2.31.0", true],
    ["Go-http-client/1.1", true],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36", true],
    ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true],
    ["okhttp/4.12.0", true],
    [
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
      false,
    ],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", false],
    ["", false],
  ])("%s → bot %s", (ua, bot) => {
    expect(classifyUserAgent(ua).bot).toBe(bot);
  });
  it("flags impressions and clicks of a bot UA but not server-to-server conversions", () => {
    const evs = [
      ev({ userAgent: "curl/8.4.0" }),
      ev({ userAgent: "curl/8.4.0", type: "impression" }),
      ev({ userAgent: "curl/8.4.0", type: "conversion" }),
      ev({}),
    ];
    const f = detectDeclaredBots(evs, W);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      detector: "declared_bot",
      entityType: "user_agent",
      entity: "curl/8.4.0",
      category: "GIVT",
      statistic: 2,
    });
    expect(f[0].eventIds).toEqual([evs[0].id, evs[1].id]);
  });
});

describe("duplicate clicks", () => {
  it("same source, same decision, within the interval counts once; after it, counts again", () => {
    const a = ev({ occurredAt: T + 0 });
    const dup = ev({ occurredAt: T + 5_000 });
    const later = ev({ occurredAt: T + 40_000 });
    const dup2 = ev({ occurredAt: T + 45_000 });
    const otherIp = ev({ occurredAt: T + 1_000, ip: "9.9.9.9" });
    const otherDecision = ev({ occurredAt: T + 1_000, decisionId: "d2" });
    const f = detectDuplicateClicks([later, a, dup, otherIp, dup2, otherDecision], W, { seconds: 30 });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ entityType: "ip", entity: "1.2.3.4", statistic: 2, category: "GIVT" });
    expect(f[0].eventIds!.sort()).toEqual([dup.id, dup2.id].sort());
  });
  it("clicks that name no source are not duplicates of each other", () => {
    expect(
      detectDuplicateClicks(
        [ev({ ip: null, userAgent: null }), ev({ ip: null, userAgent: null, occurredAt: T + 2000 })],
        W,
      ),
    ).toEqual([]);
  });
  it("a duplicate of a click made just before the window is caught; the original is not", () => {
    const before = ev({ occurredAt: T - 2_000 });
    const inside = ev({ occurredAt: T + 2_000 });
    expect(detectDuplicateClicks([before, inside], W)[0].eventIds).toEqual([inside.id]);
  });
});

describe("click bursts", () => {
  it("critical count is the smallest x with P(X ≥ x) ≤ level", () => {
    for (const [lambda, level] of [
      [0.5, 1e-4],
      [3, 1e-6],
      [200, 1e-3],
    ]) {
      const x = poissonCriticalCount(lambda, level);
      expect(poissonUpperTail(x, lambda)).toBeLessThanOrEqual(level);
      expect(poissonUpperTail(x - 1, lambda)).toBeGreaterThan(level);
    }
  });
  it("finds an ip's burst against its quiet baseline and leaves steady sources alone", () => {
    const evs: TrafficEvent[] = [];
    // 20 steady ips, one click every 10 minutes each, over the baseline and the window
    for (let ip = 0; ip < 20; ip++)
      for (let t = W.start - 300 * 60_000; t < W.end; t += 10 * 60_000)
        evs.push(ev({ ip: `10.0.0.${ip}`, occurredAt: t + ip * 1000, decisionId: `d${ip}-${t}` }));
    const burst = Array.from({ length: 20 }, (_, i) =>
      ev({ ip: "6.6.6.6", occurredAt: W.start + 30 * 60_000 + i * 2000, decisionId: `b${i}` }),
    );
    const f = detectClickBursts([...evs, ...burst], W, { ...CLICK_BURST_DEFAULTS, entityTypes: ["ip"] });
    expect(f.map((x) => x.entity)).toEqual(["6.6.6.6"]);
    expect(f[0]).toMatchObject({ statistic: 20, category: "SIVT" });
    expect(f[0].statistic).toBeGreaterThanOrEqual(f[0].threshold);
    expect(f[0].eventIds!.sort()).toEqual(burst.map((e) => e.id).sort());
  });
});

describe("click bursts without a baseline", () => {
  it("a new campaign's first clicks are no burst (less baseline than minBaselineMinutes)", () => {
    const first = Array.from({ length: 40 }, (_, i) =>
      ev({ ip: `10.9.0.${i % 4}`, publisher: "p1", occurredAt: W.start - 10 * 60_000 + i * 1000, decisionId: `n${i}` }),
    );
    const busy = Array.from({ length: 30 }, (_, i) =>
      ev({ ip: `10.9.1.${i}`, publisher: "p1", occurredAt: W.start + 60_000 + i * 1000, decisionId: `m${i}` }),
    );
    expect(detectClickBursts([...first, ...busy], W)).toEqual([]);
  });
});

describe("rate outliers", () => {
  it("two-sided binomial p of 9/10 at ½ is 2 · 11/1024", () => {
    expect(twoSidedBinomialP(9, 10, 0.5)).toBeCloseTo(22 / 1024, 12);
  });
  it("flags the 5× publisher in a heterogeneous crowd, not the honest ones", () => {
    const crowd = [0.02, 0.025, 0.03, 0.018, 0.022, 0.028].map((r, i) => ({
      entity: `p${i}`,
      successes: Math.round(r * 20_000),
      trials: 20_000,
    }));
    const fraud = { entity: "bad", successes: 2_500, trials: 20_000 };
    const opts = {
      alpha: 0.01,
      zThreshold: 3.5,
      minTrials: 500,
      minEntitiesForZ: 5,
      minScale: 0.25,
      maxRatio: 3,
      tails: "both" as const,
    };
    const f = rateOutliers([...crowd, fraud], opts);
    expect(f.map((x) => x.entity)).toEqual(["bad"]);
    expect(f[0].direction).toBe("high");
    expect(rateOutliers(crowd, opts)).toEqual([]);
  });
  it("with too few entities only the test decides (leave-one-out pooled reference)", () => {
    const f = rateOutliers(
      [
        { entity: "a", successes: 100, trials: 1000 },
        { entity: "b", successes: 10, trials: 1000 },
      ],
      {
        alpha: 0.01,
        zThreshold: 3.5,
        minTrials: 100,
        minEntitiesForZ: 5,
        minScale: 0.25,
        maxRatio: 3,
        tails: "both",
      },
    );
    expect(f.map((x) => [x.entity, x.rule])).toEqual([
      ["a", "test"],
      ["b", "test"],
    ]);
  });
});

describe("click-to-conversion time", () => {
  it("D⁺ by hand: sample {3, 4} vs reference {1, 2} is 1; identical samples give 0", () => {
    expect(ksDPlus([3, 4], [1, 2])).toBe(1);
    expect(ksDPlus([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(ksDPlus([1, 5], [2, 3])).toBeCloseTo(0.5, 12);
  });
  it("injection: conversions seconds after the click on one publisher", () => {
    const links: ConversionLink[] = [];
    const add = (pub: string, delay: number) =>
      links.push({
        id: `c${links.length}`,
        publisher: pub,
        occurredAt: T + 1e6,
        value: 1,
        decisionId: "d",
        decisionAt: T,
        firstClickAt: T + 1e6 - delay * 1000,
        hadClick: true,
      });
    for (let i = 0; i < 200; i++) add(`p${i % 4}`, 60 + ((i * 7919) % 3000));
    for (let i = 0; i < 40; i++) add("inj", i % 2 ? 2 + (i % 5) : 300 + i * 10);
    const f = detectClickTimeAnomalies(links, { start: T, end: T + 2e6 });
    expect(f.map((x) => [x.detector, x.entity])).toEqual([["click_injection", "inj"]]);
    expect(f[0].statistic).toBe(20);
  });
});

describe("orphan conversions", () => {
  const base: ConversionLink = {
    id: "c",
    publisher: "p",
    occurredAt: T + 100_000,
    value: 1,
    decisionId: "d",
    decisionAt: T,
    firstClickAt: T + 10_000,
    hadClick: true,
  };
  it.each([
    [{}, null],
    [{ decisionAt: null }, "no_decision"],
    [{ decisionAt: T + 200_000 }, "before_decision"],
    [{ firstClickAt: null, hadClick: true }, "invalid_click"],
    [{ firstClickAt: null, hadClick: false }, null], // clicks not required by default (email, send time)
    [{ firstClickAt: T + 150_000 }, "before_click"],
    [{ firstClickAt: T + 100_500 }, null], // within the clock skew
  ] as const)("%o → %s", (patch, reason) => {
    expect(orphanReason({ ...base, ...patch })).toBe(reason);
  });
  it("no click at all is an orphan only when the campaign requires clicks", () => {
    expect(orphanReason({ ...base, firstClickAt: null, hadClick: false }, { requireClick: true, skewSeconds: 1 })).toBe(
      "no_click",
    );
  });
  it("links built from events find the conversion before its click", () => {
    const click = ev({ occurredAt: T + 60_000 });
    const conv = ev({ type: "conversion", occurredAt: T + 30_000 });
    const links = conversionLinks([click, conv], [{ id: "d1", createdAt: T }]);
    const f = detectOrphanConversions(links, W);
    expect(f[0]).toMatchObject({
      entity: "p",
      statistic: 1,
      details: { reasons: { before_click: 1 } },
      eventIds: [conv.id],
    });
  });
});
