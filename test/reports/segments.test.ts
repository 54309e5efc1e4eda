/**
 * Reports by segment through the API: a categorical feature by level, a numeric one in quantile buckets,
 * exact counts against what was sent; CSV; an unknown segment is a 400 naming it. For a contextual campaign
 * GET …/arms shows the real traffic shares of the decision log; report figures are rounded; conversions
 * per decision exist without clicks; ROI and the objective disagreeing comes with a reason.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsv } from "../../src/reports/csv.ts";
import { roundFigure } from "../../src/reports/round.ts";
import { buildReport } from "../../src/reports/report.ts";
import { emptyAggregate } from "../../src/reports/roi.ts";
import { bucketLabel } from "../../src/reports/segments.ts";
import {
  createCampaign,
  creativeCampaign,
  eventId,
  expectInvalid,
  type Harness,
  startHarness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
let campaignId: string;
/** Per device level: decisions and conversions sent; per arm: decisions. */
const sent = { device: new Map<string, { n: number; conv: number }>(), arm: new Map<string, number>() };
const ages: number[] = [];

beforeAll(async () => {
  h = await startHarness({ seed: 7 });
  ws = await h.workspace("segments");
  campaignId = await createCampaign(
    ws,
    creativeCampaign({
      name: "email by device",
      strategy: { type: "lin_ts" },
      contextFeatures: [
        { name: "age", type: "numeric" },
        { name: "device", type: "categorical" },
      ],
    }),
  );
  const events = [];
  for (let i = 0; i < 100; i++) {
    const device = i % 4 === 0 ? "tablet" : i % 2 === 0 ? "phone" : "desktop";
    const age = i; // 0…99: quartile buckets of exactly 25 decisions
    ages.push(age);
    const r = await ws.post(`/v1/campaigns/${campaignId}/decisions`, { context: { age, device } });
    expect(r.status).toBe(201);
    const d = sent.device.get(device) ?? { n: 0, conv: 0 };
    d.n += 1;
    sent.arm.set(r.body.arm.key, (sent.arm.get(r.body.arm.key) ?? 0) + 1);
    if (i % 5 === 0) {
      d.conv += 1;
      events.push({ id: eventId("seg"), decisionId: r.body.decisionId, type: "conversion", value: 10 });
    }
    sent.device.set(device, d);
  }
  // One decision without the features: the "(missing)" segment.
  const none = (await ws.post(`/v1/campaigns/${campaignId}/decisions`, { context: {} })).body;
  sent.arm.set(none.arm.key, (sent.arm.get(none.arm.key) ?? 0) + 1);
  expect((await ws.post("/v1/events", { events })).body.accepted).toBe(events.length);
});
afterAll(async () => {
  await h?.close();
});

const report = (q: string) => ws.get(`/v1/campaigns/${campaignId}/report?${q}`);

describe("GET /v1/campaigns/{id}/report?segment=", () => {
  it("categorical: one segment per level with the counts sent, shares summing to 1", async () => {
    const r = await report("segment=device");
    expect(r.status).toBe(200);
    const s = r.body.segments;
    expect(s.feature).toBe("device");
    expect(s.type).toBe("categorical");
    expect(s.segments.map((x: { segment: string }) => x.segment)).toEqual(["desktop", "phone", "tablet", "(missing)"]);
    for (const [level, v] of sent.device) {
      const seg = s.segments.find((x: { segment: string }) => x.segment === level);
      expect(seg.decisions).toBe(v.n);
      expect(seg.campaign.conversions).toBe(v.conv);
      expect(seg.campaign.revenue).toBe(10 * v.conv);
      expect(seg.share).toBe(roundFigure(v.n / 101));
      expect(seg.campaign.conversionsPerDecision.estimate).toBe(roundFigure(v.conv / v.n));
      // No clicks were sent (an email campaign): conversions per click is unknown, per decision is not.
      expect(seg.campaign.conversionRate.estimate).toBeNull();
      expect(seg.arms.reduce((t: number, a: { decisions: number }) => t + a.decisions, 0)).toBe(v.n);
      const pb = seg.arms.reduce((t: number, a: { probabilityBest: number | null }) => t + (a.probabilityBest ?? 0), 0);
      expect(pb).toBeCloseTo(1, 2);
      expect(seg.bestArm).toBe(
        seg.arms.reduce((b: { probabilityBest: number }, a: { probabilityBest: number }) =>
          (a.probabilityBest ?? -1) > (b.probabilityBest ?? -1) ? a : b,
        ).armKey,
      );
    }
    expect(s.segments.reduce((t: number, x: { decisions: number }) => t + x.decisions, 0)).toBe(101);
  });

  it("numeric: quantile buckets of equal count, labelled by their range", async () => {
    const r = await report("segment=age&buckets=4");
    expect(r.status).toBe(200);
    const s = r.body.segments;
    expect(s.type).toBe("numeric");
    expect(s.edges).toEqual([24.75, 49.5, 74.25]);
    expect(s.segments.map((x: { segment: string; decisions: number }) => [x.segment, x.decisions])).toEqual([
      ["< 24.75", 25],
      ["[24.75, 49.5)", 25],
      ["[49.5, 74.25)", 25],
      ["≥ 74.25", 25],
      ["(missing)", 1],
    ]);
    // Conversions were sent for every fifth decision: 5 per bucket.
    expect(s.segments.slice(0, 4).map((x: { campaign: { conversions: number } }) => x.campaign.conversions)).toEqual([
      5, 5, 5, 5,
    ]);
  });

  it("CSV lists segment × arm rows that agree with the JSON", async () => {
    const j = (await report("segment=device")).body.segments;
    const c = await report("segment=device&format=csv");
    expect(c.headers.get("content-type")).toContain("text/csv");
    const rows = parseCsv(c.text);
    for (const seg of j.segments) {
      const star = rows.find((x) => x.segment === seg.segment && x.arm === "*")!;
      expect(Number(star.decisions)).toBe(seg.decisions);
      expect(Number(star.segment_share)).toBe(seg.share);
      for (const a of seg.arms) {
        const row = rows.find((x) => x.segment === seg.segment && x.arm === a.armKey)!;
        expect(Number(row.decisions)).toBe(a.decisions);
        expect(row.probability_best === "" ? null : Number(row.probability_best)).toBe(a.probabilityBest);
      }
    }
  });

  it("an unknown segment is a 400 that names it and the known features", async () => {
    const r = await report("segment=colour");
    expectInvalid(r, "segment");
    expect(r.body.error.message).toContain('"colour"');
    expect(r.body.error.message).toContain("age, device");
  });

  it("figures are rounded (2 decimals from 1 up, 4 significant digits below) unless precision=full", async () => {
    const body = JSON.stringify((await report("segment=device")).body);
    for (const m of body.matchAll(/-?\d+\.\d+(e-?\d+)?/g)) expect(roundFigure(Number(m[0]))).toBe(Number(m[0]));
    const full = (await report("precision=full")).body;
    const share = full.total.arms.find((a: { decisions: number }) => a.decisions > 0).share;
    expect(roundFigure(share)).toBe(
      (await report("")).body.total.arms.find((a: { decisions: number }) => a.decisions > 0).share,
    );
  });
});

describe("GET /v1/campaigns/{id}/arms for a contextual campaign", () => {
  it("trafficShare is the real share of the decision log; spend and costPerDecision are named apart", async () => {
    const arms = (await ws.get(`/v1/campaigns/${campaignId}/arms`)).body.arms;
    for (const a of arms) {
      expect(a.trafficShare).toBeCloseTo((sent.arm.get(a.key) ?? 0) / 101, 12);
      expect(a.costPerDecision).toBe(0);
      expect(a.spend).toBe(0);
      expect(a.cost).toBe(a.spend);
    }
    expect(arms.reduce((t: number, a: { decisions: number }) => t + a.decisions, 0)).toBe(101);
  });
});

describe("ROI against the objective", () => {
  it("says why when ROI and the objective put different arms first", async () => {
    const id = await createCampaign(
      ws,
      creativeCampaign({
        name: "cheap vs big",
        objective: "profit",
        arms: [
          { key: "cheap", cost: 0.1 },
          { key: "big", cost: 5 },
        ],
      }),
    );
    const events = [];
    for (let i = 0; i < 60; i++) {
      const d = (await ws.post(`/v1/campaigns/${id}/decisions`, {})).body;
      // cheap: earns 1 per decision on a cost of 0.1 (ROI 9); big: earns 20 on a cost of 5 (ROI 3, profit 15).
      events.push({
        id: eventId("roi"),
        decisionId: d.decisionId,
        type: "conversion",
        value: d.arm.key === "cheap" ? 1 : 20,
      });
    }
    await ws.post("/v1/events", { events });
    const r = (await ws.get(`/v1/campaigns/${id}/report`)).body;
    expect(r.total.ranking.byRoi[0]).toBe("cheap");
    expect(r.total.ranking.byObjective[0]).toBe("big");
    expect(r.total.ranking.note).toContain('ROI ranks "cheap" first');
    expect(r.total.ranking.note).toContain("profit per decision");
    // The verdict names the objective's best arm, the lift over an even split, and the invalid traffic.
    expect(r.verdict).toMatch(/^"big" (is best|leads) with \d+ % probability/);
    expect(r.verdict).toContain("over an even split");
    expect(r.verdict).toContain("no conversions were removed as invalid");
  });
});

describe("bucket labels", () => {
  it("names open and closed ends", () => {
    expect(bucketLabel(0, [1, 2])).toEqual({ segment: "< 1", lower: null, upper: 1 });
    expect(bucketLabel(1, [1, 2])).toEqual({ segment: "[1, 2)", lower: 1, upper: 2 });
    expect(bucketLabel(2, [1, 2])).toEqual({ segment: "≥ 2", lower: 2, upper: null });
  });
});

describe("verdict", () => {
  const cell = (armKey: string, decisions: number, conversions: number) => ({
    ...emptyAggregate(),
    armKey,
    periodStart: 0,
    decisions,
    conversions,
    units: conversions,
    sumConversionsSq: conversions,
  });
  const report = (cells: ReturnType<typeof cell>[], invalidClicks = 0) =>
    buildReport({
      campaignId: "c",
      from: 0,
      to: 3_600_000,
      granularity: "hour",
      objective: "conversions",
      armKeys: ["a", "b"],
      cells,
      invalid: invalidClicks
        ? [{ reason: "bot", impressions: 0, clicks: invalidClicks, conversions: 0, revenue: 0, cost: 0 }]
        : [],
      ips: { n: 100, sumReward: 12, sumEven: 10, sumDiffSq: 4 },
    }).verdict;

  it("does not call a winner while only one arm has decisions", () => {
    expect(report([cell("a", 1, 1)])).toMatch(/^Only "a" has decisions so far: too early to compare arms;/);
  });
  it("names the best arm, the lift with its interval and the invalid share", () => {
    const v = report([cell("a", 1000, 200), cell("b", 1000, 50)]);
    expect(v).toMatch(/^"a" is best with 100 % probability; the bandit earned \+20 % \[[^\]]+\] over an even split;/);
    expect(v).toMatch(/no clicks were removed as invalid|no conversions were removed as invalid/);
    expect(report([cell("a", 1000, 200), cell("b", 1000, 190)])).toMatch(
      /^"a" leads with \d+ % probability of being best — not settled yet/,
    );
  });
  it("no conversions at all: names no best arm", () => {
    expect(report([cell("a", 10, 0), cell("b", 1, 0)])).toMatch(/^No conversions yet: too early to name a best arm;/);
  });
  it("no decisions: says so", () => {
    expect(report([])).toBe("No decisions in this period yet.");
  });
});
