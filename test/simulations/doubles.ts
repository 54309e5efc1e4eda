/**
 * Small stand-ins for the strategy library, following strategies/types.ts, so the simulator and the
 * estimators can be tested on their own: Beta–Bernoulli Thompson sampling, an even split, and a
 * deterministic "always arm k" policy.
 */
import type { Rng } from "../../strategies/rng.ts";
import type { ArmStats, BaseState, Choice, Strategy } from "../../strategies/types.ts";
import { beta } from "../../simulations/random.ts";
import type { StrategyResolver } from "../../simulations/runner.ts";

interface TsState extends BaseState {
  n: number[];
  s: number[];
}

function base<S extends BaseState>(
  type: string,
  extra: (k: number) => Omit<S, keyof BaseState>,
): (keys: readonly string[]) => S {
  return (keys) =>
    ({
      type,
      arms: keys.map((key) => ({ key, status: "active" as const })),
      explorationFloor: 0,
      dim: 0,
      version: 0,
      ...extra(keys.length),
    }) as S;
}

function common<S extends BaseState>(
  type: string,
  init: (keys: readonly string[], params: Record<string, unknown>) => S,
) {
  return {
    type,
    contextual: false,
    parseParams: (p: unknown) => (p ?? {}) as Record<string, unknown>,
    init: (keys: readonly string[], params: Record<string, unknown>) => init(keys, params),
    setArmStatus: () => {},
    setParams: () => {},
    toJSON: (s: S) => s,
    fromJSON: (j: unknown) => j as S,
    addArm: (s: S, key: string) => s.arms.push({ key, status: "active" }) - 1,
  };
}

export const thompsonDouble: Strategy<TsState> = {
  ...common<TsState>(
    "thompson",
    base<TsState>("thompson", (k) => ({ n: new Array(k).fill(0), s: new Array(k).fill(0) })),
  ),
  probabilities(st, _x, rng) {
    const K = st.arms.length;
    const p = new Float64Array(K);
    const draws = 300; // Monte Carlo: enough for tests
    for (let i = 0; i < draws; i++) p[this.choose(st, undefined, rng).arm] += 1 / draws;
    return p;
  },
  choose(st, _x, rng: Rng): Choice {
    let best = 0;
    let bv = -1;
    for (let a = 0; a < st.arms.length; a++) {
      const v = beta(rng, 1 + st.s[a], 1 + st.n[a] - st.s[a]);
      if (v > bv) {
        bv = v;
        best = a;
      }
    }
    return { arm: best, propensity: NaN };
  },
  update(st, arm, reward) {
    st.n[arm] += 1;
    st.s[arm] += reward;
    st.version++;
  },
  updateBatch(st, arms, rewards) {
    for (let i = 0; i < arms.length; i++) this.update(st, arms[i], rewards[i]);
  },
  setArmStats(st, arm, stats: ArmStats) {
    st.n[arm] = stats.n;
    st.s[arm] = stats.sum;
    st.version++;
  },
};

export const uniformDouble: Strategy<BaseState> = {
  ...common<BaseState>(
    "uniform",
    base<BaseState>("uniform", () => ({})),
  ),
  probabilities: (st) => new Float64Array(st.arms.length).fill(1 / st.arms.length),
  choose: (st, _x, rng) => ({ arm: Math.floor(rng.next() * st.arms.length), propensity: 1 / st.arms.length }),
  update: () => {},
  updateBatch: () => {},
  setArmStats: () => {},
};

interface FixedState extends BaseState {
  arm: number;
}
export const fixedDouble: Strategy<FixedState> = {
  ...common<FixedState>("fixed", (keys, params) => ({
    ...base<BaseState>("fixed", () => ({}))(keys),
    arm: Number(params.arm ?? 0),
  })),
  probabilities: (st) => {
    const p = new Float64Array(st.arms.length);
    p[st.arm] = 1;
    return p;
  },
  choose: (st) => ({ arm: st.arm, propensity: 1 }),
  update: () => {},
  updateBatch: () => {},
  setArmStats: () => {},
};

export const doubles: StrategyResolver = (type) => {
  const s = { thompson: thompsonDouble, uniform: uniformDouble, fixed: fixedDouble }[type];
  if (!s) throw new Error(`no test double for ${type}`);
  return s as unknown as Strategy;
};
