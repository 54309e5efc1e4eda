/**
 * Context encoding for contextual strategies inside the simulator: an intercept, each numeric feature
 * standardised with the scenario's own mean and sd, and each categorical feature (and the recipients'
 * `timezone`) one-hot over its declared levels. The layout is fixed by the scenario, so every repetition
 * and every strategy sees the same columns.
 */
import type { Scenario } from "./scenario.ts";

export interface ContextLayout {
  /** Encoded length (intercept included). */
  dim: number;
  /** Column names, for reports and debugging. */
  columns: string[];
  numeric: { name: string; mean: number; sd: number; col: number }[];
  categorical: { name: string; levels: string[]; weights: number[]; col: number }[];
}

export function contextLayout(s: Scenario): ContextLayout {
  const columns = ["(intercept)"];
  const numeric: ContextLayout["numeric"] = [];
  const categorical: ContextLayout["categorical"] = [];
  for (const f of s.features) {
    if (f.type === "numeric") {
      numeric.push({ name: f.name, mean: f.mean, sd: f.sd, col: columns.length });
      columns.push(f.name);
    } else {
      categorical.push({
        name: f.name,
        levels: f.levels.map((l) => l.value),
        weights: f.levels.map((l) => l.weight),
        col: columns.length,
      });
      for (const l of f.levels) columns.push(`${f.name}=${l.value}`);
    }
  }
  const tz = s.seasonality?.timezones;
  if (tz) {
    categorical.push({
      name: "timezone",
      levels: tz.map((t) => t.name),
      weights: tz.map((t) => t.weight),
      col: columns.length,
    });
    for (const t of tz) columns.push(`timezone=${t.name}`);
  }
  return { dim: columns.length, columns, numeric, categorical };
}
