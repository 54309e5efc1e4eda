import { describe, expect, it } from "vitest";
import { aggregateUnits, metrics, type Unit } from "../../src/reports/roi.ts";
import { buildReport, periodStart, type ReportCell } from "../../src/reports/report.ts";
import { parseCsv, reportToCsv } from "../../src/reports/csv.ts";
import { ipsSums } from "../../src/reports/bandit.ts";

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 22); // 22:00, so hours 22 and 23 fall on one day and 24 on the next

const u = (
  impressions: number,
  clicks: number,
  conversions: number,
  revenue: number,
  cost: number,
  decision = true,
): Unit => ({
  decision,
  impressions,
  clicks,
  conversions,
  revenue,
  cost,
});

const raw: Record<string, Unit[][]> = {
  a: [
    [u(1, 1, 1, 10, 2), u(1, 0, 0, 0, 2), u(1, 1, 0, 0, 2)],
    [u(1, 1, 1, 12, 2), u(1, 0, 0, 0, 2)],
    [u(1, 0, 0, 0, 2), u(1, 1, 1, 8, 2), u(1, 1, 1, 9, 2)],
  ],
  b: [[u(1, 0, 0, 0, 1), u(1, 1, 0, 0, 1)], [u(1, 1, 1, 5, 1)], [u(1, 0, 0, 0, 1), u(1, 0, 0, 0, 1), u(0, 0, 0, 0, 0)]],
};

function cells(): ReportCell[] {
  const out: ReportCell[] = [];
  for (const [armKey, hours] of Object.entries(raw))
    hours.forEach((units, h) => {
      out.push({ armKey, periodStart: T0 + h * H, ...aggregateUnits(units) });
    });
  return out;
}

const input = {
  campaignId: "c1",
  from: T0,
  to: T0 + 3 * H,
  objective: "revenue" as const,
  armKeys: ["a", "b", "c"],
  cells: cells(),
  invalid: [
    { reason: "declared_bot", impressions: 4, clicks: 3, conversions: 0, revenue: 0, cost: 0.5 },
    { reason: "click_burst", impressions: 0, clicks: 20, conversions: 1, revenue: 7, cost: 3 },
    { reason: "declared_bot", impressions: 1, clicks: 1, conversions: 0, revenue: 0, cost: 0.1 },
  ],
  ips: ipsSums([
    { propensity: 0.6, reward: 10, activeArms: 2 },
    { propensity: 0.4, reward: 0, activeArms: 2 },
  ]),
};

describe("campaign report", () => {
  it("hourly periods: per-arm figures equal a direct computation on the units", () => {
    const r = buildReport({ ...input, granularity: "hour" });
    expect(r.periods.map((p) => p.start)).toEqual([0, 1, 2].map((h) => new Date(T0 + h * H).toISOString()));
    const p1 = r.periods[1];
    expect(p1.arms.find((a) => a.armKey === "a")).toMatchObject(metrics(aggregateUnits(raw.a[1])));
    expect(p1.arms.find((a) => a.armKey === "a")!.share).toBeCloseTo(2 / 3, 12);
    expect(p1.campaign).toEqual(metrics(aggregateUnits([...raw.a[1], ...raw.b[1]])));
    // an arm with no traffic is listed, empty
    expect(p1.arms.find((a) => a.armKey === "c")).toMatchObject({ decisions: 0, share: 0, ctr: { estimate: null } });
  });
  it("daily periods merge hours 22–23 and keep hour 24 apart; totals equal all units", () => {
    const r = buildReport({ ...input, granularity: "day" });
    expect(r.periods).toHaveLength(2);
    expect(r.periods[0].arms[0]).toMatchObject(metrics(aggregateUnits([...raw.a[0], ...raw.a[1]])));
    const all = [...raw.a.flat(), ...raw.b.flat()];
    expect(r.total.campaign).toEqual(metrics(aggregateUnits(all)));
    expect(r.total.campaign).toMatchObject({ revenue: 44, cost: 21, profit: 23, clicks: 7, conversions: 5 });
    expect(r.total.arms.reduce((s, a) => s + (a.probabilityBest ?? 0), 0)).toBeCloseTo(1, 12);
    expect(r.total.arms[2]).toMatchObject({ probabilityBest: null, expectedLoss: null });
    // arm a earns 39 over 8 decisions, b 5 over 6: a is very probably best
    expect(r.total.arms[0].probabilityBest).toBeGreaterThan(0.9);
    expect(periodStart(T0 + 90 * 60_000, "hour")).toBe(T0 + H);
  });
  it("invalid credits are grouped by reason and totalled", () => {
    const r = buildReport({ ...input, granularity: "day" });
    expect(r.invalid.byReason.map((x) => x.reason)).toEqual(["click_burst", "declared_bot"]);
    expect(r.invalid.byReason[1]).toMatchObject({ clicks: 4, impressions: 5 });
    expect(r.invalid.total).toMatchObject({ clicks: 24, conversions: 1, revenue: 7 });
    expect(r.invalid.total.cost).toBeCloseTo(3.6, 12);
  });
  it("the same input and seed give the same report", () => {
    expect(buildReport({ ...input, granularity: "hour" })).toEqual(buildReport({ ...input, granularity: "hour" }));
  });
  it("IPS lift is carried into 'earned'", () => {
    const r = buildReport({ ...input, granularity: "hour" });
    // weights 10/(2·0.6), 0 → even = 4.1667, actual = 5
    expect(r.earned.lift.evenSplitValue).toBeCloseTo(10 / 1.2 / 2, 12);
    expect(r.earned.lift.actualValue).toBe(5);
  });
});

describe("CSV", () => {
  it("agrees with the JSON, number for number", () => {
    const r = buildReport({ ...input, granularity: "hour" });
    const rows = parseCsv(reportToCsv(r));
    expect(rows).toHaveLength(3 * 4 + 4 + 2);
    const num = (s: string) => (s === "" ? null : Number(s));
    for (const p of r.periods) {
      for (const a of p.arms) {
        const row = rows.find((x) => x.period === p.start && x.arm === a.armKey)!;
        expect(num(row.decisions)).toBe(a.decisions);
        expect(num(row.share)).toBe(a.share);
        expect(num(row.revenue)).toBe(a.revenue);
        expect(num(row.ctr)).toBe(a.ctr.estimate);
        expect(num(row.ctr_lower)).toBe(a.ctr.lower);
        expect(num(row.roi_upper)).toBe(a.roi.upper);
        expect(num(row.cpa)).toBe(a.cpa.estimate);
      }
      const c = rows.find((x) => x.period === p.start && x.arm === "*")!;
      expect(num(c.profit)).toBe(p.campaign.profit);
    }
    for (const a of r.total.arms) {
      const row = rows.find((x) => x.period === "total" && x.arm === a.armKey)!;
      expect(num(row.probability_best)).toBe(a.probabilityBest);
      expect(num(row.expected_loss)).toBe(a.expectedLoss);
      expect(num(row.roas_lower)).toBe(a.roas.lower);
    }
    expect(num(rows.find((x) => x.arm === "invalid:click_burst")!.clicks)).toBe(20);
  });
  it("quotes fields with commas and quotes", () => {
    const r = buildReport({ ...input, granularity: "hour", armKeys: ['he said "hi", twice'], cells: [] });
    const rows = parseCsv(reportToCsv(r));
    expect(rows[0].arm).toBe('he said "hi", twice');
  });
});
