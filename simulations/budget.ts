/**
 * Budget and pacing simulations: a campaign with a daily budget over simulated days of day-part traffic,
 * run through the service's own budget code — the spend ledger (src/budget/ledger.ts), the pacing
 * controller (pacing.ts), the guardrail (guardrail.ts) and the one decision call (serve.ts
 * `chooseWithBudget`) — with no database in between: a decision is committed as soon as it is made,
 * the strategy learns at the end of every simulated minute (as the service learns between refreshes).
 *
 * Common random numbers: the traffic (requests per minute) and every request's conversion uniform are
 * drawn from the environment stream, identically for every pacing mode; the policy's draws come from its
 * own stream. So no pacing, even and traffic-shaped pacing are compared on the same days.
 *
 * Figures per day: spend, overspend (spend − budget, if positive), when the budget ran out, hourly spend
 * against the plan (tracking error = Σ_h |actual − planned| / budget; a violation = an hour outside the
 * band |actual − planned| ≤ 25 % of planned + 0.5 % of the budget), conversions, revenue, profit, CPA,
 * pseudo-regret in profit per served decision (Σ (μ* − μ_a), μ = rate · value − cost), and the served
 * share of arms whose true CPA is above the target.
 */
import { budgetConfig, BudgetLedger } from "../src/budget/ledger.ts";
import { localHour } from "../src/budget/day.ts";
import { planShare, type PacingMode } from "../src/budget/pacing.ts";
import { chooseWithBudget } from "../src/budget/serve.ts";
import { spendOfDecision } from "../src/budget/spend.ts";
import { hourOf } from "../src/engine/buckets.ts";
import { Mulberry32 } from "../strategies/rng.ts";
import { thompson } from "../strategies/thompson.ts";
import { deriveSeed } from "./random.ts";

export interface BudgetArm {
  key: string;
  /** Cost per served decision. */
  cost: number;
  /** Conversion probability per served decision. */
  rate: number;
  /** Value of a conversion. */
  value: number;
}

export interface BudgetScenario {
  name: string;
  seed: number;
  days: number;
  timezone: string;
  /** Expected requests per day. */
  requestsPerDay: number;
  /** Relative traffic per local hour (24 values). */
  dayPart: number[];
  dailyBudget: number;
  targetCpa?: number;
  arms: BudgetArm[];
  modes: PacingMode[];
  repetitions: number;
  /** First simulated instant (a local midnight is not required: the first day is partial otherwise). */
  startIso: string;
}

export interface HourFigure {
  hour: number;
  planned: number;
  actual: number;
  requests: number;
  served: number;
}

export interface DayFigures {
  day: string;
  spend: number;
  overspend: number;
  exhaustedAtHour: number | null;
  trackingError: number;
  violations: number;
  conversions: number;
  revenue: number;
  profit: number;
  cpa: number | null;
  regret: number;
  servedAboveTargetShare: number | null;
  hours: HourFigure[];
}

export interface RunFigures {
  mode: PacingMode;
  repetition: number;
  days: DayFigures[];
}

/** Band of an hour's spend around its plan: |actual − planned| ≤ 25 % of planned + 0.5 % of the budget. */
export const HOURLY_BAND = { relative: 0.25, ofBudget: 0.005 } as const;

function poisson(rng: Mulberry32, lambda: number): number {
  if (lambda > 50) {
    // Normal approximation (continuity-corrected) for large means.
    const u1 = Math.max(rng.next(), 1e-300);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rng.next());
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
  }
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= rng.next();
    if (p <= l) return k;
    k++;
  }
}

export function runBudget(s: BudgetScenario, mode: PacingMode, repetition: number): RunFigures {
  const env = new Mulberry32(deriveSeed(deriveSeed(s.seed, repetition), "environment"));
  const policy = new Mulberry32(deriveSeed(deriveSeed(s.seed, repetition), `policy:${mode}`));
  const keys = s.arms.map((a) => a.key);
  const state = thompson.init(keys, thompson.parseParams({}), 0);
  const arms = s.arms.map((a, i) => ({ key: a.key, status: "active", index: i }));
  const t0 = Date.parse(s.startIso);
  const cfg = budgetConfig(
    {
      currency: "USD",
      totalBudget: null,
      dailyBudget: s.dailyBudget,
      pacing: mode === "none" ? null : { mode },
      targetCpa: s.targetCpa ?? null,
      minRoas: null,
      guardrail: null,
    },
    [],
  );
  const ledger = new BudgetLedger("sim", s.timezone, cfg, t0);
  const campaign = { id: "sim", impl: thompson, state, arms, budget: ledger };
  const dayWeight = s.dayPart.reduce((x, y) => x + y, 0);
  const mu = s.arms.map((a) => a.rate * a.value - a.cost);
  const best = Math.max(...mu);
  const requestsByHour = new Map<number, number>();
  const days: DayFigures[] = [];
  let cur: DayFigures | null = null;
  let curDay = "";
  let aboveTarget = 0;
  let served = 0;
  const finishDay = () => {
    if (!cur) return;
    cur.profit = cur.revenue - cur.spend;
    cur.cpa = cur.conversions > 0 ? cur.spend / cur.conversions : null;
    cur.overspend = Math.max(0, cur.spend - s.dailyBudget);
    let err = 0;
    let viol = 0;
    for (const h of cur.hours) {
      err += Math.abs(h.actual - h.planned);
      if (Math.abs(h.actual - h.planned) > HOURLY_BAND.relative * h.planned + HOURLY_BAND.ofBudget * s.dailyBudget)
        viol++;
    }
    cur.trackingError = err / s.dailyBudget;
    cur.violations = viol;
    cur.servedAboveTargetShare = s.targetCpa !== undefined && served > 0 ? aboveTarget / served : null;
    days.push(cur);
  };
  const totalMinutes = s.days * 1440;
  const pendingArms: number[] = [];
  const pendingRewards: number[] = [];
  for (let m = 0; m < totalMinutes; m++) {
    const minuteMs = t0 + m * 60_000;
    ledger.advance(minuteMs);
    if (ledger.day.day !== curDay) {
      finishDay();
      curDay = ledger.day.day;
      aboveTarget = 0;
      served = 0;
      // The plan's traffic history: the requests of the simulated days so far (as the service reads them).
      ledger.setHistory(
        [...requestsByHour].map(([hour, requests]) => ({ hour, requests })),
        (ms) => localHour(s.timezone, ms),
      );
      const plan = planDayOf(ledger, minuteMs);
      cur = {
        day: curDay,
        spend: 0,
        overspend: 0,
        exhaustedAtHour: null,
        trackingError: 0,
        violations: 0,
        conversions: 0,
        revenue: 0,
        profit: 0,
        cpa: null,
        regret: 0,
        servedAboveTargetShare: null,
        hours: plan,
      };
    }
    const lh = localHour(s.timezone, minuteMs);
    const n = poisson(env, (s.requestsPerDay * s.dayPart[lh]!) / dayWeight / 60);
    const uniforms = new Float64Array(n);
    for (let i = 0; i < n; i++) uniforms[i] = env.next();
    const hourSlot = cur!.hours.find((h) => h.hour === lh)!;
    for (let i = 0; i < n; i++) {
      const now = minuteMs + Math.floor((i * 60_000) / n);
      const ch = chooseWithBudget(campaign, undefined, policy, now);
      const arm = ch.arm >= 0 ? s.arms[ch.arm]! : undefined;
      // The service's own spend accounting of a decision (queued in the ledger), settled as committed.
      const inc = spendOfDecision(campaign, arm, now)!;
      ledger.settle(inc, true);
      requestsByHour.set(hourOf(now), (requestsByHour.get(hourOf(now)) ?? 0) + 1);
      hourSlot.requests++;
      if (ch.reason === "budget_exhausted" && cur!.exhaustedAtHour === null)
        cur!.exhaustedAtHour = (now - ledger.day.startMs) / 3_600_000;
      if (!arm) continue;
      served++;
      hourSlot.served++;
      hourSlot.actual += arm.cost;
      cur!.spend += arm.cost;
      cur!.regret += best - mu[ch.arm]!;
      if (s.targetCpa !== undefined && arm.cost / arm.rate > s.targetCpa) aboveTarget++;
      const converted = uniforms[i]! < arm.rate;
      pendingArms.push(ch.arm);
      pendingRewards.push(converted ? 1 : 0);
      if (converted) {
        cur!.conversions++;
        cur!.revenue += arm.value;
        ledger.committed({ ...inc, requests: 0, served: 0, decisionCost: 0, conversions: 1, revenue: arm.value });
      }
    }
    if (pendingArms.length) {
      thompson.updateBatch(state, pendingArms, pendingRewards);
      pendingArms.length = 0;
      pendingRewards.length = 0;
    }
  }
  finishDay();
  return { mode, repetition, days };
}

/** The hours of the ledger's day with the planned spend of each (even for no pacing: what "on plan" means). */
function planDayOf(ledger: BudgetLedger, nowMs: number): HourFigure[] {
  const plan = ledger.planAt(nowMs);
  const B = ledger.config.dailyBudget ?? 0;
  const day = ledger.day;
  const out: HourFigure[] = [];
  for (let t = day.startMs; t < day.endMs; t += 3_600_000) {
    const end = Math.min(day.endMs, t + 3_600_000);
    const share = plan ? planShare(plan, end) - planShare(plan, t) : (end - t) / (day.endMs - day.startMs);
    out.push({ hour: localHour(ledger.tz, t), planned: B * share, actual: 0, requests: 0, served: 0 });
  }
  return out;
}

export interface BudgetComparison {
  scenario: BudgetScenario;
  runs: RunFigures[];
  /** Per mode: means over repetitions of the last day's figures. */
  summary: Record<string, Record<string, number | null>>;
}

const mean = (xs: (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

export function compareBudget(s: BudgetScenario): BudgetComparison {
  const runs: RunFigures[] = [];
  for (const mode of s.modes) for (let r = 0; r < s.repetitions; r++) runs.push(runBudget(s, mode, r));
  const summary: BudgetComparison["summary"] = {};
  for (const mode of s.modes) {
    const last = runs.filter((r) => r.mode === mode).map((r) => r.days[r.days.length - 1]!);
    summary[mode] = {
      spend: mean(last.map((d) => d.spend)),
      overspend: mean(last.map((d) => d.overspend)),
      exhaustedAtHour: mean(last.map((d) => d.exhaustedAtHour)),
      exhaustedRuns: last.filter((d) => d.exhaustedAtHour !== null).length,
      trackingError: mean(last.map((d) => d.trackingError)),
      violations: mean(last.map((d) => d.violations)),
      conversions: mean(last.map((d) => d.conversions)),
      profit: mean(last.map((d) => d.profit)),
      cpa: mean(last.map((d) => d.cpa)),
      regret: mean(last.map((d) => d.regret)),
      servedAboveTargetShare: mean(last.map((d) => d.servedAboveTargetShare)),
    };
  }
  return { scenario: s, runs, summary };
}
