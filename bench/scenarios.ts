/**
 * The shared benchmark environments (bench/shared), rebuilt exactly from their definitions —
 * mulberry32 streams, Box–Muller cosine-branch normals, pre-drawn reward tables (common random
 * numbers) — and checked against scenario_params.json's test vectors and fingerprints, as
 * bench/shared/verify_params.mjs does. A mismatch throws: figures on a different environment
 * would not be comparable with the peer's.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Mulberry32 } from "../strategies/rng.ts";

const here = dirname(fileURLToPath(import.meta.url));
// The benchmark's definitions, vendored in bench/shared (scenarios.json, scenario_params.json,
// verify_params.mjs and the peer's figures in README.md), so a clone rebuilds and fingerprint-checks the
// same environments on its own.
export const SHARED_BENCH_DIR = process.env.ADBANDIT_SHARED_BENCH ?? join(here, "shared");

interface Params {
  arms: number;
  final_window_frac: number;
  prng: { test_vectors_u32: Record<string, number[]> };
  bernoulli: {
    scenario: string;
    rounds: number;
    arm_rates: number[];
    reward_seed: number;
    batch: number;
    fingerprint: { reward_table_ones_per_arm: number[] };
  };
  contextual: {
    scenario: string;
    rounds: number;
    d: number;
    theta_sd: number;
    theta_seed: number;
    x_seed: number;
    reward_seed: number;
    batch: number;
    theta: number[][];
    fingerprint: {
      x_sum: number;
      x_sumsq: number;
      oracle_arm_counts: number[];
      oracle_mean_reward_sum: number;
      reward_table_ones_per_arm: number[];
    };
  };
}

export function loadParams(dir = SHARED_BENCH_DIR): Params {
  return JSON.parse(readFileSync(join(dir, "scenario_params.json"), "utf8")) as Params;
}

/** Standard normal as the scenarios define it: Box–Muller, cosine branch, one normal per two uniforms. */
export function bmNormal(g: Mulberry32): number {
  const u1 = g.next();
  const u2 = g.next();
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

export interface Scenario {
  id: string;
  K: number;
  T: number;
  /** Context dimension (0: context-free). */
  d: number;
  batch: number;
  /** Contexts, row-major T × d (empty when d = 0). */
  X: Float64Array;
  /** Expected reward mu_a(t), row-major T × K. */
  mu: Float64Array;
  /** Realized reward table, row-major T × K. */
  reward: Uint8Array;
  /** max_a mu_a(t) and its argmax (ties → lowest index). */
  best: Float64Array;
  bestArm: Int32Array;
}

function check(name: string, ok: boolean): void {
  if (!ok) throw new Error(`shared scenario check failed: ${name}`);
}
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

function finishScenario(s: Omit<Scenario, "best" | "bestArm">): Scenario {
  const best = new Float64Array(s.T);
  const bestArm = new Int32Array(s.T);
  for (let t = 0; t < s.T; t++) {
    let b = 0;
    for (let a = 1; a < s.K; a++) if (s.mu[t * s.K + a]! > s.mu[t * s.K + b]!) b = a;
    bestArm[t] = b;
    best[t] = s.mu[t * s.K + b]!;
  }
  return { ...s, best, bestArm };
}

/** Bernoulli arms at linspace(0.01, 0.05, 10), T = 100,000, reward seed 1001 (optionally truncated to T rounds). */
export function bernoulliScenario(T?: number, P = loadParams()): Scenario {
  for (const [seed, vec] of Object.entries(P.prng.test_vectors_u32)) {
    const g = new Mulberry32(Number(seed));
    check(
      `mulberry32(${seed}) test vector`,
      vec.every((v) => v === g.nextU32()),
    );
  }
  const B = P.bernoulli;
  const K = P.arms;
  const rates = Array.from({ length: K }, (_, a) => 0.01 + (a * (0.05 - 0.01)) / (K - 1));
  check(
    "bernoulli arm rates",
    rates.every((r, a) => close(r, B.arm_rates[a]!, 1e-15)),
  );
  const full = B.rounds;
  const reward = new Uint8Array(full * K);
  const g = new Mulberry32(B.reward_seed);
  const ones = new Array(K).fill(0);
  for (let t = 0; t < full; t++)
    for (let a = 0; a < K; a++)
      if (g.next() < B.arm_rates[a]!) {
        reward[t * K + a] = 1;
        ones[a]++;
      }
  check(
    "bernoulli reward table ones per arm",
    ones.every((v, a) => v === B.fingerprint.reward_table_ones_per_arm[a]),
  );
  const T2 = T ?? full;
  const mu = new Float64Array(T2 * K);
  for (let t = 0; t < T2; t++) for (let a = 0; a < K; a++) mu[t * K + a] = B.arm_rates[a]!;
  return finishScenario({
    id: B.scenario,
    K,
    T: T2,
    d: 0,
    batch: B.batch,
    X: new Float64Array(0),
    mu,
    reward: reward.subarray(0, T2 * K),
  });
}

/** Logistic contextual scenario: K = 10, d = 10, T = 20,000 (optionally truncated). */
export function contextualScenario(T?: number, P = loadParams()): Scenario {
  const C = P.contextual;
  const K = P.arms;
  const d = C.d;
  const gt = new Mulberry32(C.theta_seed);
  let maxErr = 0;
  for (let a = 0; a < K; a++)
    for (let j = 0; j < d; j++) maxErr = Math.max(maxErr, Math.abs(C.theta_sd * bmNormal(gt) - C.theta[a]![j]!));
  check("theta regenerated from PRNG", maxErr < 1e-12);
  const full = C.rounds;
  const X = new Float64Array(full * d);
  const mu = new Float64Array(full * K);
  const reward = new Uint8Array(full * K);
  const gx = new Mulberry32(C.x_seed);
  const gu = new Mulberry32(C.reward_seed);
  let xs = 0;
  let xss = 0;
  let oracle = 0;
  const ones = new Array(K).fill(0);
  const bestCount = new Array(K).fill(0);
  for (let t = 0; t < full; t++) {
    for (let j = 0; j < d; j++) {
      const v = bmNormal(gx);
      X[t * d + j] = v;
      xs += v;
      xss += v * v;
    }
    let best = 0;
    let bestP = -1;
    for (let a = 0; a < K; a++) {
      let z = 0;
      for (let j = 0; j < d; j++) z += X[t * d + j]! * C.theta[a]![j]!;
      const p = 1 / (1 + Math.exp(-z));
      mu[t * K + a] = p;
      if (p > bestP) {
        bestP = p;
        best = a;
      }
      if (gu.next() < p) {
        reward[t * K + a] = 1;
        ones[a]++;
      }
    }
    bestCount[best]++;
    oracle += bestP;
  }
  const F = C.fingerprint;
  check("contexts sum", close(xs, F.x_sum, 1e-9));
  check("contexts sum of squares", close(xss, F.x_sumsq, 1e-9));
  check(
    "oracle arm counts",
    bestCount.every((v, a) => v === F.oracle_arm_counts[a]),
  );
  check("oracle expected reward sum", close(oracle, F.oracle_mean_reward_sum, 1e-9));
  check(
    "contextual reward table ones per arm",
    ones.every((v, a) => v === F.reward_table_ones_per_arm[a]),
  );
  const T2 = T ?? full;
  return finishScenario({
    id: C.scenario,
    K,
    T: T2,
    d,
    batch: C.batch,
    X: X.subarray(0, T2 * d),
    mu: mu.subarray(0, T2 * K),
    reward: reward.subarray(0, T2 * K),
  });
}

export const FINAL_WINDOW_FRAC = 0.1;
