/**
 * Pieces every strategy shares: parameter parsing (zod → StrategyParamError naming the field), arm
 * slots, the exploration floor and sampling from a probability mass function.
 *
 * The floor follows Vowpal Wabbit's `enforce_minimum_probability` (vw/explore/explore.h): build the
 * pmf first, raise every active arm below the floor to the floor, scale the others down so the total
 * stays 1 — repeated until no scaled arm falls under the floor — and only then sample. The arm is
 * drawn from that final pmf, so the logged propensity is exactly the probability it was drawn with.
 * If floor × (active arms) ≥ 1 the pmf is uniform over the active arms.
 */
import { z } from "zod";
import type { ArmSlot, ArmStatus, BaseState, Choice } from "./types.ts";
import { StrategyParamError } from "./types.ts";
import type { Rng } from "./rng.ts";
import { normals } from "./samplers.ts";

/** choose() on a state with no active arm. */
export class NoActiveArmsError extends Error {
  constructor() {
    super("no active arm to choose from");
    this.name = "NoActiveArmsError";
  }
}

export const floorSchema = z.number().min(0).max(1).default(0);

/** Validates with a zod object schema; the first issue becomes a StrategyParamError naming its field. */
export function parseWith<T>(schema: z.ZodType<T>, params: unknown): T {
  const r = schema.safeParse(params ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  let field = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") field = (issue as { keys: string[] }).keys[0] ?? field;
  throw new StrategyParamError(field || "params", issue.message);
}

export function makeSlots(keys: readonly string[]): ArmSlot[] {
  const seen = new Set<string>();
  return keys.map((key) => {
    if (typeof key !== "string" || key === "")
      throw new StrategyParamError("arms", "arm keys must be non-empty strings");
    if (seen.has(key)) throw new StrategyParamError("arms", `duplicate arm key "${key}"`);
    seen.add(key);
    return { key, status: "active" as ArmStatus };
  });
}

export function addSlot(state: BaseState, key: string): number {
  if (typeof key !== "string" || key === "") throw new StrategyParamError("key", "arm keys must be non-empty strings");
  if (state.arms.some((a) => a.key === key)) throw new StrategyParamError("key", `duplicate arm key "${key}"`);
  state.arms.push({ key, status: "active" });
  state.version++;
  return state.arms.length - 1;
}

export function setSlotStatus(state: BaseState, arm: number, status: ArmStatus): void {
  checkArm(state, arm);
  if (status !== "active" && status !== "paused" && status !== "removed")
    throw new StrategyParamError("status", "must be active, paused or removed");
  const slot = state.arms[arm]!;
  if (slot.status === "removed" && status !== "removed")
    throw new StrategyParamError("status", `arm "${slot.key}" was removed and cannot come back`);
  slot.status = status;
  state.version++;
}

export function checkArm(state: BaseState, arm: number): void {
  if (!Number.isInteger(arm) || arm < 0 || arm >= state.arms.length)
    throw new RangeError(`arm index ${arm} out of range [0, ${state.arms.length})`);
}

export function checkReward01(reward: number): void {
  if (!(reward >= 0 && reward <= 1))
    throw new RangeError(`reward ${reward} outside [0, 1] (Beta–Bernoulli strategies)`);
}

export function checkFinite(reward: number): void {
  if (!Number.isFinite(reward)) throw new RangeError(`reward ${reward} is not finite`);
}

export function activeCount(arms: readonly ArmSlot[]): number {
  let m = 0;
  for (const a of arms) if (a.status === "active") m++;
  return m;
}

/**
 * Puts probability 1 on the argmax of `score` over active arms. ties = "split": shared equally among
 * exact ties; "lowest": all on the lowest index (deterministic, as most libraries do).
 */
export function argmaxPmf(
  arms: readonly ArmSlot[],
  score: ArrayLike<number>,
  ties: "split" | "lowest",
  out: Float64Array,
  mass = 1,
): void {
  let best = -Infinity;
  let count = 0;
  let first = -1;
  for (let a = 0; a < arms.length; a++) {
    if (arms[a]!.status !== "active") continue;
    const s = score[a]!;
    if (s > best || first < 0) {
      best = s;
      count = 1;
      first = a;
    } else if (s === best) count++;
  }
  if (first < 0) return;
  if (ties === "lowest" || count === 1) {
    out[first]! += mass;
    return;
  }
  for (let a = first; a < arms.length; a++)
    if (arms[a]!.status === "active" && score[a] === best) out[a]! += mass / count;
}

/** Index of the max active score; exact ties: lowest index or uniform at random (rng). -1 if none active. */
export function argmaxIndex(
  arms: readonly ArmSlot[],
  score: ArrayLike<number>,
  ties: "split" | "lowest",
  rng?: Rng,
): number {
  let best = -Infinity;
  let arg = -1;
  let count = 0;
  for (let a = 0; a < arms.length; a++) {
    if (arms[a]!.status !== "active") continue;
    const s = score[a]!;
    if (arg < 0 || s > best) {
      best = s;
      arg = a;
      count = 1;
    } else if (s === best && ties === "split" && rng) {
      // Reservoir: each of the tied arms ends up chosen with probability 1/count.
      count++;
      if (rng.next() * count < 1) arg = a;
    }
  }
  return arg;
}

/** VW-style floor on an exact pmf over active arms (in place). Inactive arms are set to 0. */
export function applyFloor(p: Float64Array, arms: readonly ArmSlot[], floor: number): Float64Array {
  const K = arms.length;
  const m = activeCount(arms);
  for (let a = 0; a < K; a++) if (arms[a]!.status !== "active") p[a] = 0;
  if (m === 0 || floor <= 0) return p;
  if (floor * m >= 1) {
    for (let a = 0; a < K; a++) p[a] = arms[a]!.status === "active" ? 1 / m : 0;
    return p;
  }
  const atFloor = new Uint8Array(K);
  // Scaling the untouched arms down can push one of them under the floor: repeat until stable (≤ m rounds).
  for (;;) {
    let touched = 0;
    let untouched = 0;
    for (let a = 0; a < K; a++) {
      if (arms[a]!.status !== "active") continue;
      if (atFloor[a] || p[a]! <= floor) {
        atFloor[a] = 1;
        touched += floor;
      } else untouched += p[a]!;
    }
    if (touched === 0) return p;
    const ratio = (1 - touched) / untouched;
    let changed = false;
    for (let a = 0; a < K; a++) {
      if (arms[a]!.status !== "active") continue;
      if (atFloor[a]) p[a] = floor;
      else {
        p[a] = p[a]! * ratio;
        if (p[a]! <= floor) changed = true;
      }
    }
    if (!changed) return p;
  }
}

const MAX_WARNINGS = 20;

/** Records a numerical problem that was handled (see `BaseState.warnings`); keeps the latest 20. */
export function warn(state: BaseState, message: string): void {
  const w = (state.warnings ??= []);
  w.push(message);
  if (w.length > MAX_WARNINGS) w.splice(0, w.length - MAX_WARNINGS);
}

/**
 * The last line of defence at decision time: a pmf that is not a distribution (a NaN, a negative or
 * non-finite entry, a sum far from 1) becomes uniform over the active arms, with a warning — a decision never
 * throws because a model went bad. A proper pmf is returned untouched.
 */
export function sanePmf(state: BaseState, p: Float64Array): Float64Array {
  let sum = 0;
  for (let a = 0; a < p.length; a++) {
    const v = p[a]!;
    if (!(v >= -1e-9 && v <= 1 + 1e-3)) return uniformPmf(state, p);
    sum += v;
  }
  // The normal-argmax integration is exact to ~5e-4, so only a sum far from 1 means a broken model.
  return Math.abs(sum - 1) < 1e-2 ? p : uniformPmf(state, p);
}

/** Uniform over the active arms (in place), with a warning: what an ill-conditioned model serves. */
export function uniformPmf(state: BaseState, p: Float64Array): Float64Array {
  const m = activeCount(state.arms);
  if (m === 0) return p;
  for (let a = 0; a < p.length; a++) p[a] = state.arms[a]!.status === "active" ? 1 / m : 0;
  warn(state, "probabilities were not finite (ill-conditioned model): served uniformly");
  return p;
}

/** Draws an index from a pmf with one uniform; never returns an index of probability 0. */
export function sampleIndex(p: ArrayLike<number>, rng: Rng): number {
  const u = rng.next();
  let c = 0;
  let last = -1;
  for (let a = 0; a < p.length; a++) {
    const pa = p[a]!;
    if (pa <= 0) continue;
    c += pa;
    last = a;
    if (u < c) return a;
  }
  if (last < 0) throw new NoActiveArmsError();
  return last; // rounding: u ≥ Σp by < 1e-15
}

/**
 * The one way every strategy chooses: draw from its exact (floored) pmf and log that arm's probability,
 * so the propensity is by construction the probability the arm was drawn with.
 */
export function chooseFromPmf(p: ArrayLike<number>, rng: Rng): Choice {
  const arm = sampleIndex(p, rng);
  return { arm, propensity: p[arm]! };
}

/** Per-state memo of the pmf, valid while state.version is unchanged (context-free strategies). */
export class PmfCache<S extends BaseState> {
  private map = new WeakMap<S, { version: number; nArms: number; pmf: Float64Array }>();
  get(state: S, compute: () => Float64Array): Float64Array {
    const c = this.map.get(state);
    if (c && c.version === state.version && c.nArms === state.arms.length) return c.pmf;
    const pmf = compute();
    this.map.set(state, { version: state.version, nArms: state.arms.length, pmf });
    return pmf;
  }
}

/**
 * How many times select() has now been called on this state at its current version (1 on the first
 * call). Fast paths use it to pick the cheaper exact method: direct sampling for the first decision
 * after an update (online pattern), the cached pmf once decisions repeat on one state (batched pattern).
 */
const repeats = new WeakMap<BaseState, { version: number; nArms: number; n: number }>();
export function repeatCount(state: BaseState): number {
  const r = repeats.get(state);
  if (!r) {
    repeats.set(state, { version: state.version, nArms: state.arms.length, n: 1 });
    return 1;
  }
  if (r.version === state.version && r.nArms === state.arms.length) return ++r.n;
  // Reuse the record: this runs once per decision in the online pattern, so no allocation here.
  r.version = state.version;
  r.nArms = state.arms.length;
  r.n = 1;
  return 1;
}

/** Minimal structural check for fromJSON: the type tag and the base fields. */
export function checkBaseJSON(json: unknown, type: string): Record<string, unknown> {
  if (!json || typeof json !== "object") throw new StrategyParamError("state", "must be an object");
  const o = json as Record<string, unknown>;
  if (o.type !== type) throw new StrategyParamError("state.type", `expected "${type}", got ${JSON.stringify(o.type)}`);
  if (!Array.isArray(o.arms)) throw new StrategyParamError("state.arms", "must be an array");
  return o;
}

// Scratch for selectByNormalScores: reused across calls so the hot path allocates nothing.
let meanBuf = new Float64Array(0);
let sdBuf = new Float64Array(0);
let zBuf = new Float64Array(0);

/**
 * Thompson draw when each arm's sampled score is an independent normal N(m_a, s_a²) (lin_ts, logistic_ts):
 * `moments` fills m and s; the argmax of m_a + s_a·z_a over active arms is returned.
 */
export function selectByNormalScores(
  arms: readonly ArmSlot[],
  moments: (m: Float64Array, s: Float64Array) => void,
  rng: Rng,
): number {
  const K = arms.length;
  if (meanBuf.length < K) {
    meanBuf = new Float64Array(K);
    sdBuf = new Float64Array(K);
    zBuf = new Float64Array(K);
  }
  moments(meanBuf, sdBuf);
  normals(rng, zBuf, K);
  let best = -1;
  let bestV = -Infinity;
  for (let a = 0; a < K; a++) {
    if (arms[a]!.status !== "active") continue;
    const v = meanBuf[a]! + sdBuf[a]! * zBuf[a]!;
    // `best < 0`: a NaN score (an ill-conditioned model) still yields an arm, never a throw.
    if (v > bestV || best < 0) {
      bestV = v;
      best = a;
    }
  }
  return best >= 0 ? best : sampleIndex([], rng);
}

/**
 * Batch learning for strategies whose update is a per-row increment: the whole batch is validated first
 * (a bad row changes nothing), then each row is learned, and the version moves once.
 */
export function learnBatch<S extends BaseState>(
  state: S,
  arms: ArrayLike<number>,
  rewards: ArrayLike<number>,
  checkReward: (r: number) => void,
  learn: (state: S, arm: number, r: number) => void,
): void {
  if (arms.length !== rewards.length) throw new RangeError("arms and rewards differ in length");
  for (let i = 0; i < arms.length; i++) {
    checkArm(state, arms[i]!);
    checkReward(rewards[i]!);
  }
  for (let i = 0; i < arms.length; i++) learn(state, arms[i]!, rewards[i]!);
  state.version++;
}
