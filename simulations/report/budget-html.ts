/**
 * The HTML report of a budget simulation (simulations/budget.ts): the figures per pacing mode (means over
 * repetitions of the last simulated day) and, for the first repetition's last day, planned against
 * actual spend through the day — cumulative and hour by hour — per mode. Self-contained (Chart.js inlined).
 */
import type { BudgetComparison } from "../budget.ts";
import { chartSource, esc, fmt } from "./html.ts";

const COLORS: Record<string, string> = { none: "#c0392b", even: "#2980b9", traffic: "#27ae60" };

export function budgetReportHtml(r: BudgetComparison): string {
  const s = r.scenario;
  const rows = Object.entries(r.summary)
    .map(
      ([mode, m]) =>
        `<tr><td>${esc(mode)}</td><td>${fmt(m.spend, 2)}</td><td>${fmt(m.overspend, 3)}</td><td>${m.exhaustedRuns ?? 0} / ${s.repetitions}${m.exhaustedAtHour !== null ? ` (at ${fmt(m.exhaustedAtHour, 1)} h)` : ""}</td><td>${fmt((m.trackingError ?? 0) * 100, 1)} %</td><td>${fmt(m.violations, 1)}</td><td>${fmt(m.conversions, 1)}</td><td>${fmt(m.profit, 2)}</td><td>${fmt(m.cpa, 3)}</td><td>${fmt(m.regret, 2)}</td>${s.targetCpa !== undefined ? `<td>${fmt((m.servedAboveTargetShare ?? 0) * 100, 1)} %</td>` : ""}</tr>`,
    )
    .join("\n");
  const series = s.modes.map((mode) => {
    const run = r.runs.find((x) => x.mode === mode && x.repetition === 0)!;
    const day = run.days[run.days.length - 1]!;
    let cp = 0;
    let ca = 0;
    return {
      mode,
      hours: day.hours.map((h) => h.hour),
      planned: day.hours.map((h) => h.planned),
      actual: day.hours.map((h) => h.actual),
      cumPlanned: day.hours.map((h) => (cp += h.planned)),
      cumActual: day.hours.map((h) => (ca += h.actual)),
    };
  });
  const data = JSON.stringify({ series, colors: COLORS, budget: s.dailyBudget }).replace(/</g, "\\u003c");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(s.name)} — budgets and pacing</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}.charts{display:grid;grid-template-columns:1fr 1fr;gap:1em}</style>
<script>${chartSource()}</script></head><body>
<h1>${esc(s.name)}: budgets and pacing</h1>
<p>Daily budget ${fmt(s.dailyBudget, 2)}, ${s.days} days of day-part traffic (~${s.requestsPerDay.toLocaleString("en-US")} requests a day, time zone ${esc(s.timezone)}), ${s.repetitions} repetitions, seed ${s.seed}; every mode on the same traffic. Figures: means over the repetitions of the last day. Tracking error = Σ<sub>h</sub> |actual − planned| / budget; a violation = an hour outside |actual − planned| ≤ 25 % of planned + 0.5 % of the budget; regret = Σ (μ* − μ<sub>a</sub>) over served decisions, μ = rate · value − cost.</p>
<table><thead><tr><th>pacing</th><th>spend</th><th>overspend</th><th>budget ran out</th><th>tracking error</th><th>violations (h)</th><th>conversions</th><th>profit</th><th>CPA</th><th>regret</th>${s.targetCpa !== undefined ? "<th>served above target CPA</th>" : ""}</tr></thead><tbody>
${rows}
</tbody></table>
<h2>Planned vs actual spend through the last day (repetition 0)</h2>
<div class="charts"><div><canvas id="cum"></canvas></div><div><canvas id="hourly"></canvas></div></div>
<script>
const D = ${data};
const labels = D.series[0].hours.map((h) => String(h).padStart(2, "0") + ":00");
const ds = (key, dash) => D.series.map((s) => ({ label: s.mode + (dash ? " (plan)" : ""), data: s[key], borderColor: D.colors[s.mode], backgroundColor: D.colors[s.mode], borderDash: dash ? [6, 4] : [], pointRadius: 0, fill: false }));
new Chart(document.getElementById("cum"), { type: "line", data: { labels, datasets: [...ds("cumActual", false), ...ds("cumPlanned", true)] }, options: { plugins: { title: { display: true, text: "cumulative spend (budget " + D.budget + ")" } } } });
new Chart(document.getElementById("hourly"), { type: "line", data: { labels, datasets: [...ds("actual", false), ...ds("planned", true)] }, options: { plugins: { title: { display: true, text: "spend per hour" } } } });
</script></body></html>`;
}
