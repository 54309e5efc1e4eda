/**
 * Synthetic logs shaped like ZOZOTOWN's Open Bandit Dataset (Saito et al. 2021), which cannot be downloaded here:
 * 34 ("men") or 46 ("women") items, 3 slots, uniform-random or Bernoulli-Thompson logging, click rates around
 * 0.5 %, and three categorical user features. Each row is one (slot, item) impression as in the dataset; the
 * Bernoulli-Thompson logger ranks items by draws from fixed Beta posteriors and the row's item is drawn from that
 * ranking's probability for its slot (estimated once by Monte Carlo), so the logged propensity is the exact
 * probability of the logged item. Seeded: the same options give the same log.
 */
import { Mulberry32, type Rng } from "../../strategies/rng.ts";
import { beta } from "../../strategies/samplers.ts";
import type { LogRow } from "./logs.ts";

export interface ObdOptions {
  items: number;
  rows: number;
  logging: "random" | "bts";
  seed?: number;
  /** Rankings drawn to estimate the Thompson logger's per-slot probabilities (default 20,000). */
  rankDraws?: number;
}

export const OBD_SLOTS = 3;
const FEATURES = [
  ["a", "b", "c", "d"],
  ["x", "y", "z", "u", "v"],
  ["p1", "p2", "p3", "p4", "p5", "p6"],
];
/** Click-rate multiplier per slot (the top slot is seen most). */
const SLOT_EFFECT = [1.4, 1, 0.7];

export interface ObdLog {
  rows: LogRow[];
  items: string[];
  /** Click probability of item a for features f (indices into FEATURES) in slot k. */
  ctr(a: number, f: number[], k: number): number;
  /** slots × items: the logging policy's probability of each item in each slot. */
  logging: Float64Array;
  /** E over users and slots of Σ_a π(a|slot) ctr — the true value of a context-free per-slot policy. */
  value(pi: (slot: number) => ArrayLike<number>): number;
}

function pick(rng: Rng, pmf: ArrayLike<number>): number {
  let u = rng.next();
  for (let a = 0; a < pmf.length; a++) if ((u -= pmf[a]) < 0) return a;
  return pmf.length - 1;
}

export function syntheticObd(o: ObdOptions): ObdLog {
  const rng = new Mulberry32(o.seed ?? 1);
  const K = o.items;
  const items = Array.from({ length: K }, (_, a) => `item-${String(a).padStart(2, "0")}`);
  const base = Array.from({ length: K }, () => 0.002 + 0.006 * rng.next());
  const effect = FEATURES.map((levels) => levels.map(() => Array.from({ length: K }, () => 0.5 * (rng.next() - 0.5))));
  const ctr = (a: number, f: number[], k: number) =>
    Math.min(1, base[a] * SLOT_EFFECT[k] * Math.exp(f.reduce((s, l, i) => s + effect[i][l][a], 0)));
  const logging = new Float64Array(OBD_SLOTS * K);
  if (o.logging === "random") logging.fill(1 / K);
  else {
    // Posteriors as after some traffic: Beta(1 + clicks, 1 + non-clicks) around each item's base rate.
    const alpha = base.map((b) => 1 + b * 2000);
    const betaP = base.map((b) => 1 + (1 - b) * 2000);
    const draws = o.rankDraws ?? 20_000;
    const d = new Float64Array(K);
    const order = Array.from({ length: K }, (_, a) => a);
    for (let t = 0; t < draws; t++) {
      for (let a = 0; a < K; a++) d[a] = beta(rng, alpha[a], betaP[a]);
      order.sort((i, j) => d[j] - d[i]);
      for (let k = 0; k < OBD_SLOTS; k++) logging[k * K + order[k]] += 1 / draws;
    }
    // No item may have probability 0 in a slot (IPS needs support): mix in 1 % uniform.
    for (let i = 0; i < logging.length; i++) logging[i] = 0.99 * logging[i] + 0.01 / K;
  }
  const rows: LogRow[] = [];
  const t0 = Date.UTC(2019, 10, 24);
  for (let t = 0; t < o.rows; t++) {
    const f = FEATURES.map((levels) => Math.floor(rng.next() * levels.length));
    const k = t % OBD_SLOTS;
    const a = pick(rng, logging.subarray(k * K, (k + 1) * K));
    const reward = rng.next() < ctr(a, f, k) ? 1 : 0;
    rows.push({
      decisionId: `i-${t}`,
      timestamp: new Date(t0 + Math.floor(t / OBD_SLOTS) * 1000).toISOString(),
      action: items[a],
      propensity: logging[k * K + a],
      reward,
      context: {
        user_feature_0: FEATURES[0][f[0]],
        user_feature_1: FEATURES[1][f[1]],
        user_feature_2: FEATURES[2][f[2]],
      },
      position: k + 1,
    });
  }
  const value = (pi: (slot: number) => ArrayLike<number>) => {
    // Features are independent and uniform: average over every combination.
    let s = 0;
    let n = 0;
    for (let f0 = 0; f0 < 4; f0++)
      for (let f1 = 0; f1 < 5; f1++)
        for (let f2 = 0; f2 < 6; f2++)
          for (let k = 0; k < OBD_SLOTS; k++) {
            const p = pi(k);
            for (let a = 0; a < K; a++) s += p[a] * ctr(a, [f0, f1, f2], k);
            n++;
          }
    return s / n;
  };
  return { rows, items, ctr, logging, value };
}
