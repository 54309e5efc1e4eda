/**
 * Off-policy estimators of a target policy's value V(π) = E_x[Σ_a π(a|x) r(x,a)] from logs (x_i, a_i, p_i, r_i)
 * collected by another policy with propensities p_i. Notation: w_i = π(a_i|x_i)/p_i is the importance weight
 * (min(w_i, M) when clipping at M is asked), q̂(x, a) the cross-fitted reward model (the model scoring row i was
 * fitted on the other folds), q̂_i = q̂(x_i, a_i) and DM_i = Σ_a π(a|x_i) q̂(x_i, a).
 *
 * Every estimator is a function of a few sums over the rows (`Sums`), so the meta-runner (evaluate.ts) computes
 * those sums once for the whole log and once per bootstrap resample, and every estimator reads the same
 * resample (as in Open Bandit Pipeline's meta-runner, obp/ope/meta.py). Names are stored in results: never
 * rename them.
 */

/** Sums over a set of rows (the whole log, or one bootstrap resample with its multiplicities). */
export interface Sums {
  /** Rows, Σ r_i. */
  n: number;
  r: number;
  /** Σ w_i r_i and Σ w_i (weights clipped when asked). */
  wr: number;
  w: number;
  /** Rows where the policy's own draw matched the logged action, and their Σ r_i. */
  match: number;
  matchR: number;
  /** Σ DM_i. */
  dm: number;
  /** Σ w_i (r_i − q̂_i); Σ 1[w_i ≤ τ] w_i (r_i − q̂_i); Σ w̃_i (r_i − q̂_i) with w̃ = λw/(w² + λ). */
  dr: number;
  sw: number;
  os: number;
}

export type EstimatorName = "replay" | "ips" | "snips" | "dm" | "dr" | "sndr" | "switch_dr" | "dros";

export interface Estimator {
  readonly name: EstimatorName;
  /** Uses the reward model (its interval then carries the model's refit per resample). */
  readonly model: boolean;
  /** Uses importance weights (clipping applies). */
  readonly weighted: boolean;
  value(s: Sums): number;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);

/** replay (Li, Chu, Langford & Wang, WSDM 2011): Σ_i r_i 1[draw_i = a_i] / Σ_i 1[draw_i = a_i]. Unbiased under uniform logging. */
export const replay: Estimator = {
  name: "replay",
  model: false,
  weighted: false,
  value: (s) => ratio(s.matchR, s.match),
};

/** ips (Horvitz & Thompson 1952): (1/n) Σ_i w_i r_i. */
export const ips: Estimator = { name: "ips", model: false, weighted: true, value: (s) => ratio(s.wr, s.n) };

/** snips (Swaminathan & Joachims, NeurIPS 2015): Σ_i w_i r_i / Σ_i w_i. */
export const snips: Estimator = { name: "snips", model: false, weighted: true, value: (s) => ratio(s.wr, s.w) };

/** dm, direct method: (1/n) Σ_i DM_i (biased when q̂ is). */
export const dm: Estimator = { name: "dm", model: true, weighted: false, value: (s) => ratio(s.dm, s.n) };

/** dr, doubly robust (Dudík, Langford & Li, ICML 2011): (1/n) Σ_i [DM_i + w_i (r_i − q̂_i)]. */
export const dr: Estimator = { name: "dr", model: true, weighted: true, value: (s) => ratio(s.dm + s.dr, s.n) };

/**
 * sndr, self-normalised doubly robust (Kallus & Uehara, NeurIPS 2019; OBP's SelfNormalizedDoublyRobust):
 * (1/n) Σ_i DM_i + Σ_i w_i (r_i − q̂_i) / Σ_i w_i.
 */
export const sndr: Estimator = {
  name: "sndr",
  model: true,
  weighted: true,
  value: (s) => ratio(s.dm, s.n) + (s.w > 0 ? s.dr / s.w : 0),
};

/**
 * switch_dr (Wang, Agarwal & Dudík, ICML 2017, in OBP's form SwitchDoublyRobust):
 * (1/n) Σ_i [DM_i + 1[w_i ≤ τ] w_i (r_i − q̂_i)]: the correction is dropped where the weight exceeds τ.
 */
export const switchDr: Estimator = {
  name: "switch_dr",
  model: true,
  weighted: true,
  value: (s) => ratio(s.dm + s.sw, s.n),
};

/**
 * dros, doubly robust with optimistic shrinkage (Su, Dimakopoulou, Krishnamurthy & Dudík, ICML 2020):
 * (1/n) Σ_i [DM_i + w̃_i (r_i − q̂_i)], w̃_i = λ w_i / (w_i² + λ); λ → ∞ gives DR, λ = 0 gives DM.
 */
export const dros: Estimator = { name: "dros", model: true, weighted: true, value: (s) => ratio(s.dm + s.os, s.n) };

export const ESTIMATORS: readonly Estimator[] = [replay, ips, snips, dm, dr, sndr, switchDr, dros];

/** DRos's shrunk weight λw/(w² + λ) (w itself when λ = ∞). */
export const shrink = (w: number, lambda: number) => (lambda === Infinity ? w : (lambda * w) / (w * w + lambda));

export const emptySums = (): Sums => ({ n: 0, r: 0, wr: 0, w: 0, match: 0, matchR: 0, dm: 0, dr: 0, sw: 0, os: 0 });
