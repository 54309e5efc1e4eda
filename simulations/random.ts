/**
 * Seed derivation and samplers for the simulator, all on the injected `Rng` (never Math.random).
 *
 * Seeds are derived by hashing (parent seed, label) with a 32-bit mixer (the murmur3 finaliser), so
 * a repetition's streams depend only on (scenario seed, repetition, stream name): results do not change
 * with the number of workers, the order of tasks, or the strategies being compared.
 * Normals: Box–Muller, cosine branch (as the shared benchmark defines them).
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

// Gamma and Beta draws are the strategy library's (one implementation, KS-tested against jstat).
export { beta, gamma } from "../strategies/samplers.ts";

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
