/**
 * thompson — Beta–Bernoulli Thompson sampling (Thompson 1933; Chapelle & Li 2011; Agrawal & Goyal 2012).
 *
 * Arm a's success rate has posterior Beta(α0 + S_a, β0 + F_a), S_a = Σ rewards, F_a = Σ (1 − reward)
 * (rewards in [0, 1]; fractional rewards update as fractional counts). Thompson sampling plays the arm
 * with the largest posterior draw, i.e. arm a with probability p_a = P(a's draw is the largest).
 * `choose` computes that pmf by numerical integration (argmax.ts, error < 5e-4), applies the exploration
 * floor and draws the arm from it: the same distribution as drawing the Betas when the floor is 0,
 * and the logged propensity is the exact probability of the draw. The pmf is cached per state.version,
 * so decisions on an unchanged state cost O(K). `select` is the plain fast path for simulations:
 * one Beta draw per active arm, argmax, no propensity (with a floor > 0 it uses the pmf instead).
 *
 * Drifting rates: `discount` γ ∈ (0, 1] multiplies every arm's S and F by γ before each update
 * (discounted TS, Raj & Kalyani 2017), or `window` W keeps only the last W observations (all arms).
 * Sufficient statistics (ArmStats): α = α0 + sum, β = β0 + n − sum.
 */
import { z } from "zod";
import type { ArmStats, ArmStatus, BaseState, Features, Strategy } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import type { Rng } from "./rng.ts";
import { beta as sampleBeta } from "./samplers.ts";
import { betaTable, probMax, type DistTable } from "./argmax.ts";
import {
  addSlot,
  applyFloor,
  checkArm,
  checkBaseJSON,
  checkReward01,
  floorSchema,
  makeSlots,
  parseWith,
  PmfCache,
  repeatCount,
  sampleIndex,
  setSlotStatus,
  chooseFromPmf,
  learnBatch,
} from "./common.ts";

export const thompsonParams = z
  .object({
    alpha: z.number().positive().finite().default(1),
    beta: z.number().positive().finite().default(1),
    discount: z.number().gt(0).max(1).optional(),
    window: z.number().int().min(1).max(10_000_000).optional(),
    explorationFloor: floorSchema,
  })
  .strict()
  .refine((p) => p.discount === undefined || p.window === undefined, {
    message: "give discount or window, not both",
    path: ["window"],
  });
export type ThompsonParams = z.infer<typeof thompsonParams>;

export interface ThompsonState extends BaseState {
  type: "thompson";
  params: ThompsonParams;
  /** Σ rewards and Σ (1 − reward) per arm (discounted or windowed when asked). */
  s: number[];
  f: number[];
  /** Ring buffer of the last `window` observations (arm −1 = slot cleared by setArmStats). */
  win?: { arm: number[]; r: number[]; head: number; size: number };
}

const pmfCache = new PmfCache<ThompsonState>();
const tableCache = new WeakMap<BaseState, { a: number; b: number; t: DistTable }[]>();

/** Beta posteriors of active arms as integration tables, rebuilt only for arms whose (α, β) changed. */
export function betaArgmaxPmf(state: BaseState, alphas: ArrayLike<number>, betas: ArrayLike<number>): Float64Array {
  const K = state.arms.length;
  let cache = tableCache.get(state);
  if (!cache) tableCache.set(state, (cache = []));
  const tables: (DistTable | null)[] = new Array(K).fill(null);
  for (let a = 0; a < K; a++) {
    if (state.arms[a]!.status !== "active") continue;
    const al = alphas[a]!;
    const be = betas[a]!;
    let c = cache[a];
    if (!c || c.a !== al || c.b !== be) cache[a] = c = { a: al, b: be, t: betaTable(al, be) };
    tables[a] = c.t;
  }
  return probMax(tables, new Float64Array(K));
}

function pmf(state: ThompsonState): Float64Array {
  return pmfCache.get(state, () => {
    const { alpha, beta, explorationFloor } = state.params;
    const al = state.s.map((s) => alpha + s);
    const be = state.f.map((f) => beta + f);
    return applyFloor(betaArgmaxPmf(state, al, be), state.arms, explorationFloor);
  });
}

function learn(state: ThompsonState, arm: number, r: number): void {
  const { discount } = state.params;
  if (discount !== undefined && discount < 1) {
    for (let a = 0; a < state.s.length; a++) {
      state.s[a] = state.s[a]! * discount;
      state.f[a] = state.f[a]! * discount;
    }
  }
  state.s[arm] = state.s[arm]! + r;
  state.f[arm] = state.f[arm]! + (1 - r);
  const w = state.win;
  if (w) {
    const W = state.params.window!;
    if (w.size === W) {
      const old = w.arm[w.head]!;
      if (old >= 0) {
        // max(0, ·): guards against rounding leaving −1e-17 after fractional rewards.
        state.s[old] = Math.max(0, state.s[old]! - w.r[w.head]!);
        state.f[old] = Math.max(0, state.f[old]! - (1 - w.r[w.head]!));
      }
    } else w.size++;
    w.arm[w.head] = arm;
    w.r[w.head] = r;
    w.head = (w.head + 1) % W;
  }
}

function newWindow(W: number | undefined): ThompsonState["win"] {
  return W === undefined ? undefined : { arm: [], r: [], head: 0, size: 0 };
}

export const thompson: Strategy<ThompsonState, ThompsonParams> & {
  select(state: ThompsonState, x: Features | undefined, rng: Rng): number;
} = {
  type: "thompson",
  contextual: false,
  parseParams: (p) => parseWith(thompsonParams, p),
  init(armKeys, params, _dim) {
    const p = parseWith(thompsonParams, params);
    const K = armKeys.length;
    return {
      type: "thompson",
      arms: makeSlots(armKeys),
      explorationFloor: p.explorationFloor,
      dim: 0,
      version: 0,
      params: p,
      s: new Array(K).fill(0),
      f: new Array(K).fill(0),
      win: newWindow(p.window),
    };
  },
  probabilities: (state) => Float64Array.from(pmf(state)),
  choose: (state, _x, rng) => chooseFromPmf(pmf(state), rng),
  select(state, _x, rng) {
    // Repeated decisions on an unchanged state (batched): the cached exact pmf is cheaper than K draws.
    if (state.params.explorationFloor > 0 || repeatCount(state) > 2) return sampleIndex(pmf(state), rng);
    const { alpha, beta } = state.params;
    let best = -1;
    let bestV = -Infinity;
    for (let a = 0; a < state.arms.length; a++) {
      if (state.arms[a]!.status !== "active") continue;
      const v = sampleBeta(rng, alpha + state.s[a]!, beta + state.f[a]!);
      if (v > bestV) {
        bestV = v;
        best = a;
      }
    }
    if (best < 0) return sampleIndex(new Float64Array(0), rng); // throws NoActiveArmsError
    return best;
  },
  update(state, arm, reward) {
    checkArm(state, arm);
    checkReward01(reward);
    learn(state, arm, reward);
    state.version++;
  },
  updateBatch: (state, arms, rewards) => learnBatch(state, arms, rewards, checkReward01, learn),
  setArmStats(state, arm, stats: ArmStats) {
    checkArm(state, arm);
    if (!(stats.n >= 0) || !(stats.sum >= 0) || stats.sum > stats.n)
      throw new StrategyParamError("stats", "need 0 ≤ sum ≤ n");
    state.s[arm] = stats.sum;
    state.f[arm] = stats.n - stats.sum;
    // The totals replace whatever this arm had in the window; they do not expire themselves.
    if (state.win) state.win.arm = state.win.arm.map((a) => (a === arm ? -1 : a));
    state.version++;
  },
  addArm(state, key) {
    const i = addSlot(state, key);
    state.s.push(0);
    state.f.push(0);
    return i;
  },
  setArmStatus: (state, arm, status: ArmStatus) => setSlotStatus(state, arm, status),
  setParams(state, params) {
    const p = parseWith(thompsonParams, params);
    if (p.window !== state.params.window) {
      if (state.params.window !== undefined || p.window !== undefined) {
        if (state.params.window !== undefined && p.window === undefined) state.win = undefined;
        else throw new StrategyParamError("window", "cannot be introduced or resized on a running state");
      }
    }
    state.params = p;
    state.explorationFloor = p.explorationFloor;
    state.version++;
  },
  toJSON: (state) => ({
    ...state,
    params: { ...state.params },
    arms: state.arms.map((a) => ({ ...a })),
    s: [...state.s],
    f: [...state.f],
    win: state.win && { ...state.win, arm: [...state.win.arm], r: [...state.win.r] },
  }),
  fromJSON(json) {
    const o = checkBaseJSON(json, "thompson") as unknown as ThompsonState;
    const p = parseWith(thompsonParams, o.params);
    if (!Array.isArray(o.s) || !Array.isArray(o.f) || o.s.length !== o.arms.length || o.f.length !== o.arms.length)
      throw new StrategyParamError("state.s", "must hold one count per arm");
    return {
      type: "thompson",
      arms: o.arms.map((a) => ({ key: a.key, status: a.status })),
      explorationFloor: p.explorationFloor,
      dim: 0,
      version: Number(o.version) || 0,
      params: p,
      s: [...o.s],
      f: [...o.f],
      win: o.win ? { arm: [...o.win.arm], r: [...o.win.r], head: o.win.head, size: o.win.size } : newWindow(p.window),
    };
  },
};
