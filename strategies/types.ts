/**
 * The one contract every bandit strategy follows.
 *
 * A strategy is a stateless object of pure functions over a serializable state: it is given the state,
 * the (encoded) context and a seeded `Rng`, and says which arm to play and with what probability.
 * It does no I/O, reads no clock and never calls Math.random. State is mutated in place by the
 * learning functions (the hot path cannot afford a copy per update); `toJSON`/`fromJSON` round-trip it
 * losslessly.
 *
 * Arms are addressed by index into `state.arms`; the index of an arm never changes (a removed arm keeps
 * its slot with status "removed"), so callers can cache indices.
 *
 * Names in `type` are stored in the database and in logs: once shipped, never rename them.
 */
import type { Rng } from "./rng.ts";

export type ArmStatus = "active" | "paused" | "removed";

export interface ArmSlot {
  key: string;
  status: ArmStatus;
}

/** Fields every strategy state has; each strategy adds its own posterior fields. */
export interface BaseState {
  type: string;
  arms: ArmSlot[];
  /** Minimum probability of each active arm; applied to the pmf so the logged propensity stays exact. */
  explorationFloor: number;
  /** Context dimension for contextual strategies (after encoding), 0 for context-free ones. */
  dim: number;
  /** Bumped by every change of the posterior, so derived quantities (pmf caches) can be invalidated. */
  version: number;
  /**
   * Numerical problems met and handled (an ill-conditioned arm regularised or reset to its prior, an
   * observation that would overflow dropped): for the engine to log, show and clear. Not serialised.
   */
  warnings?: string[];
}

/** An encoded context: numeric features, one-hot / hashed categorical features (see features.ts). */
export type Features = Float64Array;

export interface Choice {
  /** Index into state.arms. */
  arm: number;
  /** P(this strategy, in this state and context, chooses this arm), floor included. Exact or with a stated error. */
  propensity: number;
}

/**
 * Sufficient statistics of one arm: commutative sums, so several service replicas can add their
 * increments in the database without losing updates, and a posterior can be rebuilt from them.
 */
export interface ArmStats {
  /** Trials (decisions that count). */
  n: number;
  /** Σ reward. */
  sum: number;
  /** Σ reward² (per trial). */
  sumSq: number;
  /** Contextual only: Σ x xᵀ, row-major dim × dim. */
  xx?: number[];
  /** Contextual only: Σ reward · x. */
  xr?: number[];
}

export interface Strategy<S extends BaseState = BaseState, P = Record<string, unknown>> {
  /** Stored name, e.g. "thompson". */
  readonly type: string;
  readonly contextual: boolean;
  /** Validates params (throws StrategyParamError naming the bad field) and returns them with defaults filled. */
  parseParams(params: unknown): P;
  /** Fresh state at the prior. `dim` is the encoded context length (0 for context-free strategies). */
  init(armKeys: readonly string[], params: P, dim: number): S;
  /**
   * Probability of choosing each arm (length = state.arms.length; 0 for paused/removed arms; sums to 1),
   * floor applied. Exact where a closed form or numerical integration exists; otherwise Monte Carlo on `rng`.
   */
  probabilities(state: S, x: Features | undefined, rng: Rng): Float64Array;
  /** Choose an arm and return it with its propensity. */
  choose(state: S, x: Features | undefined, rng: Rng): Choice;
  /**
   * Optional fast path for simulations: an arm drawn from the same distribution as `choose`'s, without
   * computing its propensity (e.g. Thompson sampling by drawing the posteriors). Where absent, use choose.
   */
  select?(state: S, x: Features | undefined, rng: Rng): number;
  /** Learn from one observed reward. */
  update(state: S, arm: number, reward: number, x?: Features): void;
  /** Learn from a batch of observations (same result as the updates one by one, where order does not matter). */
  updateBatch(state: S, arms: ArrayLike<number>, rewards: ArrayLike<number>, xs?: readonly Features[]): void;
  /** Replace an arm's posterior by the prior plus these totals (used to sync with the database). */
  setArmStats(state: S, arm: number, stats: ArmStats): void;
  /** Add an arm mid-flight at the prior; returns its index. */
  addArm(state: S, key: string): number;
  setArmStatus(state: S, arm: number, status: ArmStatus): void;
  /** Change tunable params (floor, ε, temperature, α…) without losing what was learned. */
  setParams(state: S, params: P): void;
  toJSON(state: S): unknown;
  fromJSON(json: unknown): S;
}

/** Bad strategy parameters: names the field so the API can answer 400 with it. */
export class StrategyParamError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "StrategyParamError";
  }
}
