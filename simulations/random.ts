/**
 * Seed derivation and samplers for the simulator, all on the injected `Rng` (never Math.random).
 *
 * Seeds are derived by hashing (parent seed, label) with a 32-bit mixer (the murmur3 finaliser), so
 * a repetition's streams depend only on (scenario seed, repetition, stream name): results do not change
 * with the number of workers, the order of tasks, or the strategies being compared.
 * Normals: Box–Muller, cosine branch (as the shared benchmark defines them). Gamma: Marsaglia & Tsang (2000).
 */
import type { Rng } from "../strategies/rng.ts";

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Child seed of `parent` for a label (a repetition number or a stream/strategy name). */
export function deriveSeed(parent: number, label: string | number): number {
  let h = mix32((parent >>> 0) ^ 0x9e3779b9);
  const s = String(label);
  for (let i = 0; i < s.length; i++) h = mix32(h ^ Math.imul(s.charCodeAt(i) + 1, 0x27d4eb2d));
  return mix32(h ^ s.length);
}

/** Standard normal (Box–Muller, cosine branch: one normal per two uniforms). */
export function normal(rng: Rng): number {
  const u1 = rng.next();
  const u2 = rng.next();
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

/** Gamma(shape, 1) by Marsaglia–Tsang; shape < 1 through the boost Gamma(a) = Gamma(a+1)·U^(1/a). */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) as Gamma(a) / (Gamma(a) + Gamma(b)). */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  return x / (x + y);
}

/** Index drawn from non-negative weights (need not sum to 1). */
export function categorical(rng: Rng, weights: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function logit(p: number): number {
  const q = Math.min(1 - 1e-12, Math.max(1e-12, p));
  return Math.log(q / (1 - q));
}
