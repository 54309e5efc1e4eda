/**
 * The budget section of the campaign report (GET /v1/campaigns/{id}/report → `budget`) and of the
 * dashboard's campaign page: the status (view.ts), today's hours — planned against actual spend, from
 * the spend counters — and per arm spend against its caps, CPA / ROAS against the targets and the
 * guardrail's verdict.
 */
import type { LiveCampaign } from "../engine/campaign.ts";
import { HOUR_MS } from "../store/buckets.ts";
import type { Db } from "../store/db.ts";
import { readSpendByHour } from "../store/spend.ts";
import { spendOf } from "./ledger.ts";
import { plannedSpend, planShare } from "./pacing.ts";
import { armCapped } from "./serve.ts";
import { budgetStatus } from "./view.ts";

export async function budgetReport(db: Db, c: LiveCampaign, nowMs = Date.now()) {
  const l = c.budget;
  if (!l) return null;
  const keys = c.arms.map((a) => a.key);
  const status = budgetStatus(l, keys, nowMs);
  const { day } = l;
  const rows = await readSpendByHour(db, c.id, Math.floor(day.startMs / HOUR_MS), Math.ceil(day.endMs / HOUR_MS));
  const plan = l.config.dailyBudget !== null ? l.planAt(nowMs) : null;
  const B = l.config.dailyBudget;
  const hours: { start: string; planned: number | null; spend: number; requests: number; served: number }[] = [];
  for (let t = day.startMs; t < day.endMs; t += HOUR_MS) {
    const end = Math.min(day.endMs, t + HOUR_MS);
    const h = Math.floor(t / HOUR_MS);
    let spend = 0;
    let requests = 0;
    let served = 0;
    for (const r of rows)
      if (r.hour === h && r.day === day.day) {
        spend += r.decisionCost + r.eventCost;
        requests += r.requests;
        served += r.served;
      }
    const pacer = plan && B !== null && l.config.pacing ? l.pacerFor(nowMs) : null;
    const planned =
      B === null
        ? null
        : pacer && plan
          ? plannedSpend(pacer, plan, B, end) - plannedSpend(pacer, plan, B, t)
          : B * (plan ? planShare(plan, end) - planShare(plan, t) : (end - t) / (day.endMs - day.startMs));
    hours.push({ start: new Date(t).toISOString(), planned, spend, requests, served });
  }
  const verdicts = l.config.guardrail ? l.verdictsAt(nowMs, keys) : undefined;
  const arms = c.arms.map((a) => {
    const total = l.counts("total", a.key);
    const today = l.counts("today", a.key);
    const spend = spendOf(total);
    const v = verdicts?.get(a.key);
    return {
      armKey: a.key,
      totalBudget: a.totalBudget ?? null,
      dailyBudget: a.dailyBudget ?? null,
      spendTotal: spend,
      spendToday: spendOf(today),
      capped: armCapped(l, a.key, nowMs),
      served: total.served,
      conversions: total.conversions,
      revenue: total.revenue,
      cpa: total.conversions > 0 ? spend / total.conversions : null,
      roas: spend > 0 ? total.revenue / spend : null,
      pCpaAbove: v?.pCpaAbove ?? null,
      pRoasBelow: v?.pRoasBelow ?? null,
      demoted: v?.demoted ?? false,
    };
  });
  const all = l.counts("total");
  const spendAll = spendOf(all);
  return {
    ...status,
    targetCpa: l.config.guardrail?.targetCpa ?? null,
    minRoas: l.config.guardrail?.minRoas ?? null,
    cpa: all.conversions > 0 ? spendAll / all.conversions : null,
    roas: spendAll > 0 ? all.revenue / spendAll : null,
    requests: all.requests,
    served: all.served,
    notServed: all.requests - all.served,
    hours,
    arms,
  };
}
export type BudgetReport = NonNullable<Awaited<ReturnType<typeof budgetReport>>>;
