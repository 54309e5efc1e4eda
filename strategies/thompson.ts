/**
 * thompson — Beta–Bernoulli Thompson sampling (Thompson 1933; Chapelle & Li 2011; Agrawal & Goyal 2012).
 *
 * Arm a's success rate has posterior Beta(α0 + S_a, β0 + F_a), S_a = Σ rewards, F_a = Σ (1 − reward)
 * (rewards in [0, 1]; fractional rewards update as fractional counts). Thompson sampling plays the arm
 * with the largest posterior draw, i.e. arm a with probability p_a = P(a's draw is the largest).
 * `choose` computes that pmf by numerical integration (argmax.ts, error < 5e-4), applies the exploration
 * floor and draws the arm from it: the same distribution as drawing the Betas when the floor is 0,
 * and the logged propensity is the exact probability of the draw. The pmf is cached per state.version,
 * so decisions on an unchanged state cost O(K), and recomputed only once the posteriors have moved by
 * more than PMF_TOLERANCE in total variation from those it was computed on. `select` is the plain fast path
 * for simulations: one Beta draw per active arm, argmax, no propensity (with a floor > 0 it uses the pmf).
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
import { betaKlBound, betaTable, probMax, type DistTable } from "./argmax.ts";
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

/**
 * How far (total variation) the Beta posteriors may move from those a pmf was computed on before it is
 * computed again. Every p_a is the probability of an event of the joint draw, so it moves by at most the
 * joint total variation: ≤ 1e-4, under the integration's own error bound (argmax.ts, 5e-4). The service
 * hands the strategy new statistics after every group commit (hundreds a second), and with delay-aware
 * counting a fresh decision weighs only the chance that its conversion is already in — a posterior moves by
 * a tiny fraction of a trial between two commits — while a computation costs ~250 µs for 10 close arms. The
 * draw is from the pmf kept, so the logged propensity stays the exact probability of the decision under the
 * posterior it was made with.
 */
export const PMF_TOLERANCE = 1e-4;

/**
 * Per state: each arm's integration table with the (α, β) it tabulates, and the last pmf with the arms that
 * competed in it. Tables are rebuilt only when a pmf is computed, so those of the competing arms are the
 * posteriors that pmf was computed on.
 */
interface ArgmaxCache {
  tables: { a: number; b: number; t: DistTable }[];
  last?: { pmf: Float64Array; active: Uint8Array };
}
const argmaxCache = new WeakMap<BaseState, ArgmaxCache>();

/**
 * Whether the posteriors now are within PMF_TOLERANCE of those the last pmf was computed on, in total
 * variation: by Pinsker, TV ≤ √(KL / 2), and the KL of independent arms is the sum of theirs (betaKlBound).
 */
function withinTolerance(
  c: ArgmaxCache,
  state: BaseState,
  alphas: ArrayLike<number>,
  betas: ArrayLike<number>,
): boolean {
  const K = state.arms.length;
  if (!c.last || c.last.pmf.length !== K) return false;
  const budget = 2 * PMF_TOLERANCE * PMF_TOLERANCE;
  let kl = 0;
  for (let a = 0; a < K; a++) {
    const active = state.arms[a]!.status === "active";
    if (active !== (c.last.active[a] === 1)) return false;
    if (!active) continue;
    const t = c.tables[a]!;
    kl += betaKlBound(t.a, t.b, alphas[a]!, betas[a]!);
    if (!(kl <= budget)) return false;
  }
  return true;
}

/**
 * P(arm a's Beta draw is the largest) for the active arms: integration tables rebuilt only for arms whose
 * (α, β) changed, and the last pmf reused (a copy) while the posteriors stay within PMF_TOLERANCE of those
 * it was computed on — compared with those, not with the previous call's, so small moves cannot add up.
 */
export function betaArgmaxPmf(state: BaseState, alphas: ArrayLike<number>, betas: ArrayLike<number>): Float64Array {
  const K = state.arms.length;
  let cache = argmaxCache.get(state);
  if (!cache) argmaxCache.set(state, (cache = { tables: [] }));
  if (withinTolerance(cache, state, alphas, betas)) return Float64Array.from(cache.last!.pmf);
  const tables: (DistTable | null)[] = new Array(K).fill(null);
  const active = new Uint8Array(K);
  for (let a = 0; a < K; a++) {
    if (state.arms[a]!.status !== "active") continue;
    active[a] = 1;
    const al = alphas[a]!;
    const be = betas[a]!;
    let c = cache.tables[a];
    if (!c || c.a !== al || c.b !== be) cache.tables[a] = c = { a: al, b: be, t: betaTable(al, be) };
    tables[a] = c.t;
  }
  const p = probMax(tables, new Float64Array(K));
  cache.last = { pmf: Float64Array.from(p), active };
  return p;
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
