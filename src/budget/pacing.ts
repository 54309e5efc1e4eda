/**
 * Pacing: how the daily budget is spread over the budget day (the plan), and the throttle controller
 * that keeps the spend on it. Pure — the clock, the spend and the traffic history are passed in.
 *
 * Plan. `even`: the budget in proportion to elapsed time. `traffic`: in proportion to the campaign's
 * own request curve by local hour of day, learned from the last `days` days of requests (every hour
 * gets a floor of 5 % of the mean hour, so an hour quiet in the history is not starved of budget; no
 * history: even). P(t) = B · W(t), W the cumulative share of the day (piecewise linear within each hour).
 *
 * Controller — adaptive pacing by dual descent (Balseiro & Gur 2019, "Learning in repeated auctions
 * with budgets: regret minimization and equilibrium"): a multiplier μ ≥ 0 on the budget constraint, the
 * serving probability (throttle) θ = 1 / (1 + μ). Every `intervalSeconds` the step's spend z is
 * compared with its target ρ — the remaining budget spread along the remaining plan,
 * ρ = (B − S) · (W(t) − W(t₀)) / (1 − W(t₀)), so being behind raises later targets (catch-up) and being
 * ahead lowers them — and the multiplier takes a mirror-descent step in log space (exponentiated
 * gradient): θ ← clip(θ · exp(−η (z − ρ) / max(z, ρ)), 1/(1 + μ_max), 1). The relative gap is bounded
 * by ±1, so one step moves θ by at most a factor e^{±η} whatever the burst; a plain additive step
 * (μ + η (z − ρ) / u) drove θ to the floor after one burst at a campaign's start and took thousands of
 * steps to recover. The served throttle is max(minThrottle, θ).
 */
import { budgetDay, localHour, type BudgetDay } from "./day.ts";

export type PacingMode = "none" | "even" | "traffic";

export interface PacingParams {
  mode: PacingMode;
  days: number;
  step: number;
  intervalSeconds: number;
  minThrottle: number;
}

export const PACING_DEFAULTS: Omit<PacingParams, "mode"> = {
  days: 7,
  step: 0.3,
  intervalSeconds: 60,
  minThrottle: 0.01,
};

export interface Plan {
  day: BudgetDay;
  /** Segments of the day (one per local hour), their share of the daily budget; shares sum to 1. */
  segments: { startMs: number; endMs: number; hour: number; share: number }[];
}

const STEP_MS = 15 * 60_000;

/**
 * The plan of the budget day containing `nowMs`. `hourly[h]`: requests seen in local hour h over the
 * history (traffic mode); ignored by `even`.
 */
export function planDay(tz: string, nowMs: number, mode: PacingMode, hourly?: ArrayLike<number>): Plan {
  const day = budgetDay(tz, nowMs);
  const segments: Plan["segments"] = [];
  for (let t = day.startMs; t < day.endMs; t += STEP_MS) {
    const end = Math.min(day.endMs, t + STEP_MS);
    const hour = localHour(tz, t);
    const last = segments[segments.length - 1];
    if (last && last.hour === hour && last.endMs === t) last.endMs = end;
    else segments.push({ startMs: t, endMs: end, hour, share: 0 });
  }
  const weights = hourWeights(mode, hourly);
  let total = 0;
  for (const s of segments) {
    s.share = weights[s.hour]! * (s.endMs - s.startMs);
    total += s.share;
  }
  for (const s of segments) s.share /= total;
  return { day, segments };
}

/** Weight per local hour: flat, or the request curve with a floor of 5 % of the mean hour. */
export function hourWeights(mode: PacingMode, hourly?: ArrayLike<number>): number[] {
  const flat = new Array<number>(24).fill(1);
  if (mode !== "traffic" || !hourly) return flat;
  let sum = 0;
  for (let h = 0; h < 24; h++) sum += Math.max(0, hourly[h] ?? 0);
  if (!(sum > 0)) return flat;
  const floor = (0.05 * sum) / 24;
  return flat.map((_, h) => Math.max(floor, hourly[h] ?? 0));
}

/** W(t): the share of the daily budget the plan has spent by `ms` (0 before the day, 1 after). */
export function planShare(plan: Plan, ms: number): number {
  let w = 0;
  for (const s of plan.segments) {
    if (ms >= s.endMs) w += s.share;
    else {
      if (ms > s.startMs) w += (s.share * (ms - s.startMs)) / (s.endMs - s.startMs);
      break;
    }
  }
  return Math.min(1, w);
}

export interface PacerState {
  /** The dual multiplier μ (throttle = 1 / (1 + μ)). */
  mu: number;
  /** When the last step ran, and the day's spend then. */
  lastMs: number;
  lastSpend: number;
  /** Spend per hour over the recent steps (exponentially weighted), for the projected exhaustion. */
  rate: number;
  day: string;
  /** Where today's pacing started (midnight, or when the campaign started pacing) and the spend then. */
  fromMs: number;
  fromSpend: number;
}

export function initialPacer(nowMs: number, day: string, spend: number): PacerState {
  return { mu: 0, lastMs: nowMs, lastSpend: spend, rate: 0, day, fromMs: nowMs, fromSpend: spend };
}

/**
 * What the plan has spent by `ms`: from where pacing started today, the rest of the budget along the
 * rest of the plan — B · W(t) for a day paced from midnight.
 */
export function plannedSpend(s: PacerState, plan: Plan, dailyBudget: number, ms: number): number {
  const w0 = planShare(plan, s.fromMs);
  if (ms <= s.fromMs || w0 >= 1) return Math.min(s.fromSpend, dailyBudget);
  return s.fromSpend + (Math.max(0, dailyBudget - s.fromSpend) * (planShare(plan, ms) - w0)) / (1 - w0);
}

export const throttleOf = (s: PacerState, p: Pick<PacingParams, "minThrottle">) =>
  Math.max(p.minThrottle, 1 / (1 + s.mu));

const MU_MAX = 1000;

/**
 * One controller step, if `intervalSeconds` have passed (else the state as it was). A new budget day
 * starts from the state's μ (yesterday's is a good first guess for today's), its spend from 0.
 */
export function stepPacer(
  state: PacerState,
  obs: { nowMs: number; spendToday: number; dailyBudget: number; plan: Plan },
  params: PacingParams,
): PacerState {
  const { nowMs, spendToday, dailyBudget, plan } = obs;
  if (state.day !== plan.day.day) {
    const from = Math.max(plan.day.startMs, Math.min(nowMs, state.lastMs));
    return { ...state, day: plan.day.day, lastMs: from, lastSpend: 0, fromMs: from, fromSpend: 0 };
  }
  const dt = nowMs - state.lastMs;
  if (dt < params.intervalSeconds * 1000) return state;
  const w0 = planShare(plan, state.lastMs);
  const w1 = planShare(plan, nowMs);
  const remainingShare = 1 - w0;
  const z = spendToday - state.lastSpend;
  const target = remainingShare > 1e-9 ? (Math.max(0, dailyBudget - state.lastSpend) * (w1 - w0)) / remainingShare : 0;
  // The relative gap, in [−1, 1]: a burst (or a silent step) moves the throttle by at most a factor
  // e^{±η}, so the controller neither starves the campaign for hours after one burst nor winds up.
  const unit = (dailyBudget * dt) / (plan.day.endMs - plan.day.startMs);
  const scale = Math.max(z, target, 0.01 * unit);
  const err = scale > 0 ? (z - target) / scale : 0;
  const theta = Math.min(1, Math.max(1 / (1 + MU_MAX), (1 / (1 + state.mu)) * Math.exp(-params.step * err)));
  const mu = 1 / theta - 1;
  const hourly = (z / dt) * 3_600_000;
  const a = Math.min(1, dt / 900_000);
  return {
    mu,
    lastMs: nowMs,
    lastSpend: spendToday,
    rate: state.rate === 0 ? hourly : (1 - a) * state.rate + a * hourly,
    day: state.day,
    fromMs: state.fromMs,
    fromSpend: state.fromSpend,
  };
}
