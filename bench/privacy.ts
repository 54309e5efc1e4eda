/**
 * What pseudonymisation costs on the decision and event paths (src/privacy/pseudonym.ts): µs per
 * call of pseudonymiseUnit (one HMAC-SHA-256 per decision), pseudonymiseSource (an IP and a user agent
 * per event), beside randomUUID (what every decision already pays). Interleaved rounds, medians.
 *
 *   npx tsx bench/privacy.ts [--n 200000] [--rounds 7]
 */
import { randomUUID } from "node:crypto";
import { pseudonymiseSource, pseudonymiseUnit } from "../src/privacy/pseudonym.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const n = arg("n", 200_000);
const rounds = arg("rounds", 7);
const ws = { id: "bench", secret: "0123456789abcdef".repeat(4), rawIdentifiers: false };
const units = Array.from({ length: 1024 }, (_, i) => `user-${i * 7919}`);
const UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const sources = Array.from({ length: 1024 }, (_, i) => ({
  ip: `10.${i & 255}.${(i >> 2) & 255}.${i & 255}`,
  userAgent: `${UA} ${i}`,
}));

let sink = 0;
const cases: Record<string, () => void> = {
  randomUUID: () => {
    for (let i = 0; i < n; i++) sink += randomUUID().length;
  },
  pseudonymiseUnit: () => {
    for (let i = 0; i < n; i++) sink += pseudonymiseUnit(ws, units[i & 1023]).unitHash.length;
  },
  "pseudonymiseSource (ip + user agent)": () => {
    for (let i = 0; i < n; i++) sink += (pseudonymiseSource(ws, sources[i & 1023]).ip ?? "").length;
  },
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < rounds; r++)
  for (const [k, f] of Object.entries(cases)) {
    const t0 = performance.now();
    f();
    times[k].push(((performance.now() - t0) * 1000) / n);
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| operation | µs per call (median of ${rounds} rounds × ${n}) |\n|---|--:|`);
for (const k of Object.keys(cases)) console.log(`| ${k} | ${median(times[k]).toFixed(2)} |`);
if (sink === 42) console.log("");
