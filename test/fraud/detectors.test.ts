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
import { rateOutliers, twoSidedBinomialP, type RateOutlierOptions } from "../../src/fraud/robust.ts";
import { aggregateTraffic } from "../../src/fraud/aggregates.ts";
import { coveredEvents, DETECTION_DEFAULTS, windowsOf } from "../../src/fraud/detect.ts";
import { conversionLinks, type ConversionLink } from "../../src/fraud/links.ts";
import { poissonUpperTail } from "../../src/reports/stats.ts";
import type { TrafficEvent } from "../../src/fraud/types.ts";

const T = Date.UTC(2026, 0, 5, 12);
const W = { start: T, end: T + 3_600_000 };
let n = 0;
/** The aggregates of a scan ending at W.end (short window = W). */
const agg = (evs: TrafficEvent[], now = W.end) => aggregateTraffic(evs, [], windowsOf(now, DETECTION_DEFAULTS));
const ids = (evs: TrafficEvent[], f: Parameters<typeof coveredEvents>[1]) => [...coveredEvents(evs, f)].sort();
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
    const f = detectDeclaredBots(agg(evs).userAgents, W);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      detector: "declared_bot",
      entityType: "user_agent",
      entity: "curl/8.4.0",
      category: "GIVT",
      statistic: 2,
    });
    expect(f[0]).toMatchObject({ windowStart: T, windowEnd: T + 3_600_000, intervals: [[T, T + 3_600_000]] });
    expect(ids(evs, f)).toEqual([evs[0].id, evs[1].id].sort());
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
    const all = [...evs, ...burst];
    const f = detectClickBursts(agg(all), { ...CLICK_BURST_DEFAULTS, entityTypes: ["ip"] });
    expect(f.map((x) => x.entity)).toEqual(["6.6.6.6"]);
    expect(f[0]).toMatchObject({ statistic: 20, category: "SIVT", details: { baseline: "history" } });
    expect(f[0].statistic).toBeGreaterThanOrEqual(f[0].threshold);
    // The finding's window is the burst's minute, not the scan's hour.
    expect([f[0].windowStart, f[0].windowEnd]).toEqual([W.start + 30 * 60_000, W.start + 31 * 60_000]);
    expect(ids(all, f)).toEqual(burst.map((e) => e.id).sort());
  });
});

describe("click bursts without a baseline (cold start)", () => {
  // A campaign that started 20 minutes before the scan: 3 publishers with steady traffic, 200 ips.
  const start = W.end - 20 * 60_000;
  const steady = (): TrafficEvent[] => {
    const out: TrafficEvent[] = [];
    for (let m = 0; m < 20; m++)
      for (let p = 0; p < 3; p++)
        for (let i = 0; i < 2 + 2 * p; i++)
          out.push(
            ev({
              ip: `10.7.${p}.${(m * 7 + i) % 200}`,
              publisher: `p${p}`,
              placement: `p${p}/a`,
              occurredAt: start + m * 60_000 + i * 7_000 + p * 1_000,
              decisionId: `s${m}-${p}-${i}`,
            }),
          );
    return out;
  };
  it("steady first minutes are no burst", () => {
    expect(detectClickBursts(agg(steady()))).toEqual([]);
  });
  it("a burst in the first hour is caught against the trimmed in-window baseline", () => {
    const burst = Array.from({ length: 120 }, (_, i) =>
      ev({
        ip: "6.6.6.6",
        publisher: "p0",
        placement: "p0/a",
        occurredAt: start + 12 * 60_000 + i * 333,
        decisionId: `b${i}`,
      }),
    );
    const all = [...steady(), ...burst];
    const f = detectClickBursts(agg(all));
    expect(f.map((x) => [x.entityType, x.entity])).toEqual([
      ["ip", "6.6.6.6"],
      ["publisher", "p0"],
      ["placement", "p0/a"],
    ]);
    expect(f[0].details).toMatchObject({ baseline: "cold_start", prior: "pooled_trimmed" });
    expect(ids(all, [f[0]])).toEqual(burst.map((e) => e.id).sort());
  });
  it("with a workspace prior the first minutes are tested too; without one they are not", () => {
    const burst = Array.from({ length: 40 }, (_, i) =>
      ev({ ip: "6.6.6.7", publisher: "p0", occurredAt: W.end - 3 * 60_000 + i * 1000, decisionId: `c${i}` }),
    );
    const w = windowsOf(W.end, DETECTION_DEFAULTS);
    expect(detectClickBursts(aggregateTraffic(burst, [], w))).toEqual([]);
    const prior = { clicksPerEntityMinute: { ip: 0.01, publisher: 2, placement: 1 } };
    const f = detectClickBursts(aggregateTraffic(burst, [], w, prior), CLICK_BURST_DEFAULTS, prior);
    expect(f.map((x) => [x.entityType, x.entity, x.details.prior])).toEqual([
      ["ip", "6.6.6.7", "workspace"],
      ["publisher", "p0", "workspace"],
      ["placement", "p/a", "workspace"],
    ]);
  });
});

describe("rate outliers", () => {
  const opts: RateOutlierOptions = {
    alpha: 0.01,
    minTrials: 500,
    minEntities: 3,
    tau0: 0.3,
    tauDf: 20,
    robustFrom: 8,
    minRatio: 2,
    tails: "both",
  };
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
    const f = rateOutliers([...crowd, fraud], opts);
    expect(f.map((x) => x.entity)).toEqual(["bad"]);
    expect(f[0].direction).toBe("high");
    expect(rateOutliers(crowd, opts)).toEqual([]);
  });
  it("three entities: the fraudster is flagged first and leaves the reference, so the honest two are not", () => {
    const three = [
      { entity: "a", successes: 600, trials: 20_000 },
      { entity: "b", successes: 500, trials: 20_000 },
      { entity: "bad", successes: 3_000, trials: 20_000 },
    ];
    const f = rateOutliers(three, opts);
    expect(f.map((x) => [x.entity, x.direction, x.step])).toEqual([["bad", "high", 1]]);
    // By hand: reference = mean logit of a and b, spread τ̂ = the prior's (20 df) pooled with their 1 df.
    const l = (k: number, n: number) => Math.log((k + 0.5) / (n - k + 0.5));
    const m = (l(600, 20_000) + l(500, 20_000)) / 2;
    const se2 = (k: number, n: number) => 1 / (k + 0.5) + 1 / (n - k + 0.5);
    const s2 = Math.max(0, 2 * (l(600, 20_000) - m) ** 2 - (se2(600, 20_000) + se2(500, 20_000)) / 2);
    const tau2 = (20 * 0.09 + s2) / 21;
    const t = (l(3000, 20_000) - m) / Math.sqrt(tau2 * 1.5 + se2(3000, 20_000));
    expect(f[0].t).toBeCloseTo(t, 10);
    expect(f[0].df).toBe(21);
  });
  it("two entities: undecidable without a prior; with a workspace prior the odd one is found", () => {
    const two = [
      { entity: "a", successes: 600, trials: 20_000 },
      { entity: "bad", successes: 3_000, trials: 20_000 },
    ];
    expect(rateOutliers(two, opts)).toEqual([]);
    const prior = { logit: Math.log(0.03 / 0.97), weight: 1 };
    expect(rateOutliers(two, opts, prior).map((x) => x.entity)).toEqual(["bad"]);
  });
  it("minimum evidence: entities below minTrials are not tested", () => {
    const f = rateOutliers(
      [
        { entity: "a", successes: 30, trials: 1000 },
        { entity: "b", successes: 25, trials: 1000 },
        { entity: "small", successes: 100, trials: 400 },
      ],
      opts,
    );
    expect(f).toEqual([]);
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
