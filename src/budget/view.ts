/**
 * The budget status of a campaign as the API shows it (campaign view and report): spend against the
 * budgets, the pacing plan and throttle, the projected exhaustion, the guardrail's demoted arms.
 * Pure: the ledger and the clock in.
 */
import type { BudgetLedger } from "./ledger.ts";
import { plannedSpend, planShare, throttleOf } from "./pacing.ts";
import { exhaustedScope } from "./serve.ts";

/** Spend within this share of the plan is "on plan". */
export const ON_PLAN_BAND = 0.1;

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export function budgetStatus(l: BudgetLedger, armKeys: string[], nowMs: number) {
  l.advance(nowMs);
  const { totalBudget, dailyBudget, pacing, guardrail, currency } = l.config;
  const spendTotal = l.spend("total", nowMs);
  const spendToday = l.spend("today", nowMs);
  const plan = dailyBudget !== null ? l.planAt(nowMs) : null;
  const pacer = plan && dailyBudget !== null && pacing ? l.pacerFor(nowMs) : null;
  const plannedToday =
    plan && dailyBudget !== null
      ? pacer
        ? plannedSpend(pacer, plan, dailyBudget, nowMs)
        : dailyBudget * planShare(plan, nowMs)
      : null;
  const scope: "total" | "daily" | "arms" | null =
    exhaustedScope(l, nowMs) ?? (l.exhausted?.scope === "arms" && nowMs - l.exhausted.atMs < 60_000 ? "arms" : null);
  const throttle = pacing && l.pacer ? throttleOf(l.pacer, pacing) : 1;
  let pacingStatus: "unpaced" | "on_plan" | "ahead" | "behind" | "exhausted" = "unpaced";
  if (scope) pacingStatus = "exhausted";
  else if (plannedToday !== null && pacing) {
    const band = ON_PLAN_BAND * Math.max(plannedToday, (dailyBudget ?? 0) * 0.01);
    pacingStatus = spendToday > plannedToday + band ? "ahead" : spendToday < plannedToday - band ? "behind" : "on_plan";
  }
  // The recent spend rate: the controller's (paced), else today's average.
  const elapsedH = Math.max(1 / 60, (nowMs - l.day.startMs) / 3_600_000);
  const ratePerH = l.pacer && l.pacer.rate > 0 ? l.pacer.rate : spendToday / elapsedH;
  let projected: number | null = null;
  if (!scope && ratePerH > 0) {
    const candidates: number[] = [];
    if (dailyBudget !== null) candidates.push(nowMs + ((dailyBudget - spendToday) / ratePerH) * 3_600_000);
    if (totalBudget !== null) candidates.push(nowMs + ((totalBudget - spendTotal) / ratePerH) * 3_600_000);
    const t = candidates.length ? Math.min(...candidates) : Number.POSITIVE_INFINITY;
    // The daily budget renews at the end of the day: an exhaustion after it is no exhaustion today.
    if (Number.isFinite(t) && (totalBudget !== null || t < l.day.endMs)) projected = t;
  }
  const verdicts = guardrail ? l.verdictsAt(nowMs, armKeys) : undefined;
  return {
    currency,
    day: l.day.day,
    timezone: l.tz,
    totalBudget,
    dailyBudget,
    spendTotal: round(spendTotal),
    spendToday: round(spendToday),
    plannedToday: plannedToday === null ? null : round(plannedToday),
    throttle: round(throttle),
    pacingStatus,
    exhausted: scope,
    projectedExhaustion: projected === null ? null : new Date(projected).toISOString(),
    guardrail: guardrail
      ? {
          targetCpa: guardrail.targetCpa,
          minRoas: guardrail.minRoas,
          demotedArms: armKeys.filter((k) => verdicts?.get(k)?.demoted),
        }
      : null,
  };
}
export type BudgetStatus = ReturnType<typeof budgetStatus>;
