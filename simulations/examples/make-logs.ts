/**
 * Writes reports/example-decisions.jsonl (reports/ is gitignored): 2,000 logged decisions in the service's export format, from a
 * logging policy that splits traffic 40/30/30 over three creatives, with a customer segment in the context
 * (new customers prefer creative-b, returning ones creative-a). Seeded, so the file is reproducible:
 *   npx tsx simulations/examples/make-logs.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Mulberry32 } from "../../strategies/rng.ts";

const rng = new Mulberry32(2026);
const actions = ["creative-a", "creative-b", "creative-c"];
const logging = [0.4, 0.3, 0.3];
const rate: Record<string, number[]> = { new: [0.02, 0.06, 0.03], returning: [0.07, 0.03, 0.03] };
const lines: string[] = [];
for (let i = 0; i < 2000; i++) {
  const segment = rng.next() < 0.45 ? "new" : "returning";
  let u = rng.next();
  let a = actions.length - 1;
  for (let k = 0; k < actions.length; k++)
    if ((u -= logging[k]) < 0) {
      a = k;
      break;
    }
  const reward = rng.next() < rate[segment][a] ? 1 : 0;
  const timestamp = new Date(Date.UTC(2026, 10, 1) + i * 45_000).toISOString();
  lines.push(
    JSON.stringify({
      decisionId: `d-${i}`,
      timestamp,
      campaignId: "example",
      action: actions[a],
      propensity: logging[a],
      reward,
      context: { segment },
    }),
  );
}
const out = fileURLToPath(new URL("../../reports/example-decisions.jsonl", import.meta.url));
mkdirSync(fileURLToPath(new URL("../../reports/", import.meta.url)), { recursive: true });
writeFileSync(out, `${lines.join("\n")}\n`);
console.log(`written: ${out}`);
