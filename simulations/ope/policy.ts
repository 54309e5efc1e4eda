/**
 * Target policies to evaluate on logged data:
 *   "uniform"            an even split over the available actions;
 *   "arm:<key>"          always that action (in every slot of a slate);
 *   "logged"             the logging policy itself, from the logged propensities: π(a_i|x_i) = p_i, and the rest
 *                        1 − p_i spread over the other actions in proportion to their share of the logs (in that
 *                        slot) — exact for context-free logging, an approximation otherwise (only DM uses it);
 *   {"type", "params"}   any strategy of the library (as JSON text or an object), starting from its prior.
 *
 * A learning strategy is evaluated as it would have run on this traffic: at each logged decision it gives
 * its probabilities π(·|x) (what every estimator uses), draws its own action (what replay uses), and learns
 * only from rows where its draw matched the logged action — the observations it would really have seen
 * (the replay method, Li et al. 2011). All estimators evaluate this same sequence of policies.
 *
 * Slates: a row with a position is scored with π(·|x, slot), the probability that the policy puts each action in
 * that slot when it ranks the actions (as Open Bandit Pipeline evaluates ranking policies on the Open Bandit
 * Dataset). A Beta–Bernoulli Thompson strategy ranks by its posterior draws (the slot-k action is the one with the
 * k-th largest draw); any other strategy ranks by drawing without replacement from its π(·|x) (Plackett–Luce).
 * Both are Monte Carlo (`RANK_DRAWS` rankings), cached while the strategy's state does not change.
 */
import type { Rng } from "../../strategies/rng.ts";
import { beta as sampleBeta } from "../../strategies/samplers.ts";
import type { BaseState, Strategy } from "../../strategies/types.ts";
import type { StrategyResolver } from "../runner.ts";

export type PolicySpec = string | { type: string; params?: Record<string, unknown> };

export type ParsedPolicy =
  | { kind: "uniform" }
  | { kind: "logged" }
  | { kind: "arm"; key: string }
  | { kind: "strategy"; type: string; params: Record<string, unknown> };

export class PolicySpecError extends Error {
  constructor(message: string) {
    super(`policy: ${message}`);
    this.name = "PolicySpecError";
  }
}

export function parsePolicySpec(spec: PolicySpec): ParsedPolicy {
  let s: unknown = spec;
  if (typeof s === "string") {
    const t = s.trim();
    if (t === "uniform") return { kind: "uniform" };
    if (t === "logged") return { kind: "logged" };
    if (t.startsWith("arm:")) {
      const key = t.slice(4);
      if (!key) throw new PolicySpecError('"arm:" needs an action key, e.g. "arm:creative-03"');
      return { kind: "arm", key };
    }
    if (!t.startsWith("{"))
      throw new PolicySpecError(
        `expected "uniform", "logged", "arm:<key>" or a strategy spec JSON like {"type":"thompson"}, got "${t}"`,
      );
    try {
      s = JSON.parse(t);
    } catch (e) {
      throw new PolicySpecError(`invalid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof s !== "object" || s === null || Array.isArray(s))
    throw new PolicySpecError("a strategy spec must be an object");
  const o = s as Record<string, unknown>;
  if (typeof o.type !== "string" || o.type === "") throw new PolicySpecError("type: a strategy type is required");
  if (o.params !== undefined && (typeof o.params !== "object" || o.params === null || Array.isArray(o.params)))
    throw new PolicySpecError("params: must be an object");
  return { kind: "strategy", type: o.type, params: (o.params as Record<string, unknown>) ?? {} };
}

/** What a policy is asked about one logged decision. */
export interface PolicyRow {
  x: Float64Array;
  /** Slot index of a slate row (0 = first), −1 for a single-action decision. */
  slot: number;
  /** Logged action and its propensity (the "logged" policy answers from them). */
  logged: number;
  propensity: number;
}

export interface TargetPolicy {
  description: string;
  deterministic: boolean;
  /** Its probabilities depend on its own seed (a learning or Monte Carlo strategy): intervals replay it R times. */
  stochastic: boolean;
  contextual: boolean;
  /** π(·|x) (or π(·|x, slot)) for the next logged decision, into `out` (length = number of actions). */
  pmf(row: PolicyRow, rng: Rng, out: Float64Array): void;
  /** Told the policy's own draw, and the logged action and reward of that decision. */
  observe(sampled: number, logged: number, reward: number, x: Float64Array): void;
}

export interface PolicyContext {
  /** Number of slate slots in the logs (0 when no row has a position). */
  slots: number;
  /** Logged share of each action, per slot (index slot + 1; index 0 for rows without a position). */
  shares: Float64Array[];
  resolve?: StrategyResolver;
}

/** Rankings drawn to estimate a strategy's per-slot probabilities. */
export const RANK_DRAWS = 2000;

export function describePolicy(p: ParsedPolicy): string {
  return p.kind === "uniform" || p.kind === "logged"
    ? p.kind
    : p.kind === "arm"
      ? `arm:${p.key}`
      : JSON.stringify({ type: p.type, params: p.params });
}

interface BetaPosterior {
  s: number[];
  f: number[];
  params: { alpha: number; beta: number };
}
const betaPosterior = (st: BaseState): BetaPosterior | null => {
  const o = st as unknown as Partial<BetaPosterior> & { type?: string };
  return o.type === "thompson" && Array.isArray(o.s) && Array.isArray(o.f) && o.params ? (o as BetaPosterior) : null;
};

/** L × K matrix: P(action a lands in slot k) when the strategy ranks its actions (Monte Carlo). */
function slotMarginals(
  strategy: Strategy,
  state: BaseState,
  x: Float64Array | undefined,
  rng: Rng,
  L: number,
): Float64Array {
  const K = state.arms.length;
  const out = new Float64Array(L * K);
  const post = betaPosterior(state);
  const draw = new Float64Array(K);
  const order = Array.from({ length: K }, (_, a) => a);
  const active = state.arms.map((a) => a.status === "active");
  const pmf = post ? null : strategy.probabilities(state, x, rng);
  const taken = new Uint8Array(K);
  for (let d = 0; d < RANK_DRAWS; d++) {
    if (post) {
      for (let a = 0; a < K; a++)
        draw[a] = active[a] ? sampleBeta(rng, post.params.alpha + post.s[a], post.params.beta + post.f[a]) : -1;
      order.sort((i, j) => draw[j] - draw[i]);
      for (let k = 0; k < L; k++) out[k * K + order[k]] += 1 / RANK_DRAWS;
    } else {
      taken.fill(0);
      let left = 1;
      for (let k = 0; k < L; k++) {
        let u = rng.next() * left;
        let pick = -1;
        for (let a = 0; a < K; a++) {
          if (taken[a] || pmf![a] <= 0) continue;
          pick = a;
          if ((u -= pmf![a]) < 0) break;
        }
        if (pick < 0) break;
        taken[pick] = 1;
        left -= pmf![pick];
        out[k * K + pick] += 1 / RANK_DRAWS;
      }
    }
  }
  return out;
}

export function buildPolicy(
  p: ParsedPolicy,
  actions: readonly string[],
  dim: number,
  ctx: PolicyContext,
): TargetPolicy {
  const K = actions.length;
  const description = describePolicy(p);
  if (p.kind === "uniform")
    return {
      description,
      deterministic: false,
      stochastic: false,
      contextual: false,
      pmf: (_row, _r, out) => out.fill(1 / K),
      observe: () => {},
    };
  if (p.kind === "logged")
    return {
      description,
      deterministic: false,
      stochastic: false,
      contextual: true,
      pmf: (row, _r, out) => {
        const share = ctx.shares[row.slot + 1];
        const rest = 1 - share[row.logged];
        for (let a = 0; a < K; a++)
          out[a] = rest > 0 ? ((1 - row.propensity) * share[a]) / rest : K > 1 ? (1 - row.propensity) / (K - 1) : 0;
        out[row.logged] = row.propensity;
      },
      observe: () => {},
    };
  if (p.kind === "arm") {
    const k = actions.indexOf(p.key);
    if (k < 0) throw new PolicySpecError(`arm "${p.key}" is not in the action set (actions: ${actions.join(", ")})`);
    return {
      description,
      deterministic: true,
      stochastic: false,
      contextual: false,
      pmf: (_row, _r, out) => {
        out.fill(0);
        out[k] = 1;
      },
      observe: () => {},
    };
  }
  if (!ctx.resolve) throw new PolicySpecError(`strategy "${p.type}" needs the strategy registry`);
  let strategy: Strategy;
  try {
    strategy = ctx.resolve(p.type);
  } catch (e) {
    throw new PolicySpecError(`type: ${(e as Error).message}`);
  }
  let params: Record<string, unknown>;
  try {
    params = strategy.parseParams(p.params);
  } catch (e) {
    throw new PolicySpecError(`params.${(e as Error).message}`);
  }
  if (ctx.slots > K) throw new PolicySpecError(`the logs have ${ctx.slots} slots but only ${K} actions to rank`);
  const state: BaseState = strategy.init(actions, params, strategy.contextual ? dim : 0);
  let cached: { version: number; m: Float64Array } | null = null;
  return {
    description,
    deterministic: false,
    stochastic: true,
    contextual: strategy.contextual,
    pmf: (row, rng, out) => {
      const x = strategy.contextual ? row.x : undefined;
      if (row.slot < 0) {
        out.set(strategy.probabilities(state, x, rng));
        return;
      }
      if (strategy.contextual || cached === null || cached.version !== state.version)
        cached = { version: state.version, m: slotMarginals(strategy, state, x, rng, ctx.slots) };
      out.set(cached.m.subarray(row.slot * K, (row.slot + 1) * K));
    },
    observe: (sampled, logged, reward, x) => {
      if (sampled === logged) strategy.update(state, logged, reward, strategy.contextual ? x : undefined);
    },
  };
}
