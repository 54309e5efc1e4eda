/**
 * Target policies to evaluate on logged data:
 *   "uniform"            an even split over the logged actions;
 *   "arm:<key>"          always that action;
 *   {"type", "params"}   any strategy of the library (as JSON text or an object), starting from its prior.
 *
 * A learning strategy is evaluated as it would have run on this traffic: at each logged decision it gives
 * its probabilities π(·|x) (what every estimator uses), draws its own action (what replay uses), and learns
 * only from rows where its draw matched the logged action — the observations it would really have seen
 * (the replay method, Li et al. 2011). All estimators evaluate this same sequence of policies.
 */
import type { Rng } from "../../strategies/rng.ts";
import type { BaseState, Strategy } from "../../strategies/types.ts";
import type { StrategyResolver } from "../runner.ts";

export type PolicySpec = string | { type: string; params?: Record<string, unknown> };

export type ParsedPolicy =
  | { kind: "uniform" }
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
    if (t.startsWith("arm:")) {
      const key = t.slice(4);
      if (!key) throw new PolicySpecError('"arm:" needs an action key, e.g. "arm:creative-03"');
      return { kind: "arm", key };
    }
    if (!t.startsWith("{"))
      throw new PolicySpecError(
        `expected "uniform", "arm:<key>" or a strategy spec JSON like {"type":"thompson"}, got "${t}"`,
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

export interface TargetPolicy {
  description: string;
  deterministic: boolean;
  contextual: boolean;
  /** π(·|x) for the next logged decision, into `out` (length = number of actions). */
  pmf(x: Float64Array, rng: Rng, out: Float64Array): void;
  /** Told the policy's own draw, and the logged action and reward of that decision. */
  observe(sampled: number, logged: number, reward: number, x: Float64Array): void;
}

export function describePolicy(p: ParsedPolicy): string {
  return p.kind === "uniform"
    ? "uniform"
    : p.kind === "arm"
      ? `arm:${p.key}`
      : JSON.stringify({ type: p.type, params: p.params });
}

export function buildPolicy(
  p: ParsedPolicy,
  actions: readonly string[],
  dim: number,
  resolve?: StrategyResolver,
): TargetPolicy {
  const K = actions.length;
  const description = describePolicy(p);
  if (p.kind === "uniform")
    return {
      description,
      deterministic: false,
      contextual: false,
      pmf: (_x, _r, out) => out.fill(1 / K),
      observe: () => {},
    };
  if (p.kind === "arm") {
    const k = actions.indexOf(p.key);
    if (k < 0) throw new PolicySpecError(`arm "${p.key}" never appears in the logs (actions: ${actions.join(", ")})`);
    return {
      description,
      deterministic: true,
      contextual: false,
      pmf: (_x, _r, out) => {
        out.fill(0);
        out[k] = 1;
      },
      observe: () => {},
    };
  }
  if (!resolve) throw new PolicySpecError(`strategy "${p.type}" needs the strategy registry`);
  let strategy: Strategy;
  try {
    strategy = resolve(p.type);
  } catch (e) {
    throw new PolicySpecError(`type: ${(e as Error).message}`);
  }
  let params: Record<string, unknown>;
  try {
    params = strategy.parseParams(p.params);
  } catch (e) {
    throw new PolicySpecError(`params.${(e as Error).message}`);
  }
  const state: BaseState = strategy.init(actions, params, strategy.contextual ? dim : 0);
  return {
    description,
    deterministic: false,
    contextual: strategy.contextual,
    pmf: (x, rng, out) => out.set(strategy.probabilities(state, strategy.contextual ? x : undefined, rng)),
    observe: (sampled, logged, reward, x) => {
      if (sampled === logged) strategy.update(state, logged, reward, strategy.contextual ? x : undefined);
    },
  };
}
