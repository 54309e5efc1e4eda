/**
 * Detection rate and false-flag rate of the fraud detectors over seeded repetitions of synthetic traffic
 * (synthetic.ts): each pattern is injected alone into a fresh run; a run counts as detected when the
 * expected detector flags the injected entity. False flags are flags on entities the injection did not
 * touch, over all runs (clean runs included), per entity type.
 *
 *   npx tsx src/fraud/measure.ts --reps 50 --seed 1
 */
import { Command } from "commander";
import { detectAll } from "./detect.ts";
import { conversionLinks } from "./links.ts";
import { FRAUD_PATTERNS, generateTraffic, type FraudPattern, type SyntheticOptions } from "./synthetic.ts";

export interface Measurement {
  /** detected: by the detector meant for the pattern; flagged: the injected entity flagged by any detector. */
  detection: { pattern: FraudPattern; runs: number; detected: number; flagged: number }[];
  falseFlags: { entityType: string; flagged: number; clean: number; byDetector: Record<string, number> }[];
}

export function measure(reps: number, seed: number, traffic: Partial<SyntheticOptions> = {}): Measurement {
  const types = ["ip", "user_agent", "publisher", "placement"] as const;
  const ff = Object.fromEntries(
    types.map((t) => [t, { flagged: 0, clean: 0, byDetector: {} as Record<string, number> }]),
  );
  const detection: Measurement["detection"] = [];
  for (const pattern of [null, ...FRAUD_PATTERNS]) {
    let detected = 0;
    let flagged = 0;
    for (let r = 0; r < reps; r++) {
      const run = generateTraffic({
        ...traffic,
        seed: seed * 100_003 + r * 131 + (pattern ? FRAUD_PATTERNS.indexOf(pattern) + 1 : 0),
        fraud: pattern,
      });
      const findings = detectAll(run.events, conversionLinks(run.events, run.decisions), run.end);
      const x = run.expected;
      if (
        x &&
        findings.some((f) => f.detector === x.detector && f.entityType === x.entityType && f.entity === x.entity)
      )
        detected++;
      if (x && findings.some((f) => f.entityType === x.entityType && f.entity === x.entity)) flagged++;
      for (const t of types) ff[t].clean += run.entities[t].size;
      const seen = new Set<string>();
      for (const f of findings) {
        if (f.entityType === "campaign") continue;
        const key = `${f.entityType}:${f.entity}`;
        if (run.tainted.has(key)) continue;
        const slot = ff[f.entityType];
        slot.byDetector[f.detector] = (slot.byDetector[f.detector] ?? 0) + 1;
        if (seen.has(key)) continue;
        seen.add(key);
        slot.flagged++;
      }
    }
    if (pattern) detection.push({ pattern, runs: reps, detected, flagged });
  }
  return { detection, falseFlags: types.map((t) => ({ entityType: t, ...ff[t] })) };
}

function pct(a: number, b: number): string {
  return b === 0 ? "–" : `${((100 * a) / b).toFixed(a === 0 || a === b ? 0 : 2)}%`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = new Command()
    .option("--reps <n>", "repetitions per pattern", "50")
    .option("--seed <n>", "base seed", "1")
    .parse()
    .opts<{ reps: string; seed: string }>();
  const reps = Number(opts.reps);
  const t0 = performance.now();
  const m = measure(reps, Number(opts.seed));
  console.log(
    `| injected pattern | runs | found by its detector | detection rate | flagged by any detector |\n|---|--:|--:|--:|--:|`,
  );
  for (const d of m.detection)
    console.log(
      `| ${d.pattern} | ${d.runs} | ${d.detected} | ${pct(d.detected, d.runs)} | ${pct(d.flagged, d.runs)} |`,
    );
  console.log(
    `\n| clean entity type | clean entity-runs | falsely flagged | false-flag rate | by detector |\n|---|--:|--:|--:|---|`,
  );
  for (const f of m.falseFlags)
    console.log(
      `| ${f.entityType} | ${f.clean} | ${f.flagged} | ${pct(f.flagged, f.clean)} | ${
        Object.entries(f.byDetector)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ") || "–"
      } |`,
    );
  console.log(`\n${(FRAUD_PATTERNS.length + 1) * reps} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
