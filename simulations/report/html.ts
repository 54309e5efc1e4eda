/**
 * The self-contained HTML report: Chart.js inlined from node_modules (no network), the results embedded as
 * JSON, and a small script drawing cumulative regret, conversions / revenue / profit and ROI over time (mean
 * line with the 5–95 % band across repetitions) and each strategy's share of traffic per arm over time
 * (the top arms, the rest pooled as "other"). Animations are off so the charts are drawn at load.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { SimulationResult } from "../simulate.ts";
import type { Summary } from "../stats.ts";

let chartJs: string | null = null;
export function chartSource(): string {
  if (chartJs === null) {
    // The package's exports map hides the UMD build; it sits next to the CommonJS entry in dist/.
    const main = createRequire(import.meta.url).resolve("chart.js");
    const path = join(dirname(main), "chart.umd.js");
    chartJs = readFileSync(path, "utf8");
  }
  return chartJs;
}

export const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown) =>
  JSON.stringify(v, (_k, x) => (typeof x === "number" && !Number.isFinite(x) ? null : x))
    .replace(/</g, "\\u003c")
    .replace(/\u2028|\u2029/g, "");

export function fmt(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits);
}
const cell = (m: Summary | null, digits = 1, pct = false) =>
  m === null || m.n === 0
    ? "<td>–</td>"
    : pct
      ? `<td>${fmt(m.mean * 100, digits)} %<small> [${fmt(m.p05 * 100, digits)}–${fmt(m.p95 * 100, digits)}]</small></td>`
      : `<td>${fmt(m.mean, digits)}<small> [${fmt(m.p05, digits)}–${fmt(m.p95, digits)}]</small></td>`;

const SCRIPT = `
const R = JSON.parse(document.getElementById("results").textContent);
const palette = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf"];
const hours = R.checkpoints.map((r) => r / R.scenario.perHour);
const pts = (ys) => ys.map((y, i) => ({ x: hours[i], y }));
const common = { animation: false, responsive: true, maintainAspectRatio: false, parsing: true, normalized: true,
  scales: { x: { type: "linear", title: { display: true, text: "hours" } } },
  plugins: { legend: { labels: { filter: (item) => !item.text.endsWith(" ") } } } };
function bandChart(id, metric, yTitle) {
  const datasets = [];
  R.strategies.forEach((s, i) => {
    const b = s.series[metric];
    if (!b) return;
    const c = palette[i % palette.length];
    datasets.push({ label: s.label + " p05 ", data: pts(b.p05), borderWidth: 0, pointRadius: 0, backgroundColor: c + "33", fill: false });
    datasets.push({ label: s.label + " p95 ", data: pts(b.p95), borderWidth: 0, pointRadius: 0, backgroundColor: c + "33", fill: "-1" });
    datasets.push({ label: s.label, data: pts(b.mean), borderColor: c, backgroundColor: c, borderWidth: 2, pointRadius: 0, fill: false });
  });
  if (!datasets.length) { document.getElementById(id).closest("section").remove(); return; }
  new Chart(document.getElementById(id), { type: "line", data: { datasets },
    options: { ...common, scales: { ...common.scales, y: { title: { display: true, text: yTitle } } } } });
}
// Revenue and profit charts that would repeat the one before (values of 1, no costs) are left out.
const same = (m1, m2) => R.strategies.every((s) => s.series[m1].mean.every((v, i) => Math.abs(v - s.series[m2].mean[i]) < 1e-9));
bandChart("regret", "regret", "cumulative regret (" + R.scenario.objective + ")");
bandChart("conversions", "conversions", "cumulative conversions");
if (same("revenue", "conversions")) document.getElementById("revenue").closest("section").remove(); else bandChart("revenue", "revenue", "cumulative revenue");
if (same("profit", "revenue")) document.getElementById("profit").closest("section").remove(); else bandChart("profit", "profit", "cumulative profit");
bandChart("roi", "roi", "ROI = profit / cost");
bandChart("bestShare", "bestShare", "share of decisions on the best arm");
const TOP = 8;
const shares = document.getElementById("shares");
R.strategies.forEach((s, i) => {
  const totals = s.armShare.share.map((row, a) => [a, row.reduce((x, y) => x + y, 0)]).sort((p, q) => q[1] - p[1]);
  const top = totals.slice(0, TOP).map((p) => p[0]);
  const rest = totals.slice(TOP).map((p) => p[0]);
  const datasets = top.map((a, j) => ({ label: s.armShare.arms[a], data: pts(s.armShare.share[a]), backgroundColor: palette[j % palette.length] + "cc",
    borderWidth: 0, pointRadius: 0, fill: j === 0 ? "origin" : "-1" }));
  if (rest.length) datasets.push({ label: "other (" + rest.length + ")", data: pts(hours.map((_, w) => rest.reduce((acc, a) => acc + s.armShare.share[a][w], 0))),
    backgroundColor: "#bbbbbbcc", borderWidth: 0, pointRadius: 0, fill: "-1" });
  const div = document.createElement("div");
  div.className = "chart";
  const h = document.createElement("h3");
  h.textContent = s.label;
  const canvas = document.createElement("canvas");
  canvas.id = "share-" + i;
  div.append(h, canvas);
  shares.append(div);
  new Chart(canvas, { type: "line", data: { datasets }, options: { ...common,
    scales: { x: common.scales.x, y: { stacked: true, min: 0, max: 1, title: { display: true, text: "share of traffic" } } } } });
});
document.body.dataset.rendered = "yes";
`;

export function reportHtml(r: SimulationResult): string {
  const sc = r.scenario;
  const rows = r.strategies
    .map(
      (s) =>
        `<tr><th>${esc(s.label)}</th>${cell(s.figures.regret)}${cell(s.figures.conversions, 0)}${cell(s.figures.revenue, 0)}${cell(
          s.figures.cost,
          0,
        )}${cell(s.figures.profit, 0)}${cell(s.figures.roi, 1, true)}${cell(s.figures.timeToBest.hours, 1)}<td>${fmt(
          s.figures.timeToBest.foundShare * 100,
          0,
        )} %</td>${cell(s.figures.wastedShare, 1, true)}</tr>`,
    )
    .join("\n");
  const section = (id: string, title: string, note = "") =>
    `<section><h2>${title}</h2>${note ? `<p class="note">${note}</p>` : ""}<div class="chart"><canvas id="${id}"></canvas></div></section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Simulation: ${esc(sc.name)} (seed ${sc.seed})</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child{text-align:left}small{color:#777}.chart{position:relative;height:320px;margin-bottom:1.5rem}
.note{color:#555}#shares .chart{height:260px}h3{margin:.2rem 0;font-size:1rem}
</style></head><body>
<h1>${esc(sc.name)}</h1>
<p>${esc(sc.description)}</p>
<p class="note">Objective <b>${sc.objective}</b> · ${sc.arms.length} arms · ${sc.rounds.toLocaleString("en-US")} decisions (${fmt(
    sc.rounds / sc.perHour,
  )} hours) · ${sc.repetitions} repetitions · seed ${sc.seed}. Every strategy faced the same simulated traffic in each repetition
(common random numbers). Figures: mean over repetitions, [5 %–95 %] of the repetitions in brackets.</p>
<table><thead><tr><th>strategy</th><th>regret</th><th>conversions</th><th>revenue</th><th>cost</th><th>profit</th><th>ROI</th>
<th>hours to find best arm</th><th>found in</th><th>traffic on worst arms</th></tr></thead><tbody>
${rows}
</tbody></table>
<p class="note">Regret: expected ${sc.objective} lost against always playing the best arm at each moment. "Hours to find best arm": from when
on the best arm got at least half of the traffic of every later period (over the repetitions that found it). Worst arms: the bottom quarter by expected ${sc.objective}.</p>
${section("regret", "Cumulative regret")}
${section("conversions", "Conversions over time")}
${section("revenue", "Revenue over time")}
${section("profit", "Profit over time")}
${section("roi", "ROI over time", "Cumulative profit over cumulative cost.")}
${section("bestShare", "Best-arm share over time", "Share of each period's decisions on the arm that was best at that moment.")}
<section><h2>Share of traffic per arm over time</h2><div id="shares"></div></section>
<script type="application/json" id="results">${scriptJson(r)}</script>
<script>${chartSource().replace(/<\/script/gi, "<\\/script")}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
