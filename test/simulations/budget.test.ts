/**
 * The budget simulation's comparison and report: the same seed prints the same figures, every mode runs
 * on the same traffic (equal requests hour by hour), and the HTML report carries the planned-vs-actual
 * charts and the figures table.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compareBudget, type BudgetScenario } from "../../simulations/budget.ts";
import { budgetReportHtml } from "../../simulations/report/budget-html.ts";

const s: BudgetScenario = {
  ...JSON.parse(readFileSync(new URL("../../simulations/scenarios/budget/daypart.json", import.meta.url), "utf8")),
  days: 2,
  repetitions: 1,
  requestsPerDay: 6000,
};

describe("budget simulations", () => {
  it("reproducible, common random numbers across modes, and a report with the charts", () => {
    const a = compareBudget(s);
    const b = compareBudget(s);
    expect(a.summary).toEqual(b.summary);
    const req = (mode: string) => a.runs.find((r) => r.mode === mode)!.days[1]!.hours.map((h) => h.requests);
    expect(req("even")).toEqual(req("none"));
    expect(req("traffic")).toEqual(req("none"));
    for (const mode of s.modes) {
      const day = a.runs.find((r) => r.mode === mode)!.days[1]!;
      expect(day.hours.reduce((x, h) => x + h.planned, 0)).toBeCloseTo(s.dailyBudget, 9);
      expect(day.spend).toBeCloseTo(
        day.hours.reduce((x, h) => x + h.actual, 0),
        9,
      );
    }
    const html = budgetReportHtml(a);
    expect(html).toContain('<canvas id="cum">');
    expect(html).toContain('<canvas id="hourly">');
    for (const mode of s.modes) expect(html).toContain(`<td>${mode}</td>`);
    expect(html).not.toMatch(/<script src=/);
  });
});
