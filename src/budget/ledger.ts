/**
 * The spend ledger of one campaign, in memory on its live object (`LiveCampaign.budget`): what the
 * spend counters in the database said at the last read, plus this process's own increments since
 * (committed decisions and ingested events), plus its still-queued decisions — the same invariant as the
 * arm statistics ("memory = database + still queued"), kept for spend.
 *
 * Live traffic writes the rows of the recent hours (decisions are counted in the hour they are made,
 * events in the hour they occurred), so the ledger caches the rows of the last WINDOW_HOURS hours and
 * re-reads only those on refresh; older rows are folded into a base read once at load. An event dated
 * before the window (history sent late) is counted here at once by the replica that ingested it, by
 * the others at their next load of the campaign. What the re-read finds beyond
 * the cached rows was spent by other replicas: its rate (exponentially weighted) extrapolates their spend
 * since the last read, which is what keeps N replicas' overspend small (README: "Budgets").
 */
import { hourOf } from "../engine/buckets.ts";
import { SPEND_FIELDS, type SpendIncrement, type SpendRow } from "../store/spend.ts";
import { budgetDay, type BudgetDay } from "./day.ts";
import { GUARDRAIL_DEFAULTS, judgeArm, type ArmVerdict, type GuardrailParams } from "./guardrail.ts";
import { initialPacer, PACING_DEFAULTS, planDay, type PacerState, type PacingParams, type Plan } from "./pacing.ts";

export type Counts = Pick<SpendIncrement, (typeof SPEND_FIELDS)[number]>;
export const zeroCounts = (): Counts => ({
  requests: 0,
  served: 0,
  decisionCost: 0,
  eventCost: 0,
  conversions: 0,
  revenue: 0,
});
const addCounts = (t: Counts, d: Counts, sign = 1) => {
  for (const f of SPEND_FIELDS) t[f] += sign * d[f];
};
export const spendOf = (c: Counts) => c.decisionCost + c.eventCost;

/** Hours of rows kept and re-read (writes land in the current hour; the margin covers clock skew). */
export const WINDOW_HOURS = 3;

/** A campaign's budget settings, as the ledger uses them. */
export interface BudgetConfig {
  currency: string;
  totalBudget: number | null;
  dailyBudget: number | null;
  pacing: PacingParams | null;
  guardrail: GuardrailParams | null;
  /** Per-arm caps by arm key. */
  armCaps: Map<string, { totalBudget: number | null; dailyBudget: number | null }>;
}

export interface CampaignBudgetFields {
  currency: string;
  totalBudget: number | null;
  dailyBudget: number | null;
  pacing: Partial<PacingParams> | null;
  targetCpa: number | null;
  minRoas: number | null;
  guardrail: Partial<Omit<GuardrailParams, "targetCpa" | "minRoas">> | null;
}

export function budgetConfig(
  c: CampaignBudgetFields,
  arms: { key: string; totalBudget?: number | null; dailyBudget?: number | null }[],
): BudgetConfig {
  const armCaps = new Map<string, { totalBudget: number | null; dailyBudget: number | null }>();
  for (const a of arms)
    if (a.totalBudget != null || a.dailyBudget != null)
      armCaps.set(a.key, { totalBudget: a.totalBudget ?? null, dailyBudget: a.dailyBudget ?? null });
  const pacing =
    c.pacing?.mode && c.pacing.mode !== "none"
      ? ({ ...PACING_DEFAULTS, ...stripUndefined(c.pacing) } as PacingParams)
      : null;
  const guardrail =
    c.targetCpa != null || c.minRoas != null
      ? {
          ...GUARDRAIL_DEFAULTS,
          ...stripUndefined(c.guardrail ?? {}),
          targetCpa: c.targetCpa ?? null,
          minRoas: c.minRoas ?? null,
        }
      : null;
  return { currency: c.currency, totalBudget: c.totalBudget, dailyBudget: c.dailyBudget, pacing, guardrail, armCaps };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** True when the campaign has anything for the ledger to do. */
export const hasBudget = (b: BudgetConfig) =>
  b.totalBudget !== null || b.dailyBudget !== null || b.pacing !== null || b.guardrail !== null || b.armCaps.size > 0;

const rowKey = (armKey: string, day: string, hour: number) => `${armKey}\u0000${day}\u0000${hour}`;

export class BudgetLedger {
  /** The campaign has a budget, pacing, a guardrail or an arm cap (else decisions only count spend). */
  readonly active: boolean;
  day: BudgetDay;
  plan: Plan | null = null;
  pacer: PacerState | null = null;
  /** The state last written to pacer_states (or read from it): `pacer` differs after a step. */
  pacerStored: PacerState | null = null;
  /** Requests per local hour of day over the history days (traffic-shaped plans). */
  history: number[] = new Array<number>(24).fill(0);
  /** The history must be read again (a new budget day began). */
  historyStale = true;
  private windowStart: number;
  private rows = new Map<string, { armKey: string; day: string; hour: number; c: Counts }>();
  private all = new Map<string, Counts>();
  private today = new Map<string, Counts>();
  private pending = new Map<string, Counts>();
  private readAtMs: number;
  /** Other replicas' spend per ms, as last estimated. */
  othersRate = 0;
  private verdicts = new Map<string, ArmVerdict>();
  private verdictsAtMs = Number.NEGATIVE_INFINITY;
  /** Bumped by every change of the counts, so verdicts are recomputed only when something moved. */
  private changes = 0;
  private verdictsChanges = -1;
  /** When the campaign last answered budget_exhausted (for the view), and why. */
  exhausted: { atMs: number; scope: "total" | "daily" | "arms" } | null = null;

  constructor(
    readonly campaignId: string,
    readonly tz: string,
    public config: BudgetConfig,
    nowMs: number,
  ) {
    this.active = hasBudget(config);
    this.day = budgetDay(tz, nowMs);
    this.windowStart = hourOf(nowMs) - WINDOW_HOURS;
    this.readAtMs = nowMs;
  }

  /** The hour from which rows are re-read. */
  get fromHour(): number {
    return this.windowStart;
  }

  /** The first read: sums of the older rows (readSpendBase), the recent rows, the traffic history. */
  load(base: SpendRow[], recent: SpendRow[], nowMs: number): void {
    for (const b of base) {
      const m = b.day === "*" ? this.all : this.today;
      addCounts(this.get(m, b.armKey), b);
    }
    for (const r of recent) this.setRow(r);
    this.readAtMs = nowMs;
  }

  /** The traffic history of the plan (requests per UTC hour over the last days), folded by local hour. */
  setHistory(hourly: { hour: number; requests: number }[], localHourOf: (ms: number) => number): void {
    this.history = new Array<number>(24).fill(0);
    for (const h of hourly) this.history[localHourOf(h.hour * 3_600_000)]! += h.requests;
    this.historyStale = false;
    this.plan = null;
  }

  /** A re-read of the recent rows: what differs from the cache was written by other replicas. */
  refresh(recent: SpendRow[], nowMs: number): void {
    let others = 0;
    for (const r of recent) others += this.setRow(r);
    const dt = nowMs - this.readAtMs;
    if (dt > 0) {
      const rate = Math.max(0, others) / dt;
      const a = Math.min(1, dt / 10_000);
      this.othersRate = (1 - a) * this.othersRate + a * rate;
    }
    this.readAtMs = nowMs;
  }

  /** Sets a row to its stored value; returns the spend it added. */
  private setRow(r: SpendRow): number {
    if (r.hour < this.windowStart) return 0;
    const k = rowKey(r.armKey, r.day, r.hour);
    let row = this.rows.get(k);
    if (!row) this.rows.set(k, (row = { armKey: r.armKey, day: r.day, hour: r.hour, c: zeroCounts() }));
    const d = zeroCounts();
    for (const f of SPEND_FIELDS) d[f] = r[f] - row.c[f];
    this.addRow(row, d);
    return spendOf(d);
  }

  private addRow(row: { armKey: string; day: string; c: Counts }, d: Counts): void {
    this.changes++;
    addCounts(row.c, d);
    addCounts(this.get(this.all, row.armKey), d);
    if (row.day === this.day.day) addCounts(this.get(this.today, row.armKey), d);
  }

  private get(m: Map<string, Counts>, k: string): Counts {
    let c = m.get(k);
    if (!c) m.set(k, (c = zeroCounts()));
    return c;
  }

  /** Moves the day and the window to `nowMs`: a new budget day starts at zero. */
  advance(nowMs: number): void {
    if (nowMs >= this.day.endMs || nowMs < this.day.startMs) {
      this.day = budgetDay(this.tz, nowMs);
      this.today = new Map();
      for (const r of this.rows.values()) if (r.day === this.day.day) addCounts(this.get(this.today, r.armKey), r.c);
      this.plan = null;
      this.historyStale = true;
    }
    const start = hourOf(nowMs) - WINDOW_HOURS;
    if (start > this.windowStart) {
      // Rows that leave the window no longer change: their sums stay in `all` / `today`.
      for (const [k, r] of this.rows) if (r.hour < start) this.rows.delete(k);
      this.windowStart = start;
    }
  }

  /** The budget day of an instant (the current one without a time-zone look-up). */
  dayOf(ms: number): string {
    return ms >= this.day.startMs && ms < this.day.endMs ? this.day.day : budgetDay(this.tz, ms).day;
  }

  /** A decision counted at once, pending until its commit. */
  queue(inc: SpendIncrement): void {
    addCounts(this.get(this.pending, inc.armKey), inc);
  }

  /** After the decision's commit: counted as stored (ok), or taken back. */
  settle(inc: SpendIncrement, ok: boolean): void {
    addCounts(this.get(this.pending, inc.armKey), inc, -1);
    if (ok) this.committed(inc);
  }

  /** An increment this process committed (a decision, or an event's cost and conversion). */
  committed(inc: SpendIncrement): void {
    if (inc.hour < this.windowStart) {
      addCounts(this.get(this.all, inc.armKey), inc);
      if (inc.day === this.day.day) addCounts(this.get(this.today, inc.armKey), inc);
      return;
    }
    const k = rowKey(inc.armKey, inc.day, inc.hour);
    let row = this.rows.get(k);
    if (!row) this.rows.set(k, (row = { armKey: inc.armKey, day: inc.day, hour: inc.hour, c: zeroCounts() }));
    this.addRow(row, inc);
  }

  private sum(m: Map<string, Counts>, armKey?: string): Counts {
    const out = zeroCounts();
    if (armKey !== undefined) {
      const c = m.get(armKey);
      if (c) addCounts(out, c);
      const p = this.pending.get(armKey);
      if (p) addCounts(out, p);
      return out;
    }
    for (const c of m.values()) addCounts(out, c);
    for (const p of this.pending.values()) addCounts(out, p);
    return out;
  }

  /** Counts so far (stored + own + queued), of the campaign or one arm; `day`: today's only. */
  counts(scope: "total" | "today", armKey?: string): Counts {
    return this.sum(scope === "total" ? this.all : this.today, armKey);
  }

  /** What other replicas have probably spent since the last read (their rate × the time since). */
  othersSinceRead(nowMs: number): number {
    return this.othersRate * Math.max(0, nowMs - this.readAtMs);
  }

  /** Spend the budget checks use: counted + the extrapolation of other replicas'. */
  spend(scope: "total" | "today", nowMs: number, armKey?: string): number {
    const s = spendOf(this.counts(scope, armKey));
    return armKey === undefined ? s + this.othersSinceRead(nowMs) : s;
  }

  /** The guardrail's verdict per arm key: recomputed when the counts moved, at most every 100 ms. */
  verdictsAt(nowMs: number, armKeys: string[]): Map<string, ArmVerdict> {
    const g = this.config.guardrail;
    if (!g) return this.verdicts;
    const fresh = this.verdictsChanges === this.changes || nowMs - this.verdictsAtMs < 100;
    if (fresh && this.verdicts.size === armKeys.length) return this.verdicts;
    this.verdictsChanges = this.changes;
    const m = new Map<string, ArmVerdict>();
    for (const k of armKeys) {
      const c = this.counts("total", k);
      const was = this.verdicts.get(k)?.demoted ?? false;
      m.set(
        k,
        judgeArm({ served: c.served, spend: spendOf(c), conversions: c.conversions, revenue: c.revenue }, g, was),
      );
    }
    this.verdicts = m;
    this.verdictsAtMs = nowMs;
    return m;
  }

  /** The day's plan (rebuilt when the day or the history changed). */
  planAt(nowMs: number): Plan | null {
    const p = this.config.pacing;
    if (!p) return null;
    if (!this.plan || this.plan.day.day !== this.day.day) this.plan = planDay(this.tz, nowMs, p.mode, this.history);
    return this.plan;
  }

  /** The controller as stored (pacer_states): a reloaded or restarted replica resumes its throttle. */
  restorePacer(stored: PacerState | undefined): void {
    if (!stored) return;
    this.pacer = stored;
    this.pacerStored = stored;
  }

  /** Carries the controller and the queued decisions over to a reloaded ledger (newer than the stored one). */
  carryFrom(prev: BudgetLedger): void {
    this.pacer = prev.pacer;
    this.pacerStored = prev.pacerStored;
    this.othersRate = prev.othersRate;
    this.exhausted = prev.exhausted;
    this.verdicts = prev.verdicts;
    for (const [k, p] of prev.pending) addCounts(this.get(this.pending, k), p);
  }

  /** A fresh controller state for today. */
  pacerFor(nowMs: number): PacerState {
    if (!this.pacer) this.pacer = initialPacer(nowMs, this.day.day, this.spend("today", nowMs));
    return this.pacer;
  }
}
