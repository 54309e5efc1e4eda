/**
 * Machine-readable results: the whole SimulationResult as JSON, a per-strategy figures CSV (one row per
 * strategy: mean and 5–95 % spread across repetitions) and a long-format series CSV (strategy, round, metric,
 * mean, p05, p95) that spreadsheets pivot easily.
 */
import type { SimulationResult } from "../simulate.ts";
import type { Summary } from "../stats.ts";

function csvCell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: unknown[][]): string {
  return `${[header, ...rows].map((r) => r.map(csvCell).join(",")).join("\n")}\n`;
}

export function resultJson(r: SimulationResult): string {
  return JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2);
}

const FIGS = [
  "regret",
  "conversions",
  "revenue",
  "cost",
  "profit",
  "roi",
  "wastedShare",
  "invalidConversions",
  "bestShare",
  "oscillation",
] as const;

export function figuresCsv(r: SimulationResult): string {
  const header = ["strategy", "type", "path", "repetitions"];
  for (const f of FIGS) header.push(`${f}_mean`, `${f}_p05`, `${f}_p95`, `${f}_ci_low`, `${f}_ci_high`);
  header.push("time_to_best_rounds_median_of_found", "time_to_best_hours_mean", "time_to_best_found_share");
  const rows = r.strategies.map((s) => {
    const row: unknown[] = [s.label, s.type, s.path, r.scenario.repetitions];
    for (const f of FIGS) {
      const m = s.figures[f] as Summary | null;
      row.push(m?.mean, m?.p05, m?.p95, m?.ciLow, m?.ciHigh);
    }
    row.push(s.figures.timeToBest.rounds.mean, s.figures.timeToBest.hours.mean, s.figures.timeToBest.foundShare);
    return row;
  });
  return toCsv(header, rows);
}

export function seriesCsv(r: SimulationResult): string {
  const rows: unknown[][] = [];
  for (const s of r.strategies) {
    for (const [metric, b] of Object.entries(s.series)) {
      if (!b) continue;
      r.checkpoints.forEach((round, w) => {
        rows.push([s.label, round, metric, b.mean[w], b.p05[w], b.p95[w]]);
      });
    }
    s.armShare.arms.forEach((arm, a) => {
      r.checkpoints.forEach((round, w) => {
        rows.push([s.label, round, `share:${arm}`, s.armShare.share[a][w], "", ""]);
      });
    });
  }
  return toCsv(["strategy", "round", "metric", "mean", "p05", "p95"], rows);
}
