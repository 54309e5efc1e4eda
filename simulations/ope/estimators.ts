/**
 * Off-policy estimators of a target policy's value V(π) = E_x[Σ_a π(a|x) r(x,a)] from logs (x_i, a_i, p_i, r_i)
 * collected by another policy with propensities p_i. Each estimator only defines its per-round step
 * (v_i, w_i); the estimate is Σv_i / Σw_i, so the meta-runner (evaluate.ts) shares one bootstrap across all
 * (as in Open Bandit Pipeline, obp/ope/estimators.py).
 *
 * - replay  (Li, Chu, Langford & Wang, WSDM 2011): keep the rounds where the policy's own draw equals the
 *           logged action: v = r·1[match], w = 1[match]. Unbiased when logging is uniform.
 * - ips     (Horvitz & Thompson 1952): v = π(a_i|x_i)/p_i · r_i, w = 1.
 * - snips   (Swaminathan & Joachims, NeurIPS 2015): v as IPS, w = π(a_i|x_i)/p_i.
 * - dm      direct method: v = Σ_a π(a|x_i) q̂(x_i,a), w = 1 (biased when q̂ is).
 * - dr      doubly robust (Dudík, Langford & Li, ICML 2011): v = Σ_a π(a|x_i) q̂(x_i,a) + π(a_i|x_i)/p_i (r_i − q̂(x_i,a_i)).
 * Names are stored in results: never rename them.
 */

export interface RoundInput {
  /** π(·|x_i), length K. */
  pi: Float64Array;
  /** Logged action index, its propensity and reward. */
  a: number;
  p: number;
  r: number;
  /** q̂(x_i, ·), length K. */
  q: Float64Array;
  /** The policy's own draw matched the logged action (replay). */
  match: boolean;
}

export interface Estimator {
  readonly name: "replay" | "ips" | "snips" | "dm" | "dr";
  /** Writes the round's contribution into out[0] = v, out[1] = w. */
  step(i: RoundInput, out: Float64Array): void;
}

const dot = (pi: Float64Array, q: Float64Array) => {
  let s = 0;
  for (let a = 0; a < pi.length; a++) s += pi[a] * q[a];
  return s;
};

export const replay: Estimator = {
  name: "replay",
  step(i, out) {
    out[0] = i.match ? i.r : 0;
    out[1] = i.match ? 1 : 0;
  },
};

export const ips: Estimator = {
  name: "ips",
  step(i, out) {
    out[0] = (i.pi[i.a] / i.p) * i.r;
    out[1] = 1;
  },
};

export const snips: Estimator = {
  name: "snips",
  step(i, out) {
    const w = i.pi[i.a] / i.p;
    out[0] = w * i.r;
    out[1] = w;
  },
};

export const dm: Estimator = {
  name: "dm",
  step(i, out) {
    out[0] = dot(i.pi, i.q);
    out[1] = 1;
  },
};

export const dr: Estimator = {
  name: "dr",
  step(i, out) {
    out[0] = dot(i.pi, i.q) + (i.pi[i.a] / i.p) * (i.r - i.q[i.a]);
    out[1] = 1;
  },
};

export const ESTIMATORS: readonly Estimator[] = [replay, ips, snips, dm, dr];
