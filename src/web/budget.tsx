/**
 * The budget section of the dashboard's campaign page: spend against the budgets, pacing status and
 * throttle, projected exhaustion, CPA / ROAS against target, planned vs actual spend through the budget
 * day (a chart), and per arm spend, caps and the guardrail's verdict. Everything from the report's
 * `budget` section (src/budget/report.ts), called through the API like every other figure.
 */
import type { BudgetReport } from "../budget/report.ts";
import { money, num, pct } from "./format.ts";
import { Chart, Head } from "./layout.tsx";

const STATUS: Record<string, string> = {
  unpaced: "not paced",
  on_plan: "on plan",
  ahead: "ahead of plan (throttled)",
  behind: "behind plan",
  exhausted: "budget exhausted",
};

export function BudgetSection(p: { budget: BudgetReport | null; nowMs?: number }) {
  const b = p.budget;
  if (
    !b ||
    (b.totalBudget === null &&
      b.dailyBudget === null &&
      b.targetCpa === null &&
      b.minRoas === null &&
      !b.arms.some((a) => a.totalBudget !== null || a.dailyBudget !== null))
  )
    return null;
  const now = p.nowMs ?? Date.now();
  let cp = 0;
  let ca = 0;
  const spec = {
    type: "line",
    labels: b.hours.map((h) => h.start),
    granularity: "hour",
    series: [
      { label: "planned (cumulative)", data: b.hours.map((h) => (cp += h.planned ?? 0)) },
      {
        label: "actual (cumulative)",
        data: b.hours.map((h) => {
          ca += h.spend;
          return Date.parse(h.start) <= now ? ca : null;
        }),
      },
    ],
    yLabel: `spend (${b.currency})`,
  };
  return (
    <section aria-labelledby="budget-h" id="budget" data-budget={b.pacingStatus}>
      <h2 id="budget-h">Budget and pacing</h2>
      <dl class="figures">
        {b.dailyBudget !== null && (
          <div>
            <dt>
              Today ({b.day}, {b.timezone})
            </dt>
            <dd data-figure="spend-today">
              {money(b.spendToday)} of {money(b.dailyBudget)} {b.currency}
            </dd>
          </div>
        )}
        {b.totalBudget !== null && (
          <div>
            <dt>Total</dt>
            <dd data-figure="spend-total">
              {money(b.spendTotal)} of {money(b.totalBudget)} {b.currency}
            </dd>
          </div>
        )}
        <div>
          <dt>Pacing</dt>
          <dd data-figure="pacing">
            {STATUS[b.pacingStatus] ?? b.pacingStatus}
            {b.plannedToday !== null && ` · plan by now ${money(b.plannedToday)}`}
          </dd>
        </div>
        <div>
          <dt>Serving probability</dt>
          <dd data-figure="throttle">{pct(b.throttle)}</dd>
        </div>
        <div>
          <dt>Runs out</dt>
          <dd data-figure="exhaustion">
            {b.exhausted
              ? `now (${b.exhausted} budget)`
              : b.projectedExhaustion
                ? new Date(b.projectedExhaustion).toUTCString()
                : "not today at the current rate"}
          </dd>
        </div>
        {b.targetCpa !== null && (
          <div>
            <dt>CPA (target {money(b.targetCpa)})</dt>
            <dd data-figure="cpa">{b.cpa === null ? "–" : money(b.cpa)}</dd>
          </div>
        )}
        {b.minRoas !== null && (
          <div>
            <dt>ROAS (minimum {num(b.minRoas)})</dt>
            <dd data-figure="roas">{b.roas === null ? "–" : num(b.roas)}</dd>
          </div>
        )}
        <div>
          <dt>Requests not served</dt>
          <dd>
            {num(b.notServed, 0)} of {num(b.requests, 0)}
          </dd>
        </div>
      </dl>
      {b.dailyBudget !== null && (
        <Chart id="budget-chart" label="Planned and actual spend through the day" spec={spec} />
      )}
      <div class="scroll">
        <table class="budget-arms">
          <caption class="sr">Per arm: spend, caps, CPA and ROAS against the targets, guardrail verdict</caption>
          <Head
            cols={[
              "Arm",
              "#Spend today",
              "#Spend total",
              "#Cap (day / total)",
              "#CPA",
              "#ROAS",
              "#P(CPA above target)",
              "Guardrail",
            ]}
          />
          <tbody>
            {b.arms.map((a) => (
              <tr data-budget-arm={a.armKey}>
                <th scope="row">{a.armKey}</th>
                <td class="n">{money(a.spendToday)}</td>
                <td class="n">{money(a.spendTotal)}</td>
                <td class="n">
                  {a.dailyBudget === null ? "–" : money(a.dailyBudget)} /{" "}
                  {a.totalBudget === null ? "–" : money(a.totalBudget)}
                  {a.capped && " (reached)"}
                </td>
                <td class="n">{a.cpa === null ? "–" : money(a.cpa)}</td>
                <td class="n">{a.roas === null ? "–" : num(a.roas)}</td>
                <td class="n">{a.pCpaAbove === null ? "–" : pct(a.pCpaAbove)}</td>
                <td data-col="guardrail">{a.demoted ? "exploration only" : "serving"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
