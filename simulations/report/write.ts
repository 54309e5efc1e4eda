/** Writes results.json, figures.csv, series.csv and report.html into reports/<scenario>-<seed>/. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SimulationResult } from "../simulate.ts";
import { reportHtml } from "./html.ts";
import { figuresCsv, resultJson, seriesCsv } from "./tables.ts";

export function reportDir(r: SimulationResult, root = "reports"): string {
  return join(root, `${r.scenario.name}-${r.scenario.seed}`);
}

export function writeResults(r: SimulationResult, dir = reportDir(r)): { dir: string; files: string[] } {
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ["results.json", resultJson(r)],
    ["figures.csv", figuresCsv(r)],
    ["series.csv", seriesCsv(r)],
    ["report.html", reportHtml(r)],
  ];
  for (const [name, body] of files) writeFileSync(join(dir, name), body);
  return { dir, files: files.map(([n]) => join(dir, n)) };
}
