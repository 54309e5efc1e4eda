/**
 * Decay for drift, per campaign: what an hour bucket of statistics still weighs, by its age in whole hours
 * (the hour of `now` minus the bucket's hour, so every replica agrees within an hour). Pure, no clock.
 *
 * - `{halfLifeHours: H}`: exponential forgetting, weight 2^(−age/H). Multiplicative in age, so matured
 *   buckets fold exactly into one base: base(h₁) = 2^(−(h₁ − h₀)/H)·base(h₀) + the buckets folded at h₁.
 * - `{windowHours: N}`: a sliding window, weight 1 for the N most recent hour buckets (the current one
 *   included), 0 before; buckets that left the window are dropped, nothing is folded.
 * - none: weight 1 (today's totals).
 *
 * Each strategy's sufficient statistics are weighted alike (Beta counts, Normal–Inverse-Gamma n/Σr/Σr²,
 * ridge Σxxᵀ/Σr·x), which is the weighted (power) likelihood: exact for it, as discounted Thompson sampling
 * is (Raj & Kalyani 2017), but by hour of decision rather than per observation. The strategies' own
 * `discount`/`window` params (simulations only) forget per observation in arrival order; at a steady R
 * decisions an hour, `discount` γ is a half-life of ln 2 / (−ln γ) / R hours and `window` W is W / R hours.
 */
import type { DecaySpec } from "../store/schema.ts";

export type { DecaySpec };

/** Weight of a bucket `ageHours` (integer, ≥ 0; negative = a clock ahead, counted as 0) old. */
export function decayWeight(spec: DecaySpec | undefined, ageHours: number): number {
  const age = Math.max(0, ageHours);
  if (!spec) return 1;
  if ("halfLifeHours" in spec) return 2 ** (-age / spec.halfLifeHours);
  return age < spec.windowHours ? 1 : 0;
}

/** Whether matured buckets can be folded into a base by rescaling (exponential or none), or must be kept/dropped (window). */
export function foldsIntoBase(spec: DecaySpec | undefined): boolean {
  return !spec || "halfLifeHours" in spec;
}

/** Validates a decay spec (throws RangeError naming the field). */
export function checkDecay(spec: DecaySpec): void {
  if ("halfLifeHours" in spec && "windowHours" in spec)
    throw new RangeError("decay: give halfLifeHours or windowHours");
  if ("halfLifeHours" in spec && !(spec.halfLifeHours > 0 && Number.isFinite(spec.halfLifeHours)))
    throw new RangeError("decay.halfLifeHours: must be a positive number");
  if ("windowHours" in spec && !(Number.isInteger(spec.windowHours) && spec.windowHours >= 1))
    throw new RangeError("decay.windowHours: must be a whole number of hours ≥ 1");
}
