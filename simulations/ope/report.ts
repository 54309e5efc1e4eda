/**
 * The self-contained HTML report of an evaluation (no script, no network: inline SVG): a forest plot of every
 * estimator's value and interval against the logging policy's own value (its band shaded), the distribution of
 * the importance weights (log-scale half decades), the rows carrying the IPS estimate, the settings (clipping,
 * folds, τ, λ, how the interval was made) and every warning. Helpers (`esc`, `fmt`) from the simulation report.
 */
import { esc, fmt } from "../report/html.ts";
import { describeRef } from "./diagnostics.ts";
import type { EvaluationResult } from "./evaluate.ts";

const sig = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : Number(x.toPrecision(4)).toString();

function forest(r: EvaluationResult): string {
  const W = 760;
  const left = 110;
  const right = 20;
  const rowH = 28;
  const top = 16;
  const H = top + rowH * r.estimates.length + 36;
  const xs = [
    r.logged.ciLow,
    r.logged.ciHigh,
    r.logged.value,
    ...r.estimates.flatMap((e) => [e.value, e.ciLow, e.ciHigh]),
  ].filter(Number.isFinite);
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (!(hi > lo)) {
    lo -= 1e-9 + Math.abs(lo) * 0.1;
    hi += 1e-9 + Math.abs(hi) * 0.1;
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const X = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const parts: string[] = [];
  const bottom = top + rowH * r.estimates.length;
  if (Number.isFinite(r.logged.ciLow) && Number.isFinite(r.logged.ciHigh))
    parts.push(
      `<rect x="${X(r.logged.ciLow)}" y="${top - 6}" width="${Math.max(1, X(r.logged.ciHigh) - X(r.logged.ciLow))}" height="${bottom - top + 6}" fill="#2ca02c22"/>`,
    );
  parts.push(
    `<line x1="${X(r.logged.value)}" x2="${X(r.logged.value)}" y1="${top - 6}" y2="${bottom}" stroke="#2ca02c" stroke-dasharray="4 3"/>`,
  );
  r.estimates.forEach((e, i) => {
    const y = top + rowH * i + rowH / 2;
    parts.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(e.estimator)}</text>`);
    if (Number.isFinite(e.ciLow) && Number.isFinite(e.ciHigh))
      parts.push(
        `<line x1="${X(e.ciLow)}" x2="${X(e.ciHigh)}" y1="${y}" y2="${y}" stroke="#1f77b4" stroke-width="2"/>`,
      );
    if (Number.isFinite(e.value))
      parts.push(
        `<circle cx="${X(e.value)}" cy="${y}" r="4.5" fill="#1f77b4"><title>${esc(e.estimator)}: ${sig(e.value)} [${sig(e.ciLow)}, ${sig(e.ciHigh)}]</title></circle>`,
      );
  });
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    parts.push(
      `<line x1="${X(v)}" x2="${X(v)}" y1="${bottom}" y2="${bottom + 5}" stroke="#555"/><text x="${X(v)}" y="${bottom + 18}" text-anchor="middle">${sig(v)}</text>`,
    );
  }
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${bottom}" y2="${bottom}" stroke="#555"/>`);
  return `<svg id="forest" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="forest plot">${parts.join("")}</svg>`;
}

function histogram(r: EvaluationResult): string {
  const { edges, counts } = r.weights.histogram;
  const bars = [
    { label: "0", count: r.weights.zero },
    ...counts.map((c, i) => ({ label: `≥ ${sig(edges[i])}`, count: c })),
  ];
  const W = 760;
  const H = 200;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const bw = (W - 40) / bars.length;
  const parts = bars.map((b, i) => {
    const h = ((H - 40) * b.count) / max;
    const x = 20 + i * bw;
    return `<rect x="${x + 2}" y="${H - 24 - h}" width="${Math.max(1, bw - 4)}" height="${h}" fill="${i === 0 ? "#aaa" : "#ff7f0e"}"><title>${b.label}: ${b.count} rows</title></rect><text x="${x + bw / 2}" y="${H - 8}" text-anchor="middle">${esc(b.label)}</text><text x="${x + bw / 2}" y="${H - 28 - h}" text-anchor="middle">${b.count}</text>`;
  });
  return `<svg id="weights" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="importance weights">${parts.join("")}</svg>`;
}

export function evaluationHtml(r: EvaluationResult, title = "Off-policy evaluation"): string {
  const rows = r.estimates
    .map(
      (e) =>
        `<tr><th>${esc(e.estimator)}</th><td>${sig(e.value)}</td><td>[${sig(e.ciLow)}, ${sig(e.ciHigh)}]</td><td>${sig(e.lift.value)}</td><td>[${sig(e.lift.ciLow)}, ${sig(e.lift.ciHigh)}]</td><td>${e.liftRelative === null ? "–" : `${fmt(e.liftRelative * 100, 1)} %`}</td><td>${e.rows}</td></tr>`,
    )
    .join("\n");
  const top = r.topRows.rows
    .map(
      (t) =>
        `<tr><th>${esc(describeRef(t))}</th><td>${esc(t.action)}</td><td>${sig(t.propensity)}</td><td>${sig(t.weight)}</td><td>${sig(t.reward)}</td><td>${fmt(t.share * 100, 1)} %</td></tr>`,
    )
    .join("\n");
  const warnings = r.warnings.length
    ? `<ul class="warnings">${r.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>`
    : "<p>No warnings.</p>";
  const w = r.weights;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}: ${esc(r.policy)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child{text-align:left}.note{color:#555}svg text{font:12px system-ui,sans-serif;fill:#333}
.warnings li{color:#8a4b00;margin:.3rem 0}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Policy <b>${esc(r.policy)}</b> on ${r.rows.toLocaleString("en-US")} logged decisions over ${r.actions.length} actions${r.slots ? ` and ${r.slots} slots` : ""}, objective ${esc(r.objective)}.
Logged policy's own value <b>${sig(r.logged.value)}</b> [${sig(r.logged.ciLow)}, ${sig(r.logged.ciHigh)}] (green line and band).</p>
<h2>Estimates (${r.level * 100} % intervals)</h2>
${forest(r)}
<table><thead><tr><th>estimator</th><th>value</th><th>interval</th><th>lift</th><th>lift interval</th><th>lift %</th><th>rows</th></tr></thead><tbody>
${rows}
</tbody></table>
<p class="note">Interval: ${esc(r.interval.method)}; ${r.interval.bootstrap} resamples, seed ${r.seed}.
Clipping: ${r.clip ? `weights clipped at ${r.clip.at} (${r.clip.rows} rows)` : "off"}.
Reward model: ridge (λ = ${r.model.ridge}) on ${r.model.features} encoded features, ${r.model.folds}-fold cross-fitted.
Switch-DR τ = ${sig(r.model.switchTau)}, DRos λ = ${sig(r.model.drosLambda)}${r.model.tuned ? " (tuned by estimated MSE)" : ""}.</p>
<h2>Importance weights π/p</h2>
<p>Mean ${sig(w.mean)}, max ${sig(w.max)} (${esc(describeRef(w.maxRow))}); effective sample size ${sig(w.ess)} (${fmt(w.essShare * 100, 1)} % of rows);
propensities ${sig(r.propensity.min)} (${esc(describeRef(r.propensity.minRow))}) to ${sig(r.propensity.max)}.</p>
${histogram(r)}
<h2>Rows carrying the IPS estimate</h2>
<p>The ${r.topRows.rows.length} rows below carry ${fmt(r.topRows.share * 100, 1)} % of Σ w·r.</p>
<table><thead><tr><th>row</th><th>action</th><th>propensity</th><th>weight</th><th>reward</th><th>share</th></tr></thead><tbody>
${top}
</tbody></table>
<h2>Warnings</h2>
${warnings}
</body></html>
`;
}
